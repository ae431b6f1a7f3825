"""Information diffusion in a small town: Generative Agents' party, beside contagion baselines."""

from mesa_llm.lab import Outcome, ScenarioSpec
from mesa_llm_models.diffusion.agents import (
    HourSpaces,
    LLMResident,
    Resident,
    RuleResident,
    Situation,
    cascade_choice,
)
from mesa_llm_models.diffusion.calibration import CASCADE_PROBE, CascadeFit, fit_cascade
from mesa_llm_models.diffusion.framings import FRAMINGS
from mesa_llm_models.diffusion.metrics import INTERVIEW_COLUMNS, Interviews
from mesa_llm_models.diffusion.model import (
    DEFAULT_QUESTION,
    DiffusionModel,
    check_parameters,
    rule_backend_of,
)
from mesa_llm_models.diffusion.news import Claims, claims_of, news_sentence, states_event
from mesa_llm_models.diffusion.outputs import run_steps, write_outputs
from mesa_llm_models.diffusion.rule_backend import CascadeAnswers, rule_following_backend
from mesa_llm_models.diffusion.talk import Answer, Conversation, DayPlan, Line, PlanChange, Utterance
from mesa_llm_models.diffusion.town import Event, Persona, Place, Town, load_town

SCENARIO = ScenarioSpec(
    name="diffusion",
    model=DiffusionModel,
    summary="News of a party spreads through a small town by conversation (Park et al. 2023).",
    metrics=("informed", "density", "attended"),
    rule_backend=rule_backend_of,
    app="mesa_llm_models.diffusion.app",
    outcomes=(
        Outcome(
            "informed", margin=0.1, last=1, description="share of residents who know of the event at the end"
        ),
        Outcome(
            "attended", margin=0.1, last=1, description="share of residents other than the host who came"
        ),
        Outcome("density", margin=0.05, last=1, description="pairs acquainted or who talked, over all pairs"),
    ),
    check=check_parameters,
    outputs=write_outputs,
    steps_of=run_steps,
    probes=(CASCADE_PROBE,),
)

__all__ = [
    "CASCADE_PROBE",
    "DEFAULT_QUESTION",
    "FRAMINGS",
    "INTERVIEW_COLUMNS",
    "SCENARIO",
    "Answer",
    "CascadeAnswers",
    "CascadeFit",
    "Claims",
    "Conversation",
    "DayPlan",
    "DiffusionModel",
    "Event",
    "HourSpaces",
    "Interviews",
    "LLMResident",
    "Line",
    "Persona",
    "Place",
    "PlanChange",
    "Resident",
    "RuleResident",
    "Situation",
    "Town",
    "Utterance",
    "cascade_choice",
    "check_parameters",
    "claims_of",
    "fit_cascade",
    "load_town",
    "news_sentence",
    "rule_backend_of",
    "rule_following_backend",
    "states_event",
]
