"""Schelling's segregation model with rule and LLM residents, swappable and mixed."""

from models.schelling.agents import (
    LLMResident,
    Neighbourhood,
    Resident,
    RuleResident,
    rule_following_backend,
)
from models.schelling.model import SchellingModel

__all__ = [
    "LLMResident",
    "Neighbourhood",
    "Resident",
    "RuleResident",
    "SchellingModel",
    "rule_following_backend",
]
