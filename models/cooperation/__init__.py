"""Axelrod's evolution of cooperation on a territory, with rule and LLM players, swappable and mixed."""

from mesa_llm.scenarios import ScenarioSpec
from models.cooperation.agents import (
    STRATEGIES,
    LLMPartnerPlayer,
    LLMPlayer,
    Move,
    Player,
    RulePlayer,
    Situation,
    rule_following_backend,
    tit_for_tat_answer,
)
from models.cooperation.model import CooperationModel, Payoffs


def _rule_backend(parameters):
    return rule_following_backend(parameters["ties"], parameters["update_every"], parameters["imitate_first"])


SCENARIO = ScenarioSpec(
    name="cooperation",
    model=CooperationModel,
    summary="Axelrod's evolution of cooperation: neighbours play the prisoner's dilemma, imitate the best.",
    metrics=("cooperation", "mean_payoff"),
    rule_backend=_rule_backend,
    app="models.cooperation.app",
)

__all__ = [
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
