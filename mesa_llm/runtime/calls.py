"""One call's lifecycle: cache, bounded and timed backend call, parsing, retries, fallback, record.

:meth:`Calls.decide` never raises for a failing backend: every error, timeout and
unparseable answer is counted in the decision's :class:`~mesa_llm.records.CallRecord`,
retried with a corrective message, and finally replaced by the action space's fallback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.messages import AIMessage
from langchain_core.rate_limiters import BaseRateLimiter

from mesa_llm.actions import ActionParseError
from mesa_llm.backends.scoring import OptionScorer, OptionScores, normalise
from mesa_llm.cache import CachedAnswer, ResponseCache
from mesa_llm.prompts import Messages, to_langchain
from mesa_llm.records import CallRecord
from mesa_llm.runtime.loop import Slots
from mesa_llm.runtime.requests import Request

__all__ = ["Calls"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Calls:
    """How the calls of one decision phase are made.

    Attributes:
        timeout: seconds before one call is abandoned (counted as a timeout, retried).
        retries: extra attempts after an error, a timeout or an unparseable answer.
        rate_limiter: acquired before every backend call, if given.
        cache: looked up before every call and filled after it, if given.
    """

    timeout: float
    retries: int
    rate_limiter: BaseRateLimiter | None
    cache: ResponseCache | None

    async def decide(self, request: Request, slots: Slots) -> tuple[Any, CallRecord]:
        """The action of ``request`` and its record: ask, parse, retry, fall back."""
        agent, space, backend = request.agent, request.space, request.backend
        model = agent.model
        record = CallRecord(
            step=model.steps,
            time=model.time,
            agent_id=agent.unique_id,
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
                action = _interpret(request, answer.raw, record)
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

    async def _call(
        self, request: Request, messages: Messages, record: CallRecord, slots: Slots
    ) -> CachedAnswer | None:
        """One backend call, bounded and timed; None (with the error recorded) if it failed."""
        backend = request.backend
        async with slots.total, slots.of(backend.model, backend.parallel):
            if self.rate_limiter is not None:
                await self.rate_limiter.aacquire()
            record.backend_calls += 1
            started = time.perf_counter()
            try:
                result = await asyncio.wait_for(_invoke(request, messages), self.timeout)
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
        return _answer(request, result)


async def _invoke(request: Request, messages: Messages) -> Any:
    """The backend's result for ``messages``: option scores, or a message (or a dict holding it)."""
    model = request.backend.model
    if request.scored:  # only for an OptionScorer (Capabilities.scores)
        return await cast(OptionScorer, model).ascore_options(to_langchain(messages), request.space.labels)
    runnable = request.runnable if request.runnable is not None else model
    return await runnable.ainvoke(to_langchain(messages))


def _answer(request: Request, result: Any) -> CachedAnswer:
    """A backend result as stored: option probabilities, a tool call's arguments, or text."""
    if request.scored:
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
    if not request.scored:
        return request.space.parse(raw)
    try:
        record.probabilities = normalise(json.loads(raw), request.space.labels)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ActionParseError(f"unusable option probabilities {raw!r}: {exc}") from exc
    return None  # drawn per agent by the decision phase
