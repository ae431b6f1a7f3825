"""Conway's Game of Life (and any Life-like rule) with rule and LLM cells, swappable and mixed."""

from mesa_llm.lab import Outcome, ScenarioSpec
from mesa_llm_models.life.agents import OBSERVATIONS, CellState, LifeCell, LLMCell, NextState, RuleCell
from mesa_llm_models.life.calibration import TABLE_PROBE, LifeTableFit, fit_rule_table
from mesa_llm_models.life.framings import FRAMINGS
from mesa_llm_models.life.model import LifeModel, check_parameters
from mesa_llm_models.life.patterns import GLIDER, GLIDER_PHASES, glider_at, translation
from mesa_llm_models.life.rule_backend import (
    LifeRuleAnswer,
    LifeTableScores,
    rule_backend_of,
    rule_following_backend,
)
from mesa_llm_models.life.rules import CONWAY, HIGHLIFE, LifeRule, RuleTable

SCENARIO = ScenarioSpec(
    name="life",
    model=LifeModel,
    summary="Conway's Game of Life: cells live or die by how many of their 8 neighbours are alive.",
    metrics=("alive",),
    rule_backend=rule_backend_of,
    app="mesa_llm_models.life.app",
    outcomes=(
        Outcome("alive", margin=0.02, last=10, description="share of the cells that are alive"),
        Outcome(
            "glider",
            margin=0.1,
            last=10,
            description="share of steps on which the glider is intact where rule cells would put it "
            "(start='glider' only; NaN otherwise)",
        ),
    ),
    check=check_parameters,
    probes=(TABLE_PROBE,),
)

__all__ = [
    "CONWAY",
    "FRAMINGS",
    "GLIDER",
    "GLIDER_PHASES",
    "HIGHLIFE",
    "OBSERVATIONS",
    "SCENARIO",
    "TABLE_PROBE",
    "CellState",
    "LLMCell",
    "LifeCell",
    "LifeModel",
    "LifeRule",
    "LifeRuleAnswer",
    "LifeTableFit",
    "LifeTableScores",
    "NextState",
    "RuleCell",
    "RuleTable",
    "check_parameters",
    "fit_rule_table",
    "glider_at",
    "rule_backend_of",
    "rule_following_backend",
    "translation",
]
