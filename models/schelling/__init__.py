"""Schelling's segregation model with rule and LLM residents, swappable and mixed."""

from mesa_llm.lab import ScenarioSpec
from mesa_llm_models.schelling.agents import LLMResident, Neighbourhood, Resident, RuleResident
from mesa_llm_models.schelling.model import SchellingModel
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer, rule_following_backend


def _rule_backend(parameters):
    return rule_following_backend(parameters["homophily"])


SCENARIO = ScenarioSpec(
    name="schelling",
    model=SchellingModel,
    summary="Schelling's segregation: residents stay or move by how many neighbours share their group.",
    metrics=("pct_happy", "segregation", "moves"),
    rule_backend=_rule_backend,
    app="mesa_llm_models.schelling.app",
)

__all__ = [
    "SCENARIO",
    "LLMResident",
    "Neighbourhood",
    "Resident",
    "RuleResident",
    "SchellingModel",
    "SchellingRuleAnswer",
    "rule_following_backend",
]
