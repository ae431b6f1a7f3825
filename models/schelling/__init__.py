"""Schelling's segregation model with rule and LLM residents, swappable and mixed."""

from mesa_llm.scenarios import ScenarioSpec
from models.schelling.agents import (
    LLMResident,
    Neighbourhood,
    Resident,
    RuleResident,
    rule_following_backend,
)
from models.schelling.model import SchellingModel


def _rule_backend(parameters):
    return rule_following_backend(parameters["homophily"])


SCENARIO = ScenarioSpec(
    name="schelling",
    model=SchellingModel,
    summary="Schelling's segregation: residents stay or move by how many neighbours share their group.",
    metrics=("pct_happy", "segregation", "moves"),
    rule_backend=_rule_backend,
    app="models.schelling.app",
)

__all__ = [
    "SCENARIO",
    "LLMResident",
    "Neighbourhood",
    "Resident",
    "RuleResident",
    "SchellingModel",
    "rule_following_backend",
]
