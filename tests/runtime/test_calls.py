"""One call's lifecycle: records, retries, corrections, errors, timeouts, fallbacks, rate limits."""

import threading
import time

import httpx
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter

from mesa_llm import (
    FaultyChatModel,
    FunctionChatModel,
    InMemoryCache,
    LLMRuntime,
    ScriptedChatModel,
)
from mesa_llm.runtime.calls import Calls, retry_after
from tests.world import (
    LLM,
    World,
    chat,
    crowd_rule,
)


def test_records_carry_tokens_latency_and_backend_name():
    backend = FaultyChatModel(inner=chat(lambda _m: "I will move now")[0], latency=0.01, model_name="slow")
    runtime = LLMRuntime(backend)
    agent = LLM(World(runtime), crowd=1, runtime=runtime)
    agent.decide(agent.observe())
    record = agent.last_record
    prompt_words = sum(len(content.split()) for _, content in record.messages)
    assert (record.tokens_in, record.tokens_out) == (prompt_words, 4)
    assert record.latency_s >= 0.009
    assert record.backend == "slow"
    assert (record.attempts, record.backend_calls, record.fallback, record.error) == (1, 1, False, None)
    assert runtime.log.totals.tokens_out == 4


def test_malformed_answers_are_retried():
    runtime = LLMRuntime(ScriptedChatModel(responses=["hmm", "maybe?", "move"]), retries=2)
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    record = agent.last_record
    assert (record.attempts, record.backend_calls, record.parse_failures) == (3, 3, 2)
    assert (record.fallback, record.raw, record.action) == (False, "move", "move")
    totals = runtime.log.totals
    assert (totals.calls, totals.retries, totals.parse_failures, totals.fallbacks) == (3, 2, 2, 0)


def test_unparseable_answers_end_in_the_fallback():
    runtime = LLMRuntime(chat(lambda _m: "stay or move, who knows", name="dither")[0], retries=1)
    agent = LLM(World(runtime), crowd=9, runtime=runtime)
    assert agent.decide(agent.observe()) == "stay"
    record = agent.last_record
    assert record.fallback
    assert (record.attempts, record.backend_calls, record.parse_failures, record.errors) == (2, 2, 2, 0)
    assert record.action == "stay"
    assert record.raw == "stay or move, who knows"
    assert "exactly one" in record.error
    totals = runtime.log.totals
    assert (totals.decisions, totals.retries, totals.parse_failures, totals.fallbacks) == (1, 1, 2, 1)


def test_zero_retries_means_one_attempt():
    backend, recorder = chat(lambda _m: "hmm", name="hmm")
    runtime = LLMRuntime(backend, retries=0)
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "stay"
    assert recorder.calls == 1
    assert agent.last_record.attempts == 1
    assert runtime.log.totals.retries == 0


def test_retry_sends_the_bad_answer_and_a_correction():
    answers = iter(["I am not sure", "move"])
    backend, recorder = chat(lambda _m: next(answers), name="unsure")
    runtime = LLMRuntime(backend, retries=2)
    agent = LLM(World(runtime), crowd=1, runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    first, second = recorder.prompts
    assert [type(m) for m in first] == [SystemMessage, HumanMessage]
    assert [type(m) for m in second] == [SystemMessage, HumanMessage, AIMessage, HumanMessage]
    assert second[:2] == first
    assert second[2].content == "I am not sure"
    correction = second[3].content
    assert correction.startswith("That answer could not be used")
    assert LLM.action_space.instructions() in correction
    # the record keeps the prompt of the first attempt
    assert agent.last_record.messages == agent.messages(agent.observe())


def test_exceptions_are_retried():
    calls = []

    def flaky(_messages):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("flaky backend")
        return "move"

    runtime = LLMRuntime(chat(flaky, name="flaky")[0], retries=1)
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    record = agent.last_record
    assert (record.attempts, record.backend_calls, record.errors, record.fallback) == (2, 2, 1, False)
    assert record.error == "RuntimeError: flaky backend"
    assert runtime.log.totals.errors == 1


@pytest.mark.parametrize(
    "backend",
    [
        FaultyChatModel(inner=FunctionChatModel(fn=crowd_rule), error_rate=1.0),
        ScriptedChatModel(responses=[]),
        FunctionChatModel(fn=lambda _m: 1 / 0, model_name="zero-division"),
    ],
    ids=["injected-fault", "exhausted-script", "zero-division"],
)
def test_a_backend_failing_on_every_call_never_raises_out_of_step(backend):
    runtime = LLMRuntime(backend, retries=2)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (1, 5, 9)]
    actions = runtime.step(agents)
    assert list(actions.values()) == ["stay"] * 3
    assert [a.done for a in agents] == [["stay"]] * 3
    for record in runtime.log.records:
        assert (record.attempts, record.backend_calls, record.errors, record.fallback) == (3, 3, 3, True)
        assert record.raw == ""
        assert record.error
    totals = runtime.log.totals
    assert (totals.decisions, totals.errors, totals.retries, totals.fallbacks) == (3, 9, 6, 3)


def test_timeouts_are_counted_and_retried_then_fall_back():
    backend = FaultyChatModel(inner=chat()[0], timeout_rate=1.0, hang_s=5.0)
    runtime = LLMRuntime(backend, timeout=0.02, retries=1)
    agent = LLM(World(runtime), crowd=9, runtime=runtime)
    started = time.perf_counter()
    assert agent.decide(agent.observe()) == "stay"
    assert time.perf_counter() - started < 2.0
    record = agent.last_record
    assert (record.attempts, record.timeouts, record.errors, record.fallback) == (2, 2, 2, True)
    assert "timed out" in record.error
    assert backend.calls == 2
    totals = runtime.log.totals
    assert (totals.timeouts, totals.errors, totals.fallbacks, totals.retries) == (2, 2, 1, 1)


def test_a_timeout_then_a_good_answer():
    fates = FaultyChatModel(inner=chat()[0], timeout_rate=0.5, hang_s=5.0, seed=0)
    runtime = LLMRuntime(fates, timeout=0.02, retries=10, backoff_s=0.001)
    model = World(runtime)
    agents = [LLM(model, crowd=9, runtime=runtime, persona=f"Resident {i}") for i in range(6)]
    assert list(runtime.step(agents).values()) == ["move"] * 6
    totals = runtime.log.totals
    assert totals.timeouts > 0
    assert totals.fallbacks == 0
    assert totals.calls == 6 + totals.timeouts


def test_rate_limiter_is_acquired_before_every_call():
    class CountingLimiter(InMemoryRateLimiter):
        acquired = 0

        async def aacquire(self, *, blocking=True):
            type(self).acquired += 1
            return await super().aacquire(blocking=blocking)

    limiter = CountingLimiter(requests_per_second=100, check_every_n_seconds=0.002, max_bucket_size=1)
    runtime = LLMRuntime(chat()[0], rate_limiter=limiter)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in range(5)]
    started = time.perf_counter()
    runtime.step(agents)
    elapsed = time.perf_counter() - started
    assert CountingLimiter.acquired == 5
    # 100 requests/s with a bucket of 1: five calls take at least four intervals
    assert elapsed >= 0.035


# ------------------------------------------------------------ faults and hostile answers


def decide_once(answer, **settings):
    runtime = LLMRuntime(chat(answer, name=f"answer-{id(answer)}")[0], **settings)
    agent = LLM(World(runtime), crowd=9, runtime=runtime)
    return agent.decide(agent.observe()), agent.last_record, runtime


@pytest.mark.parametrize(
    "answer",
    ['{"a":' * 2000, "[" * 50_000, "{" * 100_000, '{"action": ' * 3000 + '"move"' + "}" * 3000],
    ids=["nested-object", "nested-list", "braces", "deep-valid-looking"],
)
def test_a_hostile_answer_is_a_parse_failure_never_a_crash(answer):
    action, record, runtime = decide_once(lambda _m: answer, retries=1)
    assert action == "stay"
    assert (record.fallback, record.parse_failures, record.errors) == (True, 2, 0)
    assert runtime.log.totals.parse_failures == 2


def test_an_exception_of_any_kind_while_parsing_is_a_parse_failure(monkeypatch):
    def explode(self, text, mode):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(LLM.action_space, "parse", explode.__get__(LLM.action_space))
    action, record, _ = decide_once(lambda _m: "stay", retries=0)
    assert (action, record.fallback, record.parse_failures) == ("stay", True, 1)
    assert record.error == "RecursionError: maximum recursion depth exceeded"


def test_answers_over_the_cap_are_rejected_unread_and_counted():
    long = "I thought about it. " * 100 + "move"
    action, record, runtime = decide_once(lambda _m: long, retries=1, max_answer_chars=500)
    assert action == "stay"
    assert (record.fallback, record.parse_failures, record.oversized) == (True, 2, 2)
    assert "more than max_answer_chars=500" in record.error
    assert runtime.log.totals.oversized == 2
    # the retry shows the model its answer cut at the cap, not all of it
    retried = decide_once(
        lambda m: "move" if len(m) > 2 and len(m[2].content) == 500 else long, retries=1, max_answer_chars=500
    )
    assert retried[0] == "move"


def test_a_long_answer_under_the_cap_is_parsed_off_the_loop(monkeypatch):
    threads = []
    original = LLM.action_space.parse

    def parse(text, mode):
        threads.append(threading.current_thread().name)
        return original(text, mode)

    monkeypatch.setattr(LLM.action_space, "parse", parse)
    decide_once(lambda _m: "x " * 3000 + "\nmove", retries=0)
    decide_once(lambda _m: "move", retries=0)
    assert threads[0] != "mesa-llm-loop"  # 6,000 characters: in a worker thread
    assert threads[1] == "mesa-llm-loop"  # a short answer is parsed where it arrives


def test_the_rate_limit_of_a_provider_is_waited_and_counted():
    backend = FaultyChatModel(inner=chat()[0], rate_limit_rate=1.0, retry_after_s=0.15)
    runtime = LLMRuntime(backend, retries=2, backoff_s=0.01)
    agent = LLM(World(runtime), crowd=9, runtime=runtime)
    started = time.perf_counter()
    agent.decide(agent.observe())
    elapsed = time.perf_counter() - started
    record = agent.last_record
    assert (record.errors, record.rate_limited, record.fallback) == (3, 3, True)
    assert elapsed >= 2 * 0.15  # two waits of Retry-After (not of backoff_s) before the retries
    assert runtime.log.totals.rate_limited == 3


def test_errors_back_off_exponentially_with_jitter_and_a_cap():
    calls = Calls(timeout=1.0, retries=5, rate_limiter=None, cache=None, backoff_s=0.5, max_backoff_s=3.0)
    waits = [calls._backoff("key", errors, RuntimeError("boom")) for errors in range(1, 6)]
    for errors, wait in enumerate(waits[:3], start=1):
        base = 0.5 * 2 ** (errors - 1)
        assert base <= wait <= 1.5 * base
    assert waits[-1] == 3.0
    assert calls._backoff("other key", 1, RuntimeError("boom")) != waits[0]  # jitter differs by request
    assert calls._backoff("key", 1, RuntimeError("boom")) == waits[0]  # and never touches an rng
    assert Calls(1.0, 1, None, None, backoff_s=0.0)._backoff("key", 3, None) == 0.0


def test_parse_errors_are_retried_at_once_without_backoff():
    started = time.perf_counter()
    _, record, _ = decide_once(lambda _m: "hmm", retries=3, backoff_s=5.0)
    assert record.parse_failures == 4
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: at once
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_from_the_providers_response(headers, expected):
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    error = openai.RateLimitError(
        "rate limited", response=httpx.Response(429, headers=headers, request=request), body=None
    )
    assert retry_after(error) == expected
    assert retry_after(RuntimeError("no response")) is None


def test_a_failure_after_an_answer_leaves_the_cache_without_it():
    cache = InMemoryCache()
    _, record, _ = decide_once(lambda _m: "who knows", retries=1, cache=cache)
    assert record.fallback
    assert len(cache) == 0
