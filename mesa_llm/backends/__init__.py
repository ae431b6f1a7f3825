"""Backends: resolving LangChain chat models, option scoring, the local model, test models.

The embedded local model lives in :mod:`mesa_llm.backends.local` (imported on first use,
as it needs the ``[local]`` extra).
"""

from mesa_llm.backends.errors import BackendError
from mesa_llm.backends.resolve import (
    DEFAULT_BACKEND,
    RULE_BACKEND,
    backend_identity,
    backend_name,
    resolve_backend,
)
from mesa_llm.backends.scoring import OptionScorer, OptionScores
from mesa_llm.backends.testing import (
    FaultyChatModel,
    FunctionChatModel,
    ScoringChatModel,
    ScriptedChatModel,
)

__all__ = [
    "DEFAULT_BACKEND",
    "RULE_BACKEND",
    "BackendError",
    "FaultyChatModel",
    "FunctionChatModel",
    "OptionScorer",
    "OptionScores",
    "ScoringChatModel",
    "ScriptedChatModel",
    "backend_identity",
    "backend_name",
    "resolve_backend",
]
