"""Backends: resolving LangChain chat models, option scoring, the local model, test models.

The local model, :class:`~mesa_llm.backends.local.LocalChatModel`, is exported here but
imported on first use (``from mesa_llm.backends import LocalChatModel``), so that
``import mesa_llm`` does not pay for it; it runs with the ``[local]`` extra installed. The
embedded models it runs (:data:`EMBEDDED`: SmolLM2 with ``[local]``, Gemma 3 with
``[local-more]``) are described without importing llama.cpp or their weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mesa_llm.backends.embedded import EMBEDDED, EmbeddedModel
from mesa_llm.backends.errors import BackendError
from mesa_llm.backends.resolve import (
    DEFAULT_BACKEND,
    LOCAL_SETTINGS,
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

if TYPE_CHECKING:
    from mesa_llm.backends.local import LocalChatModel

__all__ = [
    "DEFAULT_BACKEND",
    "EMBEDDED",
    "LOCAL_SETTINGS",
    "RULE_BACKEND",
    "BackendError",
    "EmbeddedModel",
    "FaultyChatModel",
    "FunctionChatModel",
    "LocalChatModel",
    "OptionScorer",
    "OptionScores",
    "ScoringChatModel",
    "ScriptedChatModel",
    "backend_identity",
    "backend_name",
    "resolve_backend",
]


def __getattr__(name: str) -> Any:
    """``LocalChatModel``, imported when first asked for."""
    if name == "LocalChatModel":
        from mesa_llm.backends.local import LocalChatModel

        return LocalChatModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
