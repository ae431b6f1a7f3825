"""Backends: resolving LangChain chat models, and deterministic chat models for tests."""

from mesa_llm.backends.resolve import BackendError, backend_identity, backend_name, resolve_backend
from mesa_llm.backends.testing import FaultyChatModel, FunctionChatModel, ScriptedChatModel

__all__ = [
    "BackendError",
    "FaultyChatModel",
    "FunctionChatModel",
    "ScriptedChatModel",
    "backend_identity",
    "backend_name",
    "resolve_backend",
]
