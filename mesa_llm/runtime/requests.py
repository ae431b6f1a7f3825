"""Requests: what one LLM decision asks, and the key that identifies it.

A request's key is the cache key of its backend identity, messages and answer format. It
is also how identical prompts of one phase are recognised: requests that share a key share
one call. Where answers are sampled (dedup off) the n-th identical request of the run gets
its own key, so agents keep independent samples and a rerun replays each of them.

In the ``"reasoning"`` answer mode the first call generates text (the reasoning and final
answer), never structured output; with a scoring backend, the options are then scored
after the reasoning, under a key of their own (:meth:`Request.scoring_key_of`). A
reasoning is a sample, so its requests are shared as text answers are (only where dedup is
on), not as option scores are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from mesa_llm.actions import ActionSpace, AnswerMode, check_answer_mode
from mesa_llm.cache import cache_key
from mesa_llm.decider import ModelDecider
from mesa_llm.prompts import Messages
from mesa_llm.runtime.capabilities import Capabilities, structured_runnable

__all__ = ["Request", "Requests"]


@dataclass(slots=True)
class Request:
    """One agent's decision, as it is asked.

    Attributes:
        agent: the deciding agent.
        observation: what it observed.
        messages: its prompt.
        backend: the capabilities of its chat model.
        space: its action space.
        runnable: the model asked for structured output, or None to ask in text (or by
            option scoring when ``scored``).
        scored: whether the options are scored instead of answered (in the
            ``"reasoning"`` mode, after the reasoning is generated).
        answer_format: that of the first call: ``"text"``, the requested JSON schema, or
            the scored options.
        mode: the answer mode its prompt asks for, ``"direct"`` or ``"reasoning"``.
        occurrence: the suffix of a repeated sampled request (empty when shared).
        key: the cache key of the first attempt (requests of one key share a call).
    """

    agent: ModelDecider
    observation: Any
    messages: Messages
    backend: Capabilities
    space: ActionSpace[Any]
    runnable: Runnable[Any, Any] | None
    scored: bool
    answer_format: str
    mode: AnswerMode
    occurrence: str
    key: str

    def key_of(self, messages: Messages) -> str:
        """The cache key of these messages (a retry's) in this request's format and occurrence."""
        return cache_key(self.backend.identity, messages, self.answer_format) + self.occurrence

    def scoring_key_of(self, messages: Messages) -> str:
        """The cache key of scoring the options after ``messages`` (which end with a reasoning).

        Scores do not depend on sampling: the key has no occurrence.
        """
        return cache_key(self.backend.identity, messages, _scored_format(self.space))


@dataclass(slots=True)
class Requests:
    """Builds a runtime's requests: probes each backend once and counts repeated requests."""

    _capabilities: dict[int, Capabilities] = field(default_factory=dict)
    _runnables: dict[tuple[int, int], Runnable[Any, Any]] = field(default_factory=dict)
    _occurrences: dict[str, int] = field(default_factory=dict)

    def of(
        self,
        agent: ModelDecider,
        observation: Any,
        *,
        structured: bool | None,
        dedup: bool | None,
        scoring: bool,
    ) -> Request:
        """The request of ``agent`` deciding on ``observation`` under the runtime's settings."""
        backend = self.capabilities(agent.chat_model, structured=structured, dedup=dedup, scoring=scoring)
        space = agent.action_space
        messages = agent.messages(observation)
        mode = check_answer_mode(getattr(agent, "answer_mode", "direct"))
        scored = backend.scores and space.kind == "choice"
        wants_structured = structured or space.kind == "structured"
        runnable = (
            self._runnable(backend.model, space)
            if mode == "direct" and not scored and backend.supports_structured and wants_structured
            else None
        )
        if scored and mode == "direct":
            answer_format = _scored_format(space)
        else:
            answer_format = space.schema_json if runnable is not None else "text"
        base = cache_key(backend.identity, messages, answer_format)
        # Probabilities do not depend on sampling: sharing them never correlates agents.
        shared = backend.dedup or (scored and mode == "direct" and dedup is not False)
        occurrence = "" if shared else self._occurrence(base)
        return Request(
            agent,
            observation,
            messages,
            backend,
            space,
            runnable,
            scored,
            answer_format,
            mode,
            occurrence,
            key=base + occurrence,
        )

    def capabilities(
        self, model: BaseChatModel, *, structured: bool | None, dedup: bool | None, scoring: bool
    ) -> Capabilities:
        """What ``model`` can do, probed on its first request."""
        found = self._capabilities.get(id(model))
        if found is None or found.model is not model:
            found = Capabilities.probe(model, dedup=dedup, structured=structured, scoring=scoring)
            self._capabilities[id(model)] = found
        return found

    def _runnable(self, model: BaseChatModel, space: ActionSpace[Any]) -> Runnable[Any, Any]:
        """``model`` asked for ``space``'s schema, built once per model and space."""
        key = (id(model), id(space))
        if key not in self._runnables:
            self._runnables[key] = structured_runnable(model, space)
        return self._runnables[key]

    def _occurrence(self, key: str) -> str:
        """The suffix that makes the key of a repeated request unique where answers are sampled.

        At temperature 0 (dedup on) an identical request has the same answer, so there is
        no suffix and the cache answers repeats. Otherwise the n-th identical request of
        the run gets the suffix ``#n``: agents keep independent samples, and a rerun of
        the same seed replays every one of them in the same order.
        """
        n = self._occurrences.get(key, 0)
        self._occurrences[key] = n + 1
        return f"#{n}"


def _scored_format(space: ActionSpace[Any]) -> str:
    """The answer format of scoring ``space``'s options."""
    return "probabilities:" + json.dumps(space.labels, ensure_ascii=False)
