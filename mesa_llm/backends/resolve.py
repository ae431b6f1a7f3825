"""Resolving a backend: any LangChain chat model, or a ``"provider:model"`` string."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any, Final, TypeGuard

from mesa_llm.backends.errors import BackendError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "DEFAULT_BACKEND",
    "RULE_BACKEND",
    "BackendError",
    "backend_identity",
    "backend_name",
    "is_chat_model",
    "resolve_backend",
]

DEFAULT_BACKEND: Final = "local"
"""The backend of LLM agents that are given none: the embedded local model."""

RULE_BACKEND: Final = "rule"
"""The backend string that asks a scenario for its rule-following chat model."""

# How to name a backend, for error messages.
_NAMING = (
    "Name it as 'local' (the embedded model) or 'provider:model', such as 'openai:gpt-4o-mini' "
    "or 'ollama:llama3.2'; 'local:gemma3' is another embedded model ('mesa-llm backends' lists them)."
)

# The settings of LocalChatModel that a backend string can give ("local,n_threads=1"): its
# numbers, and the prompt format of a file of one's own.
LOCAL_SETTINGS: Final = (
    "n_threads",
    "n_parallel",
    "temperature",
    "seed",
    "top_p",
    "top_k",
    "repeat_penalty",
    "max_tokens",
    "n_ctx",
    "prompt_format",
)

# Environment variables read by the most common providers, for error messages.
_KEY_VARIABLES = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
    "google_genai": "GOOGLE_API_KEY",
    "mistralai": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "together": "TOGETHER_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "xai": "XAI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}


def resolve_backend(backend: BaseChatModel | str, **kwargs: Any) -> BaseChatModel:
    """Return the chat model that ``backend`` names.

    Args:
        backend: a LangChain ``BaseChatModel`` (returned as is); ``"local"`` for the
            embedded local model (:class:`~mesa_llm.backends.local.LocalChatModel`, SmolLM2),
            ``"local:NAME"`` for an embedded model by name (``"local:smollm2"``,
            ``"local:gemma3"``; :data:`~mesa_llm.backends.embedded.EMBEDDED`), or
            ``"local:PATH"`` for a GGUF file of one's own run the same way (a path contains
            ``/`` or ends in ``.gguf``), each followed by settings of the model as
            ``,name=value`` (``"local:gemma3,n_threads=1,temperature=0.7"``; the names are
            :data:`LOCAL_SETTINGS`); or a string for LangChain's ``init_chat_model``, such
            as ``"openai:gpt-4o-mini"`` or ``"ollama:llama3.2"``.
        **kwargs: settings passed to the model (``temperature=0``, ...). Unless they
            set ``max_retries``, a provider's client that retries on its own is given
            ``max_retries=0``: the runtime retries, with backoff, and counts every attempt.

    Raises:
        BackendError: for anything that is neither a chat model nor a string, an empty
            string or one naming no model, an unknown provider, a missing provider
            package or a missing API key, an unknown embedded model, an unknown or bad
            setting of the local model, with the fix in the message.

    """
    if is_chat_model(backend):
        return backend
    if not isinstance(backend, str):
        raise BackendError(
            f"backend must be a LangChain BaseChatModel or a string naming one, got "
            f"{type(backend).__name__} {backend!r}. {_NAMING}"
        )
    if not backend.strip() or backend.endswith(":"):
        raise BackendError(f"The backend {backend!r} names no model. {_NAMING}")
    if backend == RULE_BACKEND:
        raise BackendError(
            "'rule' is a scenario's rule-following chat model, not a provider: pass "
            "backend='rule' to the scenario's model (SchellingModel(backend='rule', ...)), or "
            "get it with mesa_llm.lab.rule_backend('schelling', homophily=0.3)."
        )
    if re.match(r"local(?:$|[:,])", backend):
        return _local_model(backend, kwargs)
    from langchain.chat_models import init_chat_model

    provider = backend.split(":", 1)[0] if ":" in backend else None
    try:
        model = init_chat_model(backend, **kwargs)
    except ImportError as exc:
        raise BackendError(f"Backend {backend!r} needs its provider package: {exc}") from exc
    except ValueError as exc:
        if "provider" in str(exc):
            raise BackendError(
                f"Unknown backend {backend!r}. Name it as 'provider:model', for example "
                f"'openai:gpt-4o-mini' or 'ollama:llama3.2'. {exc}"
            ) from exc
        raise _construction_error(backend, provider, exc) from exc
    except Exception as exc:  # a provider client refusing to start, e.g. without a key
        raise _construction_error(backend, provider, exc) from exc
    if not is_chat_model(model):  # init_chat_model's configurable stand-in
        raise BackendError(f"The backend {backend!r} names no model. {_NAMING}")
    if "max_retries" not in kwargs and "max_retries" in type(model).model_fields and model.max_retries != 0:
        # The runtime retries (with backoff, counting every attempt): client retries would multiply.
        model = init_chat_model(backend, **kwargs, max_retries=0)
    return model


def is_chat_model(value: object) -> TypeGuard[BaseChatModel]:
    """Whether ``value`` is a LangChain ``BaseChatModel``, without importing LangChain.

    No chat model exists before the LangChain module that defines ``BaseChatModel`` has
    been imported, so while that module is not loaded the answer is ``False``, and a run
    without a backend never pays for importing LangChain's chat models.
    """
    module = sys.modules.get("langchain_core.language_models.chat_models")
    return module is not None and isinstance(value, module.BaseChatModel)


def _local_model(backend: str, kwargs: dict[str, Any]) -> BaseChatModel:
    """The local model of ``"local[:NAME|:PATH][,name=value...]"``, with ``kwargs`` as further settings.

    Raises:
        BackendError: for an unknown embedded model, or a setting that is malformed,
            unknown, given twice or out of range.
    """
    from pydantic import ValidationError

    from mesa_llm.backends.local import LocalChatModel

    location, _, listed = backend.removeprefix("local").partition(",")
    settings: dict[str, Any] = {}
    for item in listed.split(",") if listed else []:
        name, equals, value = item.partition("=")
        if not equals or name not in LOCAL_SETTINGS:
            raise BackendError(
                f"{item!r} in the backend {backend!r} is not a setting of the local model: write them as "
                f"'local,name=value', such as 'local,n_threads=1'; the names are {', '.join(LOCAL_SETTINGS)}."
            )
        if name in settings:
            raise BackendError(f"The local model's {name} is set twice in {backend!r}; set it once.")
        if name in kwargs:
            raise BackendError(
                f"The local model's {name} is set both in the backend {backend!r} and as {name}="
                f"{kwargs[name]!r} (--{name.replace('_', '-')} on the command line); set it once."
            )
        settings[name] = value
    where = location.removeprefix(":")
    if where:  # an embedded model's name, or a file's path
        key = "model_path" if "/" in where or os.sep in where or where.endswith(".gguf") else "model"
        if key in kwargs:
            raise BackendError(
                f"The backend {backend!r} names its model, and {key}= names another: give one."
            )
        settings[key] = where
    try:
        return LocalChatModel(**settings, **kwargs)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc']))}={error['input']!r}: {error['msg']}" for error in exc.errors()
        )
        raise BackendError(f"Bad setting of the local model {backend!r}: {problems}.") from None


def _construction_error(backend: str, provider: str | None, exc: Exception) -> BackendError:
    variable = _KEY_VARIABLES.get(provider or "")
    hint = f" Set the environment variable {variable} to your API key." if variable else ""
    return BackendError(f"Could not create backend {backend!r}: {str(exc).rstrip('.')}.{hint}")


def backend_identity(model: BaseChatModel) -> str:
    """A string naming the backend and every setting that changes its answers.

    It is LangChain's own cache identity: the serialised model (secrets replaced by
    their names) or, for models that cannot be serialised, their identifying params.
    """
    identity = model._get_llm_string()
    return f"{type(model).__module__}.{type(model).__qualname__}|{identity}"


def backend_name(model: BaseChatModel) -> str:
    """A short, secret-free name of the backend for records: its model name or class."""
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
