"""mesa_llm: Mesa agents that decide with a language model, side by side with rule agents.

The decision seam (``observe`` -> ``decide`` -> ``act``) is shared by rule and LLM agents;
:class:`LLMRuntime` runs the LLM decisions of a step concurrently, with retries,
fallbacks, a response cache and a record of every call. This package is the engine; the
application layer (:mod:`mesa_llm.lab`), the dashboards (:mod:`mesa_llm.viz`) and the
command line (:mod:`mesa_llm.cli`) sit on it.
"""

import logging
from typing import TYPE_CHECKING

from mesa_llm.lazy import lazy_exports

if TYPE_CHECKING:
    from mesa_llm.actions import ANSWER_MODES, ActionParseError, ActionSpace, AnswerMode
    from mesa_llm.agent import LLMAgent, LLMCellAgent, LLMDecider
    from mesa_llm.backends import (
        BackendError,
        FaultyChatModel,
        FunctionChatModel,
        OptionScorer,
        ScoringChatModel,
        ScriptedChatModel,
        resolve_backend,
    )
    from mesa_llm.cache import CacheError, InMemoryCache, SQLiteCache
    from mesa_llm.decider import Decider, ModelDecider
    from mesa_llm.populations import by_population, choose_llm, per_population
    from mesa_llm.prompts import PromptTemplate
    from mesa_llm.records import CallLog, CallRecord
    from mesa_llm.runtime import LLMRuntime

__all__ = [
    "ANSWER_MODES",
    "ActionParseError",
    "ActionSpace",
    "AnswerMode",
    "BackendError",
    "CacheError",
    "CallLog",
    "CallRecord",
    "Decider",
    "FaultyChatModel",
    "FunctionChatModel",
    "InMemoryCache",
    "LLMAgent",
    "LLMCellAgent",
    "LLMDecider",
    "LLMRuntime",
    "ModelDecider",
    "OptionScorer",
    "PromptTemplate",
    "SQLiteCache",
    "ScoringChatModel",
    "ScriptedChatModel",
    "by_population",
    "choose_llm",
    "per_population",
    "resolve_backend",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())


# Every public name is imported from its module when first asked for (PEP 562): LangChain,
# the runtime and the agents take a while to import, and a program needs them only once it
# builds agents or a backend. The names of each module, by module:
_EXPORTS = {
    "actions": ("ANSWER_MODES", "ActionParseError", "ActionSpace", "AnswerMode"),
    "agent": ("LLMAgent", "LLMCellAgent", "LLMDecider"),
    "backends": (
        "BackendError",
        "FaultyChatModel",
        "FunctionChatModel",
        "OptionScorer",
        "ScoringChatModel",
        "ScriptedChatModel",
        "resolve_backend",
    ),
    "cache": ("CacheError", "InMemoryCache", "SQLiteCache"),
    "decider": ("Decider", "ModelDecider"),
    "populations": ("by_population", "choose_llm", "per_population"),
    "prompts": ("PromptTemplate",),
    "records": ("CallLog", "CallRecord"),
    "runtime": ("LLMRuntime",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
