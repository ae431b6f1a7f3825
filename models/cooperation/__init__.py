"""Axelrod's evolution of cooperation on a territory, with rule and LLM players, swappable and mixed."""

from mesa_llm.lab import Outcome, ScenarioSpec
from mesa_llm_models.cooperation.agents import LLMPlayer, Player, RulePlayer, Situation
from mesa_llm_models.cooperation.calibration import IMITATION_PROBE, MEMORY_ONE_PROBE
from mesa_llm_models.cooperation.framings import EACH_MOVE, ONE_MOVE
from mesa_llm_models.cooperation.game import PD_GRID_PAYOFFS, STRATEGIES, Move, Payoffs
from mesa_llm_models.cooperation.model import CooperationModel, check_parameters
from mesa_llm_models.cooperation.partners import LLMPartnerPlayer
from mesa_llm_models.cooperation.rule_backend import (
    TitForTatAnswer,
    rule_following_backend,
    tit_for_tat_answer,
)


def _rule_backend(parameters):
    """Imitating ALLC/ALLD players' chat model; it answers LLMPlayer and LLMPartnerPlayer prompts alike."""
    return rule_following_backend(
        parameters["ties"],
        parameters["update_every"],
        parameters["imitate_first"],
        parameters["update"],
        parameters.get("framing", "neutral"),
        parameters.get("framings"),
    )


SCENARIO = ScenarioSpec(
    name="cooperation",
    model=CooperationModel,
    summary="Axelrod's evolution of cooperation: neighbours play the prisoner's dilemma, imitate the best.",
    metrics=("cooperation", "mean_payoff"),
    rule_backend=_rule_backend,
    app="mesa_llm_models.cooperation.app",
    outcomes=(
        Outcome(
            "cooperation", margin=0.05, last=10, description="share of this round's moves that cooperate"
        ),
        # 5% of what full cooperation pays a player with 8 neighbours at the default payoffs
        # (8 x R = 8.0), the payoff counterpart of the 5 points of cooperation: there a change
        # of 0.05 in cooperation moves the mean payoff by 8 x (1.6 - 1.2 c) x 0.05 = 0.16 to 0.64.
        Outcome(
            "mean_payoff",
            margin=0.4,
            last=10,
            description="mean payoff of a player in a round, summed over its games (8.0 for all "
            "cooperating on a Moore grid at PdGrid's payoffs)",
        ),
    ),
    check=check_parameters,
    probes=(MEMORY_ONE_PROBE, IMITATION_PROBE),
)

__all__ = [
    "EACH_MOVE",
    "ONE_MOVE",
    "PD_GRID_PAYOFFS",
    "SCENARIO",
    "STRATEGIES",
    "CooperationModel",
    "LLMPartnerPlayer",
    "LLMPlayer",
    "Move",
    "Payoffs",
    "Player",
    "RulePlayer",
    "Situation",
    "TitForTatAnswer",
    "check_parameters",
    "rule_following_backend",
    "tit_for_tat_answer",
]
