"""Axelrod's evolution of cooperation on a territory, with rule and LLM players, swappable and mixed."""

from mesa_llm.lab import ScenarioSpec
from mesa_llm_models.cooperation.agents import LLMPartnerPlayer, LLMPlayer, Player, RulePlayer, Situation
from mesa_llm_models.cooperation.game import PD_GRID_PAYOFFS, STRATEGIES, Move, Payoffs
from mesa_llm_models.cooperation.model import CooperationModel
from mesa_llm_models.cooperation.rule_backend import rule_following_backend, tit_for_tat_answer


def _rule_backend(parameters):
    """Imitating ALLC/ALLD players' chat model; it answers LLMPlayer and LLMPartnerPlayer prompts alike."""
    return rule_following_backend(
        parameters["ties"], parameters["update_every"], parameters["imitate_first"], parameters["update"]
    )


SCENARIO = ScenarioSpec(
    name="cooperation",
    model=CooperationModel,
    summary="Axelrod's evolution of cooperation: neighbours play the prisoner's dilemma, imitate the best.",
    metrics=("cooperation", "mean_payoff"),
    rule_backend=_rule_backend,
    app="mesa_llm_models.cooperation.app",
)

__all__ = [
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
    "rule_following_backend",
    "tit_for_tat_answer",
]
