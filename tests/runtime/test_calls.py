"""One call's lifecycle: records, retries, corrections, errors, timeouts, fallbacks, rate limits."""

import time

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter

from mesa_llm import (
    FaultyChatModel,
    FunctionChatModel,
    LLMRuntime,
    ScriptedChatModel,
)
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
    runtime = LLMRuntime(fates, timeout=0.02, retries=10)
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
