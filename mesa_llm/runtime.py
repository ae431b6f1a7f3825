"""The decision phase: concurrent, bounded, deduplicated, cached, retried, recorded.

A step of a model is two phases (DESIGN.md, principle 3): every agent observes the same
snapshot and decides (LLM decisions run concurrently on one event loop), then the actions
are applied in the model's activation order. The same rng and the same answers give the
same run whatever order the calls complete in: each answer belongs to its agent, and
records are kept in request order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.rate_limiters import BaseRateLimiter
from mesa import Agent

from mesa_llm.actions import ActionParseError, ActionSpace
from mesa_llm.agent import LLMDecider
from mesa_llm.backends import backend_identity, backend_name, resolve_backend
from mesa_llm.backends.scoring import OptionScorer, draw_option, normalise
from mesa_llm.cache import CachedAnswer, ResponseCache, cache_key
from mesa_llm.prompts import Messages, to_langchain
from mesa_llm.records import CallLog, CallRecord

__all__ = ["LLMRuntime", "PhaseProgress"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PhaseProgress:
    """How far the latest LLM decision phase has come, for progress displays.

    Attributes:
        prompts: the distinct prompts of the phase (identical prompts are asked once).
        answered: how many of them have been answered (by the backend, the cache or the
            fallback).
    """

    prompts: int = 0
    answered: int = 0


@dataclass(frozen=True, slots=True)
class _Backend:
    """What the runtime derives once per chat model."""

    model: BaseChatModel
    identity: str
    name: str
    dedup: bool
    supports_structured: bool
    scores: bool
    temperature: float
    parallel: int | None


@dataclass(slots=True)
class _Request:
    agent: LLMDecider
    observation: Any
    messages: Messages
    backend: _Backend
    space: ActionSpace
    structured: bool
    scored: bool
    answer_format: str
    occurrence: str
    key: str

    def key_of(self, messages: Messages) -> str:
        """The cache key of these messages (a retry's) in this request's format and occurrence."""
        return cache_key(self.backend.identity, messages, self.answer_format) + self.occurrence


class _Slots:
    """The bounds on calls in flight on one event loop: all calls, and each backend's own.

    A backend that can only run a few calls at once (the local model runs one) says so
    with a ``max_parallel_calls`` attribute; its calls then wait here, not in its worker
    threads, so their latency and timeout measure the call itself, not the queue.
    """

    def __init__(self, total: int) -> None:
        self.total = asyncio.Semaphore(total)
        self._backends: dict[int, asyncio.Semaphore] = {}

    def of(self, backend: _Backend) -> contextlib.AbstractAsyncContextManager[Any]:
        """The bound of ``backend`` (none for backends without one)."""
        if backend.parallel is None:
            return contextlib.nullcontext()
        key = id(backend.model)
        if key not in self._backends:
            self._backends[key] = asyncio.Semaphore(backend.parallel)
        return self._backends[key]


class _LoopThread:
    """One event loop in a daemon thread, shared by every runtime of the process.

    Running every step on the same loop keeps HTTP clients of backends valid across
    steps, and works whether or not the caller already runs an event loop (Jupyter,
    Solara). It is shared rather than owned by a runtime because Mesa models are rarely
    garbage collected (``Cell.get_neighborhood`` is cached on the class), so a loop per
    runtime would leak a thread per model in a parameter sweep. Its thread pool runs
    backends that only implement the sync API.
    """

    _instance: _LoopThread | None = None
    _lock = threading.Lock()

    def __init__(self, workers: int = 64) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(workers, "mesa-llm"))
        self.thread = threading.Thread(target=self.loop.run_forever, name="mesa-llm-loop", daemon=True)
        self.thread.start()

    @classmethod
    def shared(cls) -> _LoopThread:
        """The process's loop, started on first use (and again in a forked child)."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def _forget(cls) -> None:
        cls._instance = None

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on the loop and wait for its result."""
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("LLMRuntime's sync API was called from its event loop; await adecide_many.")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


os.register_at_fork(after_in_child=_LoopThread._forget)


class LLMRuntime:
    """Runs the LLM decisions of a model.

    Args:
        backend: the default chat model of the model's LLM agents, or a
            ``"provider:model"`` string for LangChain's ``init_chat_model``; None uses
            the embedded local model (``"local"``), created when an agent first needs it.
        max_concurrency: most calls in flight at once.
        timeout: seconds before one call is abandoned (counted as a timeout, retried).
        retries: extra attempts after an error, a timeout or an unparseable answer;
            then the action space's fallback is used.
        rate_limiter: a LangChain rate limiter (e.g. ``InMemoryRateLimiter``) acquired
            before every backend call.
        dedup: send identical prompts of one decision phase once and share the answer.
            None (default) turns it on only for backends at temperature 0, where sharing
            an answer is the same as asking again; at a higher temperature it would
            correlate agents, so turn it on there only on purpose.
        cache: a response cache (:class:`~mesa_llm.cache.InMemoryCache` or
            :class:`~mesa_llm.cache.SQLiteCache`) looked up before every call.
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

    Raises:
        ValueError: for a non-positive ``max_concurrency`` or ``timeout`` or negative ``retries``.

    """

    def __init__(
        self,
        backend: BaseChatModel | str | None = None,
        *,
        max_concurrency: int = 16,
        timeout: float = 60.0,
        retries: int = 2,
        rate_limiter: BaseRateLimiter | None = None,
        dedup: bool | None = None,
        cache: ResponseCache | None = None,
        structured: bool | None = None,
        scoring: bool = True,
        log: CallLog | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}.")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive (seconds), got {timeout}.")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}.")
        self.backend = resolve_backend(backend) if backend is not None else None
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.retries = retries
        self.rate_limiter = rate_limiter
        self.dedup = dedup
        self.cache = cache
        self.structured = structured
        self.scoring = scoring
        self.log = log if log is not None else CallLog()
        self._backends: dict[int, _Backend] = {}
        self._structured: dict[tuple[int, int], Any] = {}
        self._occurrences: dict[str, int] = {}
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slots]
        self._slots = weakref.WeakKeyDictionary()
        self._flush_after_decisions = True
        self.progress = PhaseProgress()

    @classmethod
    def for_model(
        cls,
        backend: BaseChatModel | str | None = None,
        cache: ResponseCache | None = None,
        runtime: LLMRuntime | None = None,
    ) -> LLMRuntime:
        """The runtime of a scenario model that takes ``backend``, ``cache`` and ``runtime`` options.

        Raises:
            ValueError: if ``runtime`` is given together with ``backend`` or ``cache``.
        """
        if runtime is None:
            return cls(backend, cache=cache)
        if backend is not None or cache is not None:
            raise ValueError("Pass backend= and cache= to your LLMRuntime, or pass no runtime=, not both.")
        return runtime

    @property
    def default_backend(self) -> BaseChatModel:
        """The backend of agents that have none: the runtime's, or the embedded local model.

        Raises:
            BackendError: if no backend was given and the local model is not installed.
        """
        if self.backend is None:
            self.backend = resolve_backend("local")
        return self.backend

    # ----------------------------------------------------------------- the step
    def step(
        self,
        agents: Iterable[Agent],
        *,
        rng: random.Random | None = None,
        observations: Mapping[Agent, Any] | None = None,
        sequential: bool = False,
    ) -> dict[Agent, Any]:
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
            The action each agent took.

        """
        order = list(agents)
        if rng is not None:
            rng.shuffle(order)
        self._flush_after_decisions = False  # one flush of the records per step
        try:
            if sequential:
                actions = {}
                for agent in order:
                    action = agent.decide(agent.observe())  # type: ignore[attr-defined]
                    agent.act(action)  # type: ignore[attr-defined]
                    actions[agent] = action
                return actions
            actions = dict(zip(order, self.decide_all(order, observations or {}), strict=True))
            for agent in order:
                agent.act(actions[agent])  # type: ignore[attr-defined]
            return actions
        finally:
            self._flush_after_decisions = True
            self.log.flush()

    def decide_all(
        self, agents: Sequence[Agent], observations: Sequence[Any] | Mapping[Agent, Any]
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
        """
        given = (
            observations
            if isinstance(observations, Mapping)
            else dict(zip(agents, observations, strict=True))
        )
        actions: list[Any] = []
        llm: list[tuple[int, Any]] = []
        for i, agent in enumerate(agents):
            observation = given[agent] if agent in given else agent.observe()  # type: ignore[attr-defined]
            if isinstance(agent, LLMDecider):
                llm.append((i, observation))
                actions.append(None)
            else:
                actions.append(agent.decide(observation))  # type: ignore[attr-defined]
        if llm:
            decided = self.decide_many([(agents[i], observation) for i, observation in llm])  # type: ignore[misc]
            for (i, _), action in zip(llm, decided, strict=True):
                actions[i] = action
        return actions

    # --------------------------------------------------------- LLM decisions
    def decide(self, agent: LLMDecider, observation: Any) -> Any:
        """One LLM agent's decision (sync)."""
        return self.decide_many([(agent, observation)])[0]

    def decide_many(self, items: Sequence[tuple[LLMDecider, Any]]) -> list[Any]:
        """LLM agents' decisions, run concurrently on the runtime's event loop (sync)."""
        return _LoopThread.shared().run(self.adecide_many(items))

    async def adecide_many(self, items: Sequence[tuple[LLMDecider, Any]]) -> list[Any]:
        """LLM agents' decisions, run concurrently; one record per decision, in order.

        An agent whose :meth:`~mesa_llm.agent.LLMDecider.decide_without_model` gives an
        action for its observation takes it without a call (and without a record).
        """
        preset = [agent.decide_without_model(observation) for agent, observation in items]
        asked = [item for item, action in zip(items, preset, strict=True) if action is None]
        answers = iter(await self._ask(asked) if asked else [])
        return [next(answers) if action is None else action for action in preset]

    async def _ask(self, items: Sequence[tuple[LLMDecider, Any]]) -> list[Any]:
        """Ask the language models, concurrently; one record per decision, in order."""
        requests = [self._request(agent, observation) for agent, observation in items]
        slots = self._loop_slots()
        # Requests share a key only when dedup is on for their backend (see _occurrence).
        leaders: dict[str, _Request] = {}
        for request in requests:
            leaders.setdefault(request.key, request)
        progress = self.progress = PhaseProgress(prompts=len(leaders))

        async def decide(request: _Request) -> tuple[Any, CallRecord]:
            try:
                return await self._decide(request, slots)
            finally:
                progress.answered += 1

        outcomes = dict(zip(leaders, await asyncio.gather(*map(decide, leaders.values())), strict=True))
        actions = []
        for request in requests:
            action, record = outcomes[request.key]
            if leaders[request.key] is not request:
                record = replace(
                    record,
                    agent_id=request.agent.unique_id,  # type: ignore[attr-defined]
                    agent_type=type(request.agent).__name__,
                    backend_calls=0,
                    latency_s=0.0,
                    tokens_in=0,
                    tokens_out=0,
                    cache_hit=False,
                    shared=True,
                )
            if record.probabilities is not None and not record.fallback:
                # Each agent draws its own action from the (possibly shared) distribution.
                rng = request.agent.model.rng  # type: ignore[attr-defined]
                label = draw_option(record.probabilities, request.backend.temperature, rng)
                action = request.space.validate(label)
                record = replace(record, action=label)
            request.agent.last_observation = request.observation
            request.agent.last_record = record
            self.log.add(record)
            actions.append(action)
        if self._flush_after_decisions:
            self.log.flush()
        return actions

    def _loop_slots(self) -> _Slots:
        """The bounds on calls in flight, one set per event loop the runtime is used from."""
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            self._slots[loop] = _Slots(self.max_concurrency)
        return self._slots[loop]

    def _request(self, agent: LLMDecider, observation: Any) -> _Request:
        backend = self._backend(agent.chat_model)
        space = agent.action_space
        messages = agent.messages(observation)
        scored = backend.scores and space.kind == "choice"
        wants_structured = self.structured or space.kind == "structured"
        structured = not scored and backend.supports_structured and bool(wants_structured)
        if scored:
            answer_format = "probabilities:" + json.dumps(space.labels, ensure_ascii=False)
        else:
            answer_format = space.schema_json if structured else "text"
        base = cache_key(backend.identity, messages, answer_format)
        # Probabilities do not depend on sampling: sharing them never correlates agents.
        shared = backend.dedup or (scored and self.dedup is not False)
        occurrence = "" if shared else self._occurrence(base)
        return _Request(
            agent,
            observation,
            messages,
            backend,
            space,
            structured,
            scored,
            answer_format,
            occurrence,
            key=base + occurrence,
        )

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

    def _backend(self, model: BaseChatModel) -> _Backend:
        info = self._backends.get(id(model))
        if info is None or info.model is not model:
            structured = self.structured is not False and _supports_structured_output(model)
            temperature = getattr(model, "temperature", None)
            dedup = self.dedup if self.dedup is not None else temperature == 0
            scores = self.scoring and isinstance(model, OptionScorer)
            info = _Backend(
                model,
                backend_identity(model),
                backend_name(model),
                dedup,
                structured,
                scores,
                float(temperature or 0.0),
                getattr(model, "max_parallel_calls", None),
            )
            self._backends[id(model)] = info
        return info

    async def _decide(self, request: _Request, slots: _Slots) -> tuple[Any, CallRecord]:
        """Ask, parse, retry, fall back; never raises for a failing backend."""
        agent, space, backend = request.agent, request.space, request.backend
        model = agent.model  # type: ignore[attr-defined]
        record = CallRecord(
            step=model.steps,
            time=model.time,
            agent_id=agent.unique_id,  # type: ignore[attr-defined]
            agent_type=type(agent).__name__,
            backend=backend.name,
            messages=request.messages,
        )
        messages, key, hits = request.messages, request.key, 0
        for attempt in range(self.retries + 1):
            record.attempts += 1
            if attempt:
                key = request.key_of(messages)
            answer = self.cache.get(key) if self.cache is not None else None
            if answer is not None:
                hits += 1
            else:
                answer = await self._call(request, messages, record, slots)
                if answer is None:
                    continue
                record.tokens_in += answer.tokens_in
                record.tokens_out += answer.tokens_out
                if self.cache is not None:
                    self.cache.put(key, answer)
            record.raw = answer.raw
            try:
                action = self._interpret(request, answer.raw, record)
            except ActionParseError as exc:
                record.parse_failures += 1
                record.error = str(exc)
                messages = (
                    *messages,
                    ("ai", answer.raw),
                    ("human", f"That answer could not be used: {exc}. {space.instructions()}"),
                )
                continue
            record.action = space.label(action)
            record.cache_hit = hits == record.attempts
            return action, record
        record.fallback = True
        record.action = space.label(space.fallback)
        record.cache_hit = hits == record.attempts
        logger.info("agent %s fell back to %r: %s", record.agent_id, record.action, record.error)
        return space.fallback, record

    @staticmethod
    def _interpret(request: _Request, raw: str, record: CallRecord) -> Any:
        """The action of an answer; for a scored request, its probabilities go into ``record``.

        Raises:
            ActionParseError: if the answer is not an action (or a distribution over them).
        """
        if not request.scored:
            return request.space.parse(raw)
        try:
            record.probabilities = normalise(json.loads(raw), request.space.labels)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ActionParseError(f"unusable option probabilities {raw!r}: {exc}") from exc
        return None  # drawn per agent in adecide_many

    async def _call(
        self, request: _Request, messages: Messages, record: CallRecord, slots: _Slots
    ) -> CachedAnswer | None:
        """One backend call, bounded and timed; None (with the error recorded) if it failed."""
        backend = request.backend
        runnable = self._runnable(backend, request.space) if request.structured else backend.model
        async with slots.total, slots.of(backend):
            if self.rate_limiter is not None:
                await self.rate_limiter.aacquire()
            record.backend_calls += 1
            started = time.perf_counter()
            try:
                if request.scored:
                    scores = await asyncio.wait_for(
                        backend.model.ascore_options(to_langchain(messages), request.space.labels),  # type: ignore[attr-defined]
                        self.timeout,
                    )
                else:
                    result = await asyncio.wait_for(runnable.ainvoke(to_langchain(messages)), self.timeout)
            except TimeoutError:
                record.errors += 1
                record.timeouts += 1
                record.error = f"timed out after {self.timeout} s"
                return None
            except Exception as exc:  # a failing backend must never end the run
                record.errors += 1
                record.error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "backend %s failed for agent %s: %s", backend.name, record.agent_id, record.error
                )
                return None
            finally:
                record.latency_s += time.perf_counter() - started
        if request.scored:
            return CachedAnswer(json.dumps(scores.probabilities), scores.tokens_in, 0)
        message: AIMessage = result["raw"] if isinstance(result, dict) else result
        usage = message.usage_metadata or {}
        if message.tool_calls:
            raw = json.dumps(message.tool_calls[0]["args"], ensure_ascii=False)
        else:
            raw = message.text
        return CachedAnswer(raw, usage.get("input_tokens", 0), usage.get("output_tokens", 0))

    def _runnable(self, backend: _Backend, space: ActionSpace) -> Any:
        """The backend asked to answer in ``space``'s schema (built once per backend and space).

        A forced tool call where the backend binds tools (the answer is parsed by the
        action space, so LangChain's own parsing chain would be work done twice), else
        the backend's ``with_structured_output(include_raw=True)``; either gives the raw
        message.
        """
        key = (id(backend.model), id(space))
        if key not in self._structured:
            model = backend.model
            if _binds_tools(model):
                runnable = model.bind_tools([space.schema], tool_choice="any")
            else:
                runnable = model.with_structured_output(space.schema, include_raw=True)
            self._structured[key] = runnable
        return self._structured[key]

    def reporters(self, prefix: str = "llm_") -> dict[str, Any]:
        """Model reporters for Mesa's ``DataCollector`` (see :meth:`CallLog.reporters`)."""
        return self.log.reporters(prefix)


def _binds_tools(model: BaseChatModel) -> bool:
    """Whether the model implements tool binding."""
    return type(model).bind_tools is not BaseChatModel.bind_tools


def _supports_structured_output(model: BaseChatModel) -> bool:
    """Whether the model implements tool binding or structured output itself."""
    own_structured_output = type(model).with_structured_output is not BaseChatModel.with_structured_output
    return _binds_tools(model) or own_structured_output
