"""What a backend can do: structured output, option scoring, dedup, parallel calls, its secrets.

The runtime probes each chat model once (:class:`Capabilities`) and asks for structured
answers the cheapest way the model supports (:func:`structured_runnable`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mesa_llm.actions import ActionSpace
from mesa_llm.backends import backend_identity, backend_name
from mesa_llm.backends.scoring import OptionScorer

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable
    from pydantic import BaseModel

__all__ = [
    "Capabilities",
    "binds_tools",
    "redact",
    "secret_values",
    "structured_runnable",
    "supports_structured_output",
]

#: Environment variables whose values are secrets, wherever they appear.
SECRET_VARIABLE = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
#: Shorter values are not redacted: they would match ordinary text.
_MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the runtime derives once per chat model, under its settings.

    Attributes:
        model: the chat model.
        identity: its identity in cache keys (model and every setting that changes answers).
        name: its short, secret-free name for records.
        dedup: whether identical prompts of one phase share one answer.
        supports_structured: whether it is asked for structured output where wanted.
        scores: whether it answers choices by option scoring.
        batches: whether it scores several prompts at once (it overrides
            :meth:`~mesa_llm.backends.scoring.OptionScorer.score_options_many`): the
            scorings of a phase then go to it together, not bounded by ``parallel``
            (see :class:`~mesa_llm.runtime.loop.Scorings`).
        temperature: its sampling temperature (0 when it has none), for option draws.
        parallel: most calls it runs at once (None: no limit of its own).
        sync_only: whether it only implements the sync API (its calls then run on its
            own threads, see :class:`~mesa_llm.runtime.loop.Workers`).
        secrets: values that must never be recorded or logged (see :func:`secret_values`).
    """

    model: BaseChatModel
    identity: str
    name: str
    dedup: bool
    supports_structured: bool
    scores: bool
    batches: bool
    temperature: float
    parallel: int | None
    sync_only: bool
    secrets: tuple[str, ...]

    @classmethod
    def probe(
        cls, model: BaseChatModel, *, dedup: bool | None, structured: bool | None, scoring: bool
    ) -> Capabilities:
        """The capabilities of ``model`` under the runtime's ``dedup``, ``structured`` and ``scoring``."""
        temperature = getattr(model, "temperature", None)
        scores = scoring and isinstance(model, OptionScorer)
        return cls(
            model=model,
            identity=backend_identity(model),
            name=backend_name(model),
            dedup=dedup if dedup is not None else temperature == 0,
            supports_structured=structured is not False and supports_structured_output(model),
            scores=scores,
            batches=scores and type(model).score_options_many is not OptionScorer.score_options_many,
            temperature=float(temperature or 0.0),
            parallel=getattr(model, "max_parallel_calls", None),
            sync_only=_sync_only(model),
            secrets=secret_values(model),
        )


def _sync_only(model: BaseChatModel) -> bool:
    """Whether LangChain would run ``model``'s calls in a thread pool (it has no async code of its own)."""
    if isinstance(model, OptionScorer):
        return type(model).ascore_options is OptionScorer.ascore_options
    from langchain_core.language_models import BaseChatModel  # given a model, LangChain is loaded

    return type(model)._agenerate is BaseChatModel._agenerate


def secret_values(model: BaseModel) -> tuple[str, ...]:
    """The secrets an error about ``model`` could reflect, longest first.

    The values of its ``SecretStr`` settings (API keys; those of wrapped chat models
    too) and of the environment variables named like secrets (``*_API_KEY``,
    ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``), read now.
    """
    found = {value for value in _secret_settings(model) if len(value) >= _MIN_SECRET_LENGTH}
    found |= {
        value
        for name, value in os.environ.items()
        if SECRET_VARIABLE.search(name) and len(value) >= _MIN_SECRET_LENGTH
    }
    return tuple(sorted(found, key=len, reverse=True))


def _secret_settings(model: BaseModel) -> Iterator[str]:
    from pydantic import BaseModel, SecretStr  # given a model, pydantic is loaded

    for name in type(model).model_fields:
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secret_settings(value)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``[redacted]``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def binds_tools(model: BaseChatModel) -> bool:
    """Whether the model implements tool binding."""
    from langchain_core.language_models import BaseChatModel  # given a model, LangChain is loaded

    return type(model).bind_tools is not BaseChatModel.bind_tools


def supports_structured_output(model: BaseChatModel) -> bool:
    """Whether the model implements tool binding or structured output itself."""
    from langchain_core.language_models import BaseChatModel  # given a model, LangChain is loaded

    own_structured_output = type(model).with_structured_output is not BaseChatModel.with_structured_output
    return binds_tools(model) or own_structured_output


def structured_runnable(model: BaseChatModel, space: ActionSpace[Any]) -> Runnable[Any, Any]:
    """``model`` asked to answer in ``space``'s schema; either way its result holds the raw message.

    A forced tool call where the model binds tools (the answer is parsed by the action
    space, so LangChain's own parsing chain would be work done twice), else the model's
    ``with_structured_output(include_raw=True)``.
    """
    if binds_tools(model):
        return model.bind_tools([space.schema], tool_choice="any")
    return model.with_structured_output(space.schema, include_raw=True)
