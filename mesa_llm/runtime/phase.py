"""The decision phase: concurrent, bounded, deduplicated, cached, retried, recorded.

A step of a model is two phases (DESIGN.md, principle 3): every agent observes the same
snapshot and decides (LLM decisions run concurrently on one event loop), then the actions
are applied in the model's activation order. The same rng and the same answers give the
same run whatever order the calls complete in: each answer belongs to its agent, and
records are kept in request order.

The phase uses the rest of the package: requests and their keys (:mod:`.requests`), what
each backend can do (:mod:`.capabilities`), one call's lifecycle (:mod:`.calls`), and the
event loop and bounds (:mod:`.loop`).
"""

from __future__ import annotations

import asyncio
import os
import random
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mesa_llm.actions import AnswerMode, check_answer_mode
from mesa_llm.agreement import RuleAgreement
from mesa_llm.backends import DEFAULT_BACKEND, is_chat_model, resolve_backend
from mesa_llm.backends.scoring import cumulative, draw_option
from mesa_llm.cache import ResponseCache
from mesa_llm.checks import check_bool, check_instance, check_int, check_number
from mesa_llm.decider import Decider, ModelDecider, asks_model, check_deciders
from mesa_llm.records import CallLog, CallRecord
from mesa_llm.runtime.calls import Calls
from mesa_llm.runtime.loop import LoopThread, Slots
from mesa_llm.runtime.requests import Request, Requests

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.rate_limiters import BaseRateLimiter

__all__ = ["ArgmaxWarning", "LLMRuntime", "PhaseProgress"]

# The backends already given an argmax notice in this process, by id (held weakly: an id
# is reused only once its object is gone, and then the entry is gone too).
_ARGMAXED: weakref.WeakValueDictionary[int, BaseChatModel] = weakref.WeakValueDictionary()

_UNSET = object()


class ArgmaxWarning(RuntimeWarning):
    """A scoring backend at a default temperature 0 takes the most probable option for every agent.

    Warned once per backend. Set the backend's ``temperature`` (0 to keep the argmax, 1 to
    draw from the probabilities) to say which was meant; or filter this category where a
    program states the temperature itself (the command line does).
    """


@dataclass(slots=True)
class PhaseProgress:
    """How far the latest LLM decision phase has come, for progress displays.

    Each phase that asks a language model starts a new ``PhaseProgress`` (the runtime's
    :attr:`~LLMRuntime.progress`), so a display that keeps the one it saw before a step
    knows when the step's phase has begun.

    Attributes:
        prompts: the distinct prompts of the phase (identical prompts are asked once).
        answered: how many of them have been answered (by the backend, the cache or the
            fallback).
    """

    prompts: int = 0
    answered: int = 0


class LLMRuntime:
    """Runs the LLM decisions of a model.

    Args:
        backend: the default chat model of the model's LLM agents: a LangChain chat
            model, a ``"provider:model"`` string for LangChain's ``init_chat_model``
            (resolved now, so a bad one fails here), or a function that returns a chat
            model, called when an agent first needs it (a model without LLM agents never
            creates one). None uses the embedded local model (``"local"``), likewise
            created when an agent first needs it.
        max_concurrency: most calls in flight at once.
        timeout: seconds before one call is abandoned (counted as a timeout, retried).
        retries: extra attempts after an error, a timeout or an unusable answer; then
            the action space's fallback is used. The runtime does the retrying: give the
            chat model's client no retries of its own (``max_retries=0``; backends made
            from a string get it), or they multiply.
        backoff_s: the wait before retrying after the first error of a decision; it
            doubles with each further error, with up to 50% jitter. A provider's
            ``Retry-After`` (HTTP 429) is waited instead. 0 retries at once. Answers that
            could not be used are retried at once, with a corrective message.
        max_backoff_s: the longest wait before a retry, ``Retry-After`` included.
        max_answer_chars: answers longer than this are rejected unread, as parse
            failures (counted as ``oversized``); parsing is linear in the length, and
            long answers are parsed off the event loop.
        rate_limiter: a LangChain rate limiter (e.g. ``InMemoryRateLimiter``) acquired
            before every backend call.
        dedup: send identical prompts of one decision phase once and share the answer.
            None (default) turns it on only for backends at temperature 0, where sharing
            an answer is the same as asking again; at a higher temperature it would
            correlate agents, so turn it on there only on purpose.
        cache: a response cache (:class:`~mesa_llm.cache.InMemoryCache` or
            :class:`~mesa_llm.cache.SQLiteCache`) looked up before every call. Only
            answers that were used are stored (never one that failed to parse), so a rerun
            replays every decision that did not fall back, and asks again for those that did.
        structured: ask for structured output (tool calling / JSON schema) where the
            backend supports it. None (default) asks for it for pydantic action spaces
            only: a choice is one word, which the tolerant parser reads reliably. Where the
            backend binds tools, the schema is bound as a forced tool call (the raw tool
            call is parsed by the action space); otherwise its own
            ``with_structured_output`` is used, whose LangChain parsing chain costs ~20x
            the framework time of a plain call (benchmarks/README.md). Backends with
            neither always answer in text.
        scoring: answer choice spaces by option scoring with backends that can
            (:class:`~mesa_llm.backends.scoring.OptionScorer`, such as the embedded local
            model): the backend gives a probability to every option, each agent draws its
            action from them with ``model.rng`` (the most probable at temperature 0), and
            the probabilities go into the call record. Agents that send the same prompt
            share one scoring (unless ``dedup=False``) but draw their own actions.
        log: where call records go; a new in-memory :class:`~mesa_llm.records.CallLog`
            by default.
        answer_mode: how LLM agents are asked to answer (:data:`~mesa_llm.actions.ANSWER_MODES`).
            ``"direct"`` (default): the answer alone, one word of a choice or one JSON
            object. ``"reasoning"``: a few sentences of reasoning first, then the final
            answer (a line ``Answer: <option>``, or the JSON object), read from the end of
            the text; the reasoning goes into the record (``reasoning``). Structured output
            is not asked for then (the answer is text). A scoring backend first generates
            the reasoning, then scores the options after it (the prompt, the reasoning as
            its answer, and a request for the final answer), so each agent still draws its
            action from the probabilities; that is two backend calls per decision. The
            reasoning is a sample: identical prompts share one only where dedup is on (at
            temperature 0 by default), as text answers do, and each agent reasons on its
            own otherwise. Agents render the instructions of the mode
            (:meth:`~mesa_llm.LLMDecider.instructions`), so the two modes never share a
            prompt or a cached answer.

    Attributes:
        argmax_notice: whether a scoring backend left at its default temperature 0 gets an
            :class:`ArgmaxWarning`, once per backend object and process (True); a probe,
            which reads the probabilities rather than the actions, turns it off.

    Raises:
        TypeError: for an argument of the wrong type (a path as ``cache``, a float as
            ``retries``), naming what to pass.
        ValueError: for a value out of range (a non-positive or non-finite ``timeout``,
            negative ``retries``), or an ``answer_mode`` other than ``"direct"`` and
            ``"reasoning"``.

    """

    def __init__(
        self,
        backend: BaseChatModel | str | Callable[[], BaseChatModel] | None = None,
        *,
        max_concurrency: int = 16,
        timeout: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_answer_chars: int = 20_000,
        rate_limiter: BaseRateLimiter | None = None,
        dedup: bool | None = None,
        cache: ResponseCache | None = None,
        structured: bool | None = None,
        scoring: bool = True,
        log: CallLog | None = None,
        answer_mode: AnswerMode = "direct",
    ) -> None:
        _check_collaborators(backend, rate_limiter, cache, log)
        self.answer_mode: AnswerMode = check_answer_mode(answer_mode)
        self.backend: BaseChatModel | None = None
        self._create: Callable[[], BaseChatModel] | None = None
        if callable(backend) and not is_chat_model(backend):
            self._create = backend
        elif backend is not None:
            self.backend = resolve_backend(backend)
        self.max_concurrency = check_int("max_concurrency", max_concurrency, minimum=1)
        self.timeout = check_number("timeout (seconds)", timeout, above=0)
        self.retries = check_int("retries", retries, minimum=0)
        self.backoff_s = check_number("backoff_s", backoff_s, minimum=0)
        self.max_backoff_s = check_number("max_backoff_s", max_backoff_s, minimum=0)
        self.max_answer_chars = check_int("max_answer_chars", max_answer_chars, minimum=1)
        self.rate_limiter = rate_limiter
        self.dedup = dedup if dedup is None else check_bool("dedup", dedup)
        self.cache = cache
        self.structured = structured if structured is None else check_bool("structured", structured)
        self.scoring = check_bool("scoring", scoring)
        self.log = log if log is not None else CallLog()
        self.progress = PhaseProgress()
        self.agreement = RuleAgreement()
        self.last_actions: dict[Any, Any] = {}
        self.argmax_notice = True
        self._requests = Requests()
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Slots]
        self._slots = weakref.WeakKeyDictionary()
        self._flush_after_decisions = True

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle (a model holding a runtime is sent to another process).

        The bounds of event loops and the probed capabilities belong to this process and are
        made again where it is unpickled; the backend, settings, cache, records and rule
        agreement travel. The latest step's actions (which hold the agents) do not.
        """
        state = self.__dict__.copy()
        del state["_slots"], state["_requests"], state["last_actions"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._slots = weakref.WeakKeyDictionary()
        self._requests = Requests()
        self.last_actions = {}

    @classmethod
    def for_model(
        cls,
        backend: BaseChatModel | str | Callable[[], BaseChatModel] | None = None,
        cache: ResponseCache | None = None,
        runtime: LLMRuntime | None = None,
        answer_mode: AnswerMode | None = None,
    ) -> LLMRuntime:
        """A scenario model's runtime from its ``backend``, ``cache``, ``runtime``, ``answer_mode`` options.

        ``answer_mode`` None is ``"direct"`` for a new runtime, and the mode of a given one.

        Raises:
            TypeError: for a ``runtime`` that is not an LLMRuntime, or a ``backend`` or
                ``cache`` of the wrong kind.
            ValueError: if ``runtime`` is given together with ``backend`` or ``cache``, or
                with an ``answer_mode`` other than its own; for an unknown ``answer_mode``.
        """
        check_instance("runtime", runtime, LLMRuntime, "an LLMRuntime or None")
        if answer_mode is not None:
            answer_mode = check_answer_mode(answer_mode)
        if runtime is None:
            return cls(backend, cache=cache, answer_mode=answer_mode or "direct")
        if backend is not None or cache is not None:
            raise ValueError("Pass backend= and cache= to your LLMRuntime, or pass no runtime=, not both.")
        if answer_mode not in (None, runtime.answer_mode):
            raise ValueError(
                f"The runtime answers in the {runtime.answer_mode!r} mode, not {answer_mode!r}: pass "
                f"answer_mode={answer_mode!r} to your LLMRuntime, or pass no runtime=."
            )
        return runtime

    @property
    def default_backend(self) -> BaseChatModel:
        """The backend of agents that have none: the runtime's, created on first use.

        Raises:
            BackendError: if it cannot be created (for the embedded local model: when it
                is not installed).
        """
        if self.backend is None:
            self.backend = resolve_backend(self._create() if self._create is not None else DEFAULT_BACKEND)
        return self.backend

    # ----------------------------------------------------------------- the step
    def step(
        self,
        agents: Iterable[Decider],
        *,
        rng: random.Random | None = None,
        observations: Mapping[Any, Any] | None = None,
        sequential: bool = False,
    ) -> dict[Any, Any]:
        """One step of ``agents``: observe, decide, act.

        The activation order is drawn first. Simultaneous (default): every agent observes
        the same snapshot and decides (LLM agents concurrently), then the actions are
        applied in activation order.
        Sequential: in activation order, each agent observes, decides and acts before the
        next observes, so it sees earlier actions; LLM calls then run one at a time
        (slower, for models that need it).

        Args:
            agents: the agents to step (rule agents and LLM agents alike).
            rng: shuffles the activation order (pass ``model.random`` to shuffle the way
                ``AgentSet.shuffle_do`` does); None keeps the order of ``agents``.
            observations: observations already taken of this snapshot (e.g. at the end of
                the previous step for reporters); agents missing from it observe now.
            sequential: use sequential instead of simultaneous activation.

        Returns:
            The action each agent took (kept as :attr:`last_actions` until the next step).

        Raises:
            TypeError: if an agent's class lacks ``observe``, ``decide`` or ``act``, naming
                the fix (checked once per class).

        """
        order = list(agents)
        if rng is not None:
            rng.shuffle(order)
        self._flush_after_decisions = False  # one flush of the records per step
        try:
            check_deciders(order, acting=True)
            if sequential:
                actions = {}
                for agent in order:
                    action = agent.decide(agent.observe())
                    agent.act(action)
                    actions[agent] = action
            else:
                actions = dict(zip(order, self._decide_all(order, observations or {}), strict=True))
                for agent in order:
                    agent.act(actions[agent])
            self.last_actions = actions
            return actions
        finally:
            self._flush_after_decisions = True
            self.log.flush()

    def decide_all(
        self, agents: Sequence[Decider], observations: Sequence[Any] | Mapping[Any, Any]
    ) -> list[Any]:
        """Decisions of agents on one snapshot: rule agents in order, LLM agents concurrently.

        Args:
            agents: the deciding agents.
            observations: their observations, in the order of ``agents``; or a mapping
                with some of them, the others observing when their turn comes. A rule
                agent decides as soon as it has observed (nothing acts before every agent
                has decided, so the snapshot is the same, and no observation has to be
                kept); only LLM agents' observations wait for their concurrent calls.

        Returns:
            The actions, in the order of ``agents``.

        Raises:
            TypeError: if an agent's class lacks ``observe`` or ``decide``, naming the fix.
        """
        check_deciders(agents, acting=False)
        return self._decide_all(agents, observations)

    def _decide_all(
        self, agents: Sequence[Decider], observations: Sequence[Any] | Mapping[Any, Any]
    ) -> list[Any]:
        given = (
            observations
            if isinstance(observations, Mapping)
            else dict(zip(agents, observations, strict=True))
        )
        actions: list[Any] = []
        asking: list[int] = []  # parallel lists, not a tuple per agent: nothing for the GC to walk
        seen: list[Any] = []
        for i, agent in enumerate(agents):
            observation = given[agent] if agent in given else agent.observe()
            if asks_model(agent):
                asking.append(i)
                seen.append(observation)
                actions.append(None)
            else:
                actions.append(agent.decide(observation))
        if asking:
            asked = [cast(ModelDecider, agents[i]) for i in asking]
            decided = LoopThread.shared().run(self._adecide(asked, seen))
            for i, action in zip(asking, decided, strict=True):
                actions[i] = action
        return actions

    # --------------------------------------------------------- LLM decisions
    def decide(self, agent: ModelDecider, observation: Any) -> Any:
        """One LLM agent's decision (sync)."""
        return self.decide_many([(agent, observation)])[0]

    def decide_many(self, items: Sequence[tuple[ModelDecider, Any]]) -> list[Any]:
        """LLM agents' decisions, run concurrently on the runtime's event loop (sync)."""
        return LoopThread.shared().run(self.adecide_many(items))

    async def adecide_many(self, items: Sequence[tuple[ModelDecider, Any]]) -> list[Any]:
        """LLM agents' decisions, run concurrently; one record per decision, in order.

        An agent whose :meth:`~mesa_llm.agent.LLMDecider.decide_without_model` gives an
        action for its observation takes it without a call (and without a record).
        """
        return await self._adecide([agent for agent, _ in items], [observation for _, observation in items])

    async def _adecide(self, agents: Sequence[ModelDecider], observations: Sequence[Any]) -> list[Any]:
        """:meth:`adecide_many` of parallel lists of agents and their observations."""
        preset = [
            agent.decide_without_model(observation)
            for agent, observation in zip(agents, observations, strict=True)
        ]
        if all(action is None for action in preset):
            return await self._ask(agents, observations)
        at = [i for i, action in enumerate(preset) if action is None]
        answers = iter(await self._ask([agents[i] for i in at], [observations[i] for i in at]) if at else [])
        return [next(answers) if action is None else action for action in preset]

    async def _ask(self, agents: Sequence[ModelDecider], observations: Sequence[Any]) -> list[Any]:
        """Ask the language models, concurrently; one record per decision, in order."""
        # Requests share a call only when dedup is on for their backend (see Requests).
        requests, of = self._requests.phase(
            agents, observations, structured=self.structured, dedup=self.dedup, scoring=self.scoring
        )
        calls = Calls(
            self.timeout,
            self.retries,
            self.rate_limiter,
            self.cache,
            self.backoff_s,
            self.max_backoff_s,
            self.max_answer_chars,
        )
        slots = self._loop_slots()
        progress = self.progress = PhaseProgress(prompts=len(requests))

        async def decide(request: Request) -> tuple[Any, CallRecord]:
            try:
                return await calls.decide(request, slots)
            finally:
                progress.answered += 1

        outcomes = await asyncio.gather(*map(decide, requests))
        actions = self._settle(agents, observations, of, requests, outcomes)
        if self._flush_after_decisions:
            self.log.flush()
        return actions

    def _settle(
        self,
        agents: Sequence[ModelDecider],
        observations: Sequence[Any],
        of: Sequence[int],
        requests: Sequence[Request],
        outcomes: Sequence[tuple[Any, CallRecord]],
    ) -> list[Any]:
        """Each decision's action and record, in order, from the answers of the phase's calls.

        Decision ``j`` was made by the call of ``requests[of[j]]``. The first decision of a
        call is its record; the log keeps the others as variants of it (the agent, its
        drawn action, its rule action), a few integers each, and each agent reads its record
        from the log when asked (:meth:`~mesa_llm.LLMDecider.keep_record`).
        """
        calls = [record for _, record in outcomes]
        drawn = self._draw(agents, of, requests, calls)
        answered = [record.action for record in calls]
        acted = [answered[c] if label is None else label for c, label in zip(of, drawn, strict=True)]
        valid = [_Made(request.question.space.validate) for request in requests]
        actions = [
            outcomes[c][0] if label is None else valid[c][label] for c, label in zip(of, drawn, strict=True)
        ]
        ruled = self._shadow(agents, observations, of, requests, acted)
        firsts = dict(zip(reversed(of), reversed(range(len(of))), strict=True))  # call -> its first decision
        for c, j in firsts.items():
            calls[c].action, calls[c].rule_action = acted[j], ruled[j]
        ids = [agent.unique_id for agent in agents]
        types = [type(agent).__name__ for agent in agents]
        kept, at = self.log.add_calls(calls, of, ids, types, acted, ruled)
        for agent, observation, index in zip(agents, observations, at, strict=True):
            agent.last_observation = observation
            keep_record = getattr(type(agent), "keep_record", None)  # not a bound method per agent
            if keep_record is not None:
                keep_record(agent, kept, index)
            else:
                agent.last_record = kept[index]
        return actions

    def _shadow(
        self,
        agents: Sequence[ModelDecider],
        observations: Sequence[Any],
        of: Sequence[int],
        requests: Sequence[Request],
        acted: Sequence[str],
    ) -> list[str | None]:
        """The rule's action of each decision (None where the agent has no rule), tallied in the agreement.

        The rule-shadow decisions of one class on equal observations are tallied together
        and added to :attr:`agreement` once, by the first agent of each group.
        """
        agreement = self.agreement
        rules: dict[type, Callable[[Any, Any], Any] | None] = {}
        named = {id(request.question.space): _Made(request.question.space.label) for request in requests}
        names = [named[id(request.question.space)] for request in requests]
        shadow: dict[tuple[type, Any], list[Any]] = {}  # (class, observation) -> [agent, decisions, agreed]
        ruled: list[str | None] = []
        for agent, observation, c, label in zip(agents, observations, of, acted, strict=True):
            kind = type(agent)
            rule = rules.get(kind, _UNSET)
            if rule is _UNSET:
                rule = rules[kind] = getattr(kind, "rule_decide", None)
            if rule is None or (decided := rule(agent, observation)) is None:
                ruled.append(None)
                continue
            try:
                rule_label = names[c][decided]
            except TypeError:  # a structured action: not a key
                rule_label = names[c].make(decided)
            ruled.append(rule_label)
            try:
                entry = shadow.get((kind, observation))
            except TypeError:  # an observation that cannot be a key: counted at once
                agreement.add(agent, observation, label == rule_label)
                continue
            if entry is None:
                shadow[kind, observation] = [agent, 1, int(label == rule_label)]
            else:
                entry[1] += 1
                entry[2] += label == rule_label
        for (_, observation), (agent, decisions, agreed) in shadow.items():
            agreement.add(agent, observation, agreed, decisions)
        return ruled

    def _draw(
        self,
        agents: Sequence[ModelDecider],
        of: Sequence[int],
        requests: Sequence[Request],
        calls: Sequence[CallRecord],
    ) -> list[str | None]:
        """The option each decision draws from its call's probabilities (None: no draw).

        At temperature 0, the most probable option, drawing nothing. Otherwise one uniform
        number of the agent's model rng per decision, in request order, all drawn at once:
        the same numbers as one draw after another (the rng is consumed exactly as by
        :func:`~mesa_llm.backends.scoring.draw_option`), each compared with its call's
        cumulative probabilities as :func:`bisect.bisect_right` does.
        """
        n = len(of)
        temperatures = [
            -1.0 if record.probabilities is None or record.fallback else request.question.backend.temperature
            for request, record in zip(requests, calls, strict=True)
        ]  # -1: no draw
        if max(temperatures, default=-1.0) < 0:
            return [None] * n
        call = np.fromiter(of, dtype=np.int64, count=n)
        temperature = np.array(temperatures)[call]
        labels = np.full(n, None, dtype=object)
        cold = np.flatnonzero(temperature == 0)
        if len(cold):
            readers = {type(agents[i]) for i in cold.tolist()}
            for c, mine in _by_call(call[cold]):
                probabilities = cast(dict[str, float], calls[c].probabilities)
                if not all(getattr(kind, "reads_probabilities", False) for kind in readers):
                    self._argmax_notice(requests[c].question.backend.model, probabilities)
                labels[cold[mine]] = draw_option(probabilities, 0.0, None)
        hot = np.flatnonzero(temperature > 0).tolist()
        by_rng: dict[int, tuple[Any, list[int]]] = {}  # id(rng) -> (rng, the decisions drawing)
        last: tuple[Any, list[int]] | None = None
        for i in hot:
            rng = agents[i].model.rng
            if last is None or last[0] is not rng:
                last = by_rng.setdefault(id(rng), (rng, []))
            last[1].append(i)
        for rng, drawing in by_rng.values():
            at = np.array(drawing, dtype=np.int64)
            u = rng.random(len(at))
            for c, mine in _by_call(call[at]):
                options, cut = cumulative(cast(dict[str, float], calls[c].probabilities), temperatures[c])
                pos = np.minimum(np.searchsorted(cut, u[mine], side="right"), len(options) - 1)
                labels[at[mine]] = np.array(options, dtype=object)[pos]
        return labels.tolist()

    def _argmax_notice(self, backend: BaseChatModel, probabilities: Mapping[str, float]) -> None:
        """Warn once per backend object and process that its option probabilities are argmaxed at a default 0.

        A scoring backend at temperature 0 always takes the most probable option: with
        P(move) = 0.45 nobody ever moves. That is deterministic on purpose where a user set
        ``temperature=0``; left at the backend's default, it is likely not what they meant.
        Once per backend object, not per runtime: the runs of a sweep or a round trip that
        share one chat model warn once between them.
        """
        if (
            not self.argmax_notice
            or _ARGMAXED.get(id(backend)) is backend
            or max(probabilities.values()) >= 1.0 - 1e-9
        ):
            return
        _ARGMAXED[id(backend)] = backend
        if "temperature" in getattr(backend, "model_fields_set", ()):
            return
        shown = ", ".join(f"P({option})={p:.2f}" for option, p in probabilities.items())
        warnings.warn(
            f"{type(backend).__name__} scores the options, and at its default temperature 0 every "
            f"agent takes the most probable one (here {shown}): the probabilities are not drawn "
            "from. Pass temperature=1.0 to the backend to draw each action from them, or "
            "temperature=0 to keep the argmax and silence this warning.",
            ArgmaxWarning,
            stacklevel=2,
        )

    def _loop_slots(self) -> Slots:
        """The bounds on calls in flight, one set per event loop the runtime is used from."""
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            self._slots[loop] = Slots(self.max_concurrency)
        return self._slots[loop]

    def reporters(self, prefix: str = "llm_") -> dict[str, Any]:
        """Model reporters for Mesa's ``DataCollector`` (see :meth:`CallLog.reporters`)."""
        return self.log.reporters(prefix)


def _is_rate_limiter(value: Any) -> bool:
    from langchain_core.rate_limiters import BaseRateLimiter  # given one, LangChain is loaded

    return isinstance(value, BaseRateLimiter)


def _by_call(call: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Each call of ``call`` (the calls of some decisions) with the positions of its decisions, in order."""
    order = np.argsort(call, kind="stable")
    ordered = call[order]
    starts = np.flatnonzero(np.diff(ordered, prepend=-1))
    for start, stop in zip(starts.tolist(), [*starts[1:].tolist(), len(call)], strict=True):
        yield int(ordered[start]), order[start:stop]


class _Made(dict[Any, Any]):
    """Values made from their keys once each: an action space's actions of labels, or labels of actions."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.make(key)
        return value


def _check_collaborators(backend: Any, rate_limiter: Any, cache: Any, log: Any) -> None:
    """Refuse collaborators of the wrong kind at construction, naming what to pass.

    Raises:
        TypeError: for a backend, rate limiter, cache or log of the wrong kind.
    """
    if backend is not None and not (is_chat_model(backend) or isinstance(backend, str) or callable(backend)):
        raise TypeError(
            f"backend must be a LangChain chat model, a 'provider:model' string or a function "
            f"returning a chat model, got {backend!r}."
        )
    if rate_limiter is not None and not _is_rate_limiter(rate_limiter):
        raise TypeError(
            f"rate_limiter must be a LangChain rate limiter such as "
            f"InMemoryRateLimiter(requests_per_second=2), got {rate_limiter!r}."
        )
    if cache is not None and not (
        callable(getattr(cache, "get", None)) and callable(getattr(cache, "put", None))
    ):
        fix = f"SQLiteCache({str(cache)!r})" if isinstance(cache, str | os.PathLike) else "InMemoryCache()"
        raise TypeError(f"cache must be a response cache such as {fix}, got {cache!r}.")
    if log is not None and not isinstance(log, CallLog):
        raise TypeError(f"log must be a mesa_llm.CallLog, got {log!r}.")
