"""One call's lifecycle: cache, bounded and timed backend call, parsing, retries, fallback, record.

:meth:`Calls.decide` never raises for a failing backend: every error, timeout and
unparseable answer is counted in the decision's :class:`~mesa_llm.records.CallRecord`,
retried (after an error, with exponential backoff and jitter, and at least as long as the
provider's ``Retry-After`` says; after an unusable answer, at once, with a corrective
message) and finally replaced by the action space's fallback. Only answers that were
used go into the response cache, so an outage is never replayed; no secret of the
backend goes into a record or a log message.

In the ``"reasoning"`` answer mode an attempt's answer is free text ending in the final
answer, read from its end; with a scoring backend an attempt is two calls, each cached:
the reasoning is generated, then the options are scored after it (the prompt, the
reasoning as the model's answer, and a request for the final answer alone).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from mesa_llm.actions import ActionParseError, ActionSpace
from mesa_llm.backends.scoring import OptionScorer, OptionScores, normalise
from mesa_llm.cache import CachedAnswer, ResponseCache
from mesa_llm.prompts import Messages, to_langchain
from mesa_llm.records import CallRecord
from mesa_llm.runtime.capabilities import redact
from mesa_llm.runtime.loop import Slots
from mesa_llm.runtime.requests import Request

if TYPE_CHECKING:
    from langchain_core.messages import AIMessage
    from langchain_core.rate_limiters import BaseRateLimiter

__all__ = ["Calls", "retry_after"]

logger = logging.getLogger(__name__)

#: Answers at least this long are parsed in a worker thread, not on the event loop.
_PARSE_IN_THREAD_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Calls:
    """How the calls of one decision phase are made.

    Attributes:
        timeout: seconds before one call is abandoned (counted as a timeout, retried).
        retries: extra attempts after an error, a timeout or an unusable answer.
        rate_limiter: acquired before every backend call, if given.
        cache: looked up before every call, and given every answer that was used.
        backoff_s: the wait before the first retry after an error; it doubles with each
            further error (with jitter), up to ``max_backoff_s``.
        max_backoff_s: the longest wait before a retry, ``Retry-After`` included.
        max_answer_chars: longer answers are rejected unread (a parse failure, counted as
            ``oversized``).
    """

    timeout: float
    retries: int
    rate_limiter: BaseRateLimiter | None
    cache: ResponseCache | None
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_answer_chars: int = 20_000

    async def decide(self, request: Request, slots: Slots) -> tuple[Any, CallRecord]:
        """The action of ``request`` and its record: ask, parse, retry, fall back."""
        agent, question = request.agent, request.question
        space, backend = question.space, question.backend
        model = agent.model
        record = CallRecord(
            step=model.steps,
            time=model.time,
            agent_id=agent.unique_id,
            agent_type=type(agent).__name__,
            backend=backend.name,
            messages=question.messages,
        )
        reasons = question.mode == "reasoning"
        messages, key, wait = question.messages, request.key, 0.0
        for attempt in range(self.retries + 1):
            if wait:
                await asyncio.sleep(wait)
                wait = 0.0
            record.attempts += 1
            if attempt:
                key = request.key_of(messages)
            fetched: list[tuple[str, CachedAnswer]] = []  # from the backend: cached once used
            scored_now = question.scored and not reasons
            answer, error = await self._fetch(request, key, messages, record, slots, scored_now, fetched)
            if answer is None:
                wait = self._backoff(request.key, record.errors, error)
                continue
            said = answer.raw  # what the model said (or the option scores of a direct scoring)
            if reasons:
                record.reasoning = redact(said, backend.secrets)
            if reasons and question.scored and len(said) <= self.max_answer_chars:
                after = _after_reasoning(messages, said, space)
                key_after = request.scoring_key_of(after)
                answer, error = await self._fetch(request, key_after, after, record, slots, True, fetched)
                if answer is None:
                    wait = self._backoff(request.key, record.errors, error)
                    continue
            record.raw = redact(answer.raw, backend.secrets)
            try:
                action = await self._interpret(request, answer.raw, record)
            except Exception as exc:  # every way an answer can be unusable is a parse failure
                record.parse_failures += 1
                record.error = redact(_describe(exc), backend.secrets)
                messages = (
                    *messages,
                    ("ai", said[: self.max_answer_chars]),
                    (
                        "human",
                        f"That answer could not be used: {record.error}. {space.instructions(question.mode)}",
                    ),
                )
                continue
            if self.cache is not None:
                for fetched_key, fetched_answer in fetched:
                    self.cache.put(fetched_key, fetched_answer)
                if attempt and fetched and fetched[0][0] == key:
                    # a replay asks the first question: give it the answer that was used
                    self.cache.put(request.key, fetched[0][1])
            record.action = space.label(action)
            record.cache_hit = record.backend_calls == 0
            return action, record
        record.fallback = True
        record.action = space.label(space.fallback)
        record.cache_hit = record.backend_calls == 0
        logger.info("agent %s fell back to %r: %s", record.agent_id, record.action, record.error)
        return space.fallback, record

    async def _fetch(
        self,
        request: Request,
        key: str,
        messages: Messages,
        record: CallRecord,
        slots: Slots,
        scored: bool,
        fetched: list[tuple[str, CachedAnswer]],
    ) -> tuple[CachedAnswer | None, Exception | None]:
        """The answer to ``messages`` from the cache, else from the backend (then added to ``fetched``).

        Returns the answer, or None and the backend's error.
        """
        answer = self.cache.get(key) if self.cache is not None else None
        if answer is not None:
            return answer, None
        answer, error = await self._call(request, messages, record, slots, scored)
        if answer is not None:
            record.tokens_in += answer.tokens_in
            record.tokens_out += answer.tokens_out
            fetched.append((key, answer))
        return answer, error

    async def _call(
        self, request: Request, messages: Messages, record: CallRecord, slots: Slots, scored: bool
    ) -> tuple[CachedAnswer | None, Exception | None]:
        """One backend call (scoring the options if ``scored``), bounded and timed.

        Returns its answer, or None and the error (recorded).
        """
        backend = request.question.backend
        batched = scored and backend.batches  # the backend bounds a batch's prompts itself
        async with slots.total, slots.of(backend.model, None if batched else backend.parallel):
            if slots.paused(backend.model):
                await slots.ready(backend.model, _fraction(request.key, record.attempts))
            if self.rate_limiter is not None:
                await self.rate_limiter.aacquire()
            record.backend_calls += 1
            started = time.perf_counter()
            result = None
            try:
                result = await asyncio.wait_for(_invoke(request, messages, slots, scored), self.timeout)
            except TimeoutError as exc:
                record.errors += 1
                record.timeouts += 1
                record.error = f"timed out after {self.timeout} s"
                return None, exc
            except Exception as exc:  # a failing backend must never end the run
                record.errors += 1
                if _status(exc) == 429:
                    record.rate_limited += 1
                    if (asked := retry_after(exc)) is not None:  # no call of this backend is let through
                        slots.pause(backend.model, min(asked, self.max_backoff_s))
                record.error = redact(_describe(exc), backend.secrets)
                logger.warning(
                    "backend %s failed for agent %s: %s", backend.name, record.agent_id, record.error
                )
                return None, exc
            finally:  # a prompt scored in a batch: its own evaluation, not the batch's
                own = result.seconds if scored and result is not None else None
                record.latency_s += time.perf_counter() - started if own is None else own
        return _answer(result, scored), None

    async def _interpret(self, request: Request, raw: str, record: CallRecord) -> Any:
        """The action of an answer, parsed in a worker thread when it is long.

        Raises:
            ActionParseError: for an answer longer than ``max_answer_chars`` (counted as
                oversized), or one that is not an action.
            Exception: whatever else parsing raised, for an unusable answer.
        """
        if len(raw) > self.max_answer_chars:
            record.oversized += 1
            raise ActionParseError(
                f"the answer has {len(raw):,} characters, "
                f"more than max_answer_chars={self.max_answer_chars:,}"
            )
        if len(raw) < _PARSE_IN_THREAD_CHARS:
            return _interpret(request, raw, record)
        return await asyncio.to_thread(_interpret, request, raw, record)

    def _backoff(self, key: str, errors: int, error: Exception | None) -> float:
        """Seconds to wait before retrying after the ``errors``-th error of a request.

        ``backoff_s`` doubled for each earlier error, and at least the provider's
        ``Retry-After``; with up to 50% jitter, at most ``max_backoff_s``.
        """
        if not self.backoff_s:
            return 0.0
        jitter = _fraction(key, errors)
        base = self.backoff_s * 2.0 ** max(errors - 1, 0)
        asked = retry_after(error) if error is not None else None
        if asked is not None:
            base = max(base, asked)
        return min(base * (1.0 + 0.5 * jitter), self.max_backoff_s)


def retry_after(error: BaseException) -> float | None:
    """The seconds a provider asked to wait before retrying, if the error says.

    Read from the error's ``retry_after`` attribute, or from the ``retry-after-ms`` or
    ``retry-after`` header (seconds or an HTTP date) of its ``response``, as the OpenAI
    and Anthropic clients' rate-limit errors carry it.
    """
    value = getattr(error, "retry_after", None)
    headers = getattr(getattr(error, "response", None), "headers", None)
    if value is None and headers is not None:
        if (ms := _seconds(headers.get("retry-after-ms"))) is not None:
            return ms / 1000.0
        value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is None:
        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return None
        seconds = max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return seconds


def _fraction(key: str, n: int) -> float:
    """A number in [0, 1] drawn from a request key: jitter that never touches the model's rng."""
    return int(hashlib.sha256(f"{key}:{n}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _status(error: BaseException) -> int | None:
    """The HTTP status of a provider's error, where it carries one."""
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _describe(error: BaseException) -> str:
    """An error as recorded: the message of a parse error, else its type and message."""
    return str(error) if isinstance(error, ActionParseError) else f"{type(error).__name__}: {error}"


def _after_reasoning(messages: Messages, reasoning: str, space: ActionSpace[Any]) -> Messages:
    """What is scored after a reasoning: the prompt, the reasoning as its answer, a request for the answer."""
    return (*messages, ("ai", reasoning), ("human", f"Now give your final answer. {space.instructions()}"))


async def _invoke(request: Request, messages: Messages, slots: Slots, scored: bool) -> Any:
    """The backend's result for ``messages``: option scores, or a message (or a dict holding it).

    A backend with only a sync API runs on its own threads (:class:`~.loop.Workers`); one
    that scores several prompts at once gets the scorings started together in one batch
    (:class:`~.loop.Scorings`).
    """
    question = request.question
    backend = question.backend
    chat = to_langchain(messages)
    if scored:  # only for an OptionScorer (Capabilities.scores)
        scorer, labels = cast(OptionScorer, backend.model), question.space.labels
        if backend.batches:
            return await slots.scorings(scorer, backend.name).score(chat, labels)
        if backend.sync_only:
            workers = slots.workers(backend.model, backend.name)
            return await workers.run(lambda: scorer.score_options(chat, labels))
        return await scorer.ascore_options(chat, labels)
    runnable = question.runnable if question.runnable is not None else backend.model
    if backend.sync_only:
        return await slots.workers(backend.model, backend.name).run(lambda: runnable.invoke(chat))
    return await runnable.ainvoke(chat)


def _answer(result: Any, scored: bool) -> CachedAnswer:
    """A backend result as stored: option probabilities, a tool call's arguments, or text."""
    if scored:
        scores: OptionScores = result
        return CachedAnswer(json.dumps(scores.probabilities), scores.tokens_in, 0)
    message: AIMessage = result["raw"] if isinstance(result, dict) else result
    usage = message.usage_metadata
    if message.tool_calls:
        raw = json.dumps(message.tool_calls[0]["args"], ensure_ascii=False)
    else:
        raw = message.text
    if usage is None:
        return CachedAnswer(raw)
    return CachedAnswer(raw, usage.get("input_tokens", 0), usage.get("output_tokens", 0))


def _interpret(request: Request, raw: str, record: CallRecord) -> Any:
    """The action of an answer; for a scored request, its probabilities go into ``record``.

    Raises:
        ActionParseError: if the answer is not an action (or a distribution over them).
    """
    question = request.question
    if not question.scored:
        return question.space.parse(raw, question.mode)
    try:
        record.probabilities = normalise(json.loads(raw), question.space.labels)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ActionParseError(f"unusable option probabilities {raw!r}: {exc}") from exc
    return None  # drawn per agent by the decision phase
