"""Backends: resolving LangChain chat models, option scoring, the local model, test models.

The chat models, the local one (:class:`~mesa_llm.backends.local.LocalChatModel`) and the
test ones (:mod:`mesa_llm.backends.testing`), are exported here but imported on first use
(``from mesa_llm.backends import LocalChatModel``): they subclass LangChain's
``BaseChatModel``, whose import takes a while, so ``import mesa_llm`` and a run without a
backend do not pay for it. The local model runs with the ``[local]`` extra installed. The
embedded models it runs (:data:`EMBEDDED`: SmolLM2 with ``[local]``, Gemma 3 with
``[local-more]``) are described without importing llama.cpp or their weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesa_llm.backends.embedded import EMBEDDED, EmbeddedModel
from mesa_llm.backends.errors import BackendError
from mesa_llm.backends.resolve import (
    DEFAULT_BACKEND,
    LOCAL_SETTINGS,
    RULE_BACKEND,
    backend_identity,
    backend_name,
    is_chat_model,
    resolve_backend,
)
from mesa_llm.backends.scoring import OptionScorer, OptionScores
from mesa_llm.lazy import lazy_exports

if TYPE_CHECKING:
    from mesa_llm.backends.local import LocalChatModel
    from mesa_llm.backends.testing import (
        FaultyChatModel,
        FunctionChatModel,
        ScoringChatModel,
        ScriptedChatModel,
    )

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
    "is_chat_model",
    "resolve_backend",
]

# The chat models subclass LangChain's BaseChatModel: imported when first asked for (PEP 562).
_EXPORTS = {
    "local": ("LocalChatModel",),
    "testing": ("FaultyChatModel", "FunctionChatModel", "ScoringChatModel", "ScriptedChatModel"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
