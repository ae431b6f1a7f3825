"""Schelling's segregation model with rule and LLM residents, swappable and mixed."""

from mesa_llm.lab import Outcome, ScenarioSpec
from mesa_llm_models.schelling.agents import LLMResident, Neighbourhood, Resident, RuleResident
from mesa_llm_models.schelling.calibration import THRESHOLD_PROBE
from mesa_llm_models.schelling.framings import FRAMINGS
from mesa_llm_models.schelling.model import SchellingModel, check_parameters
from mesa_llm_models.schelling.rule_backend import (
    SchellingRuleAnswer,
    rule_backend_of,
    rule_following_backend,
)

SCENARIO = ScenarioSpec(
    name="schelling",
    model=SchellingModel,
    summary="Schelling's segregation: residents stay or move by how many neighbours share their group.",
    metrics=("pct_happy", "segregation", "moves"),
    rule_backend=rule_backend_of,
    app="mesa_llm_models.schelling.app",
    outcomes=(
        Outcome(
            "segregation",
            margin=0.05,
            last=10,
            description="mean share of own-group residents among a resident's occupied neighbouring cells",
        ),
        Outcome("pct_happy", margin=5.0, last=10, description="percentage of residents who are happy"),
    ),
    check=check_parameters,
    probes=(THRESHOLD_PROBE,),
)

__all__ = [
    "FRAMINGS",
    "SCENARIO",
    "LLMResident",
    "Neighbourhood",
    "Resident",
    "RuleResident",
    "SchellingModel",
    "SchellingRuleAnswer",
    "check_parameters",
    "rule_following_backend",
]
