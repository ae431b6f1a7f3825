"""Requests: what one LLM decision asks, and the key that identifies it.

Agents that observe the same thing and say their prompt is made of nothing else (a
prompt key, :meth:`~mesa_llm.LLMDecider.prompt_key`) ask one :class:`Question`: its prompt
is rendered, its format chosen and its key computed once per decision phase, whatever
the number of agents. A million residents with a few dozen distinct neighbourhoods
render a few dozen prompts.

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
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mesa_llm.actions import ActionSpace, AnswerMode, check_answer_mode
from mesa_llm.cache import cache_key
from mesa_llm.decider import ModelDecider
from mesa_llm.prompts import Messages
from mesa_llm.runtime.capabilities import Capabilities, structured_runnable

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

__all__ = ["Question", "Request", "Requests"]


@dataclass(frozen=True, slots=True)
class Question:
    """What the requests of one prompt ask: the same messages of one backend, in one format.

    Agents whose prompts are made of nothing but their observation and their prompt
    identity (:meth:`~mesa_llm.LLMDecider.prompt_key`) and which observe the same thing ask
    one question, rendered once per decision phase.

    Attributes:
        messages: the prompt.
        backend: the capabilities of its chat model.
        space: the action space.
        runnable: the model asked for structured output, or None.
        scored: whether the options are scored instead of answered.
        answer_format: that of the first call.
        mode: the answer mode its prompt asks for.
        shared: whether requests of this question share one answer (dedup, or option scores).
        base: the cache key of the first attempt, before any occurrence suffix.
    """

    messages: Messages
    backend: Capabilities
    space: ActionSpace[Any]
    runnable: Runnable[Any, Any] | None
    scored: bool
    answer_format: str
    mode: AnswerMode
    shared: bool
    base: str


@dataclass(slots=True)
class Request:
    """One agent's decision, as it is asked: its question under its key.

    Attributes:
        agent: the deciding agent (the first of those that share the key).
        observation: what it observed.
        question: what it asks (the prompt, the backend's capabilities, the action space,
            the runnable asked for structured output, whether the options are scored,
            the answer format and mode).
        key: the cache key of the first attempt (requests of one key share a call): the
            question's ``base``, followed by the occurrence suffix of a repeated sampled
            request.
    """

    agent: ModelDecider
    observation: Any
    question: Question
    key: str

    @property
    def occurrence(self) -> str:
        """The suffix of a repeated sampled request (empty when shared)."""
        return self.key.removeprefix(self.question.base)

    def key_of(self, messages: Messages) -> str:
        """The cache key of these messages (a retry's) in this request's format and occurrence."""
        question = self.question
        return cache_key(question.backend.identity, messages, question.answer_format) + self.occurrence

    def scoring_key_of(self, messages: Messages) -> str:
        """The cache key of scoring the options after ``messages`` (which end with a reasoning).

        Scores do not depend on sampling: the key has no occurrence.
        """
        return cache_key(self.question.backend.identity, messages, _scored_format(self.question.space))


@dataclass(slots=True)
class Requests:
    """Builds a runtime's requests: probes each backend once and counts repeated requests."""

    _capabilities: dict[int, Capabilities] = field(default_factory=dict)
    _runnables: dict[tuple[int, int], Runnable[Any, Any]] = field(default_factory=dict)
    _occurrences: dict[str, int] = field(default_factory=dict)

    def phase(
        self,
        agents: Sequence[ModelDecider],
        observations: Sequence[Any],
        *,
        structured: bool | None,
        dedup: bool | None,
        scoring: bool,
    ) -> tuple[list[Request], list[int]]:
        """The requests of one decision phase (``agents`` deciding on their ``observations``).

        A prompt is rendered once for every group of agents with equal prompt keys, chat
        model and action space observing equal things; an agent without a prompt key, or
        with an observation that cannot be hashed, renders its own.

        Returns:
            The requests with distinct keys, in the order of their first decision (each made
            by that decision's agent, its leader), and the index in them of every
            decision's request, in order.
        """
        questions: dict[Hashable, Question] = {}
        numbers: dict[str, int] = {}  # key -> its request
        requests: list[Request] = []
        of: list[int] = []
        for agent, observation in zip(agents, observations, strict=True):
            group, question = _group(agent, observation), None
            if group is not None:
                try:
                    question = questions.get(group)
                except TypeError:  # an observation that cannot be a key: rendered alone
                    group = None
                if question is not None and question.shared:  # the group's request, its key the base
                    of.append(numbers[question.base])
                    continue
            if question is None:
                question = self.question(
                    agent, observation, structured=structured, dedup=dedup, scoring=scoring
                )
                if group is not None:
                    questions[group] = question
            key = self._key(question)
            number = numbers.get(key)
            if number is None:
                number = numbers[key] = len(requests)
                requests.append(Request(agent, observation, question, key))
            of.append(number)
        return requests, of

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
        question = self.question(agent, observation, structured=structured, dedup=dedup, scoring=scoring)
        return Request(agent, observation, question, self._key(question))

    def question(
        self,
        agent: ModelDecider,
        observation: Any,
        *,
        structured: bool | None,
        dedup: bool | None,
        scoring: bool,
    ) -> Question:
        """What ``agent`` asks on ``observation``: its prompt rendered, its format and key."""
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
        # Probabilities do not depend on sampling: sharing them never correlates agents.
        shared = backend.dedup or (scored and mode == "direct" and dedup is not False)
        base = cache_key(backend.identity, messages, answer_format)
        return Question(messages, backend, space, runnable, scored, answer_format, mode, shared, base)

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

    def _key(self, question: Question) -> str:
        """The key of a request asking ``question``: its base, with the occurrence suffix where not shared."""
        return question.base if question.shared else question.base + self._occurrence(question.base)

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


def _group(agent: ModelDecider, observation: Any) -> Hashable | None:
    """What makes ``agent``'s prompt on ``observation``, where it says (else None: rendered alone)."""
    prompt_key = getattr(agent, "prompt_key", None)
    identity = prompt_key() if prompt_key is not None else None
    if identity is None:
        return None
    return (id(agent.chat_model), id(agent.action_space), identity, observation)


def _scored_format(space: ActionSpace[Any]) -> str:
    """The answer format of scoring ``space``'s options."""
    return "probabilities:" + json.dumps(space.labels, ensure_ascii=False)
