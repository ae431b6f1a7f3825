"""The decision phase: steps, concurrency, retries, fallbacks, timeouts, dedup, determinism."""

import asyncio
import random
import threading
import time

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from mesa_llm import (
    BackendError,
    FaultyChatModel,
    FunctionChatModel,
    InMemoryCache,
    LLMRuntime,
    ScriptedChatModel,
)
from tests.world import (
    LLM,
    Obs,
    Rule,
    Tell,
    Teller,
    World,
    chat,
    crowd_rule,
    moved_of,
)

# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"max_concurrency": 0}, "max_concurrency"), ({"timeout": 0}, "timeout"), ({"retries": -1}, "retries")],
)
def test_invalid_settings_raise_value_error(kwargs, word):
    with pytest.raises(ValueError, match=word):
        LLMRuntime(**kwargs)


def test_backend_string_is_resolved_at_construction():
    with pytest.raises(BackendError):
        LLMRuntime("nonexistent_provider:foo")


# --------------------------------------------------------------------------- steps


def test_step_decides_on_one_snapshot_then_acts():
    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (0, 3, 1, 5)]
    actions = runtime.step(agents)
    assert [actions[a] for a in agents] == ["stay", "move", "stay", "move"]
    assert [a.done for a in agents] == [["stay"], ["move"], ["stay"], ["move"]]
    # every decision saw the snapshot before anyone moved
    assert sorted(moved_of(p) for p in recorder.prompts) == [0, 0, 0, 0]
    assert model.acted == agents
    assert [r.agent_id for r in runtime.log.records] == [a.unique_id for a in agents]
    assert [r.action for r in runtime.log.records] == ["stay", "move", "stay", "move"]


def test_step_with_rng_acts_in_shuffled_order():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in range(8)]
    runtime.step(agents, rng=random.Random(42))
    expected = list(agents)
    random.Random(42).shuffle(expected)
    assert expected != agents
    assert model.acted == expected
    assert [r.agent_id for r in runtime.log.records] == [a.unique_id for a in expected]


def test_step_uses_given_observations_and_observes_the_rest():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    a, b = LLM(model, crowd=0, runtime=runtime), LLM(model, crowd=0, runtime=runtime)
    actions = runtime.step([a, b], observations={a: Obs(crowd=9, moved=0)})
    assert actions == {a: "move", b: "stay"}
    assert a.last_observation == Obs(9, 0)
    assert b.last_observation == Obs(0, 0)


def test_rule_and_llm_agents_mixed_in_one_step():
    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    crowds = [0, 1, 3, 4, 2, 7]
    rules = [Rule(model, crowd=c) for c in crowds]
    llms = [LLM(model, crowd=c, runtime=runtime) for c in crowds]
    actions = runtime.step(model.agents, rng=model.random)
    # an LLM agent whose backend follows the rule acts exactly like the rule agent
    assert [actions[a] for a in rules] == [actions[a] for a in llms]
    assert [actions[a] for a in rules] == ["stay", "stay", "move", "move", "stay", "move"]
    assert all(len(a.done) == 1 for a in rules + llms)
    assert len(runtime.log) == len(llms)
    assert {r.agent_type for r in runtime.log.records} == {"LLM"}
    assert recorder.calls == len(llms)


def test_records_carry_model_step_and_time():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    agent = LLM(model, crowd=1, runtime=runtime)
    model.step()
    model.step()
    assert [(r.step, r.time) for r in runtime.log.records] == [(1, 1.0), (2, 2.0)]
    assert agent.done == ["stay", "stay"]


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


def test_sequential_step_lets_each_agent_see_earlier_actions():
    def move_while_few_moved(messages):
        return "move" if moved_of(messages) < 2 else "stay"

    def run(sequential):
        runtime = LLMRuntime(chat(move_while_few_moved, name="few")[0])
        model = World(runtime)
        agents = [LLM(model, crowd=0, runtime=runtime) for _ in range(4)]
        actions = runtime.step(agents, sequential=sequential)
        return [actions[a] for a in agents], [r.messages[-1][1].split(".")[0] for r in runtime.log.records]

    actions, seen = run(sequential=True)
    assert actions == ["move", "move", "stay", "stay"]
    assert seen == ["0 have moved", "1 have moved", "2 have moved", "2 have moved"]
    actions, seen = run(sequential=False)
    assert actions == ["move"] * 4
    assert seen == ["0 have moved"] * 4


def test_sequential_step_mixes_rule_and_llm_agents():
    runtime = LLMRuntime(chat(lambda m: "move" if moved_of(m) == 0 else "stay", name="first")[0])
    model = World(runtime)
    rule, llm = Rule(model, crowd=5), LLM(model, crowd=5, runtime=runtime)
    actions = runtime.step([rule, llm], sequential=True)
    assert actions == {rule: "move", llm: "stay"}
    assert model.moved == 1


def test_decide_many_returns_actions_in_request_order():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (5, 0, 4)]
    assert runtime.decide_many([(a, a.observe()) for a in agents]) == ["move", "stay", "move"]


def test_progress_counts_the_distinct_prompts_of_the_latest_phase():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    assert (runtime.progress.prompts, runtime.progress.answered) == (0, 0)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (5, 0, 5, 4)]
    runtime.decide_many([(a, a.observe()) for a in agents])
    assert (runtime.progress.prompts, runtime.progress.answered) == (3, 3)  # two agents share a prompt


# --------------------------------------------------------------------------- retries and fallbacks


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


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("limit", [1, 3])
def test_max_concurrency_bounds_calls_in_flight(limit):
    backend = FaultyChatModel(inner=chat()[0], latency=0.02)
    runtime = LLMRuntime(backend, max_concurrency=limit)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in range(9)]
    runtime.step(agents)
    assert backend.calls == 9
    assert backend.peak_in_flight == limit


def test_calls_run_concurrently():
    backend = FaultyChatModel(inner=chat()[0], latency=0.05)
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in range(10)]
    runtime.step(agents)
    assert backend.peak_in_flight == 10  # all ten waited at once (speed itself: benchmarks/)


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


# --------------------------------------------------------------------------- dedup


def test_identical_prompts_at_temperature_zero_are_sent_once():
    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [LLM(model, crowd=5, runtime=runtime) for _ in range(5)]
    actions = runtime.step(agents)
    assert list(actions.values()) == ["move"] * 5
    assert recorder.calls == 1
    leader, *followers = runtime.log.records
    assert (leader.shared, leader.backend_calls, leader.agent_id) == (False, 1, agents[0].unique_id)
    assert [r.agent_id for r in followers] == [a.unique_id for a in agents[1:]]
    for record in followers:
        assert (record.shared, record.backend_calls, record.tokens_in, record.latency_s) == (True, 0, 0, 0.0)
        assert (record.action, record.raw, record.messages) == ("move", leader.raw, leader.messages)
    totals = runtime.log.totals
    assert (totals.decisions, totals.calls, totals.shared) == (5, 1, 4)


def test_dedup_groups_only_identical_prompts():
    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (1, 1, 5, 5, 5)]
    actions = runtime.step(agents)
    assert [actions[a] for a in agents] == ["stay", "stay", "move", "move", "move"]
    assert recorder.calls == 2
    assert [r.shared for r in runtime.log.records] == [False, True, False, True, True]


def test_dedup_never_shares_across_backends():
    first, first_calls = chat(lambda _m: "stay", name="first")
    second, second_calls = chat(lambda _m: "move", name="second")
    runtime = LLMRuntime(first)
    model = World(runtime)
    a = LLM(model, crowd=1, runtime=runtime)
    b = LLM(model, crowd=1, runtime=runtime, backend=second)
    assert runtime.step([a, b]) == {a: "stay", b: "move"}
    assert (first_calls.calls, second_calls.calls) == (1, 1)


@pytest.mark.parametrize(
    ("temperature", "dedup", "calls"),
    [
        (0.7, None, 5),  # off by default when answers are sampled
        (0.0, False, 5),  # can be turned off at temperature 0
        (0.7, True, 1),  # can be turned on on purpose
    ],
)
def test_dedup_setting_and_its_default(temperature, dedup, calls):
    backend, recorder = chat(temperature=temperature)
    runtime = LLMRuntime(backend, dedup=dedup)
    world = World(runtime)
    runtime.step([LLM(world, crowd=5, runtime=runtime) for _ in range(5)])
    assert recorder.calls == calls
    assert runtime.log.totals.shared == 5 - calls
    assert sum(r.shared for r in runtime.log.records) == 5 - calls


def test_faulty_wrapper_keeps_the_sampling_temperature_of_its_inner_model():
    inner, recorder = chat(temperature=0.7)
    runtime = LLMRuntime(FaultyChatModel(inner=inner))
    model = World(runtime)
    runtime.step([LLM(model, crowd=5, runtime=runtime) for _ in range(3)])
    assert recorder.calls == 3


# --------------------------------------------------------------------------- determinism


def test_same_answers_whatever_the_completion_order():
    def run(seed):
        inner, recorder = chat()
        backend = FaultyChatModel(inner=inner, latency=(0.0, 0.03), seed=seed)
        runtime = LLMRuntime(backend)
        model = World(runtime)
        for c in range(10):
            LLM(model, crowd=c % 5, runtime=runtime, persona=f"You are resident {c}.")
        model.step()
        completion = [p[0].content for p in recorder.prompts]
        actions = [(a.unique_id, a.done) for a in model.agents]
        records = [(r.agent_id, r.action, r.raw, r.messages) for r in runtime.log.records]
        return completion, actions, records, [a.unique_id for a in model.acted]

    runs = [run(seed) for seed in (1, 2, 3)]
    completions = [r[0] for r in runs]
    assert len({tuple(c) for c in completions}) > 1, "the seeds should give different completion orders"
    for _completion, actions, records, acted in runs[1:]:
        assert actions == runs[0][1]
        assert records == runs[0][2]
        assert acted == runs[0][3]


def test_nth_identical_request_gets_its_own_cache_entry():
    script = ["stay", "move", "move", "stay", "move", "stay", "stay", "move"]

    def run():
        backend = ScriptedChatModel(responses=script, temperature=0.7)
        runtime = LLMRuntime(backend, cache=cache)
        model = World(runtime)
        agents = [LLM(model, crowd=1, runtime=runtime) for _ in range(4)]
        steps = []
        for _ in range(2):
            actions = runtime.step(agents)
            steps.append([actions[a] for a in agents])
        return steps, backend.calls, runtime.log

    cache = InMemoryCache()
    first, calls, log = run()
    assert calls == 8
    assert len(cache) == 8
    assert all(set(step) == {"stay", "move"} for step in first), "agents keep independent samples"
    assert log.totals.cache_hits == 0
    again, calls, log = run()
    assert again == first
    assert calls == 0
    assert all(r.cache_hit and r.backend_calls == 0 for r in log.records)
    assert log.totals.cache_hits == 8


# --------------------------------------------------------------------------- structured output


def test_pydantic_space_uses_structured_output():
    backend, recorder = chat(lambda _m: '{"target":3,"topic":"rumour"}', name="teller")
    runtime = LLMRuntime(backend)
    agent = Teller(World(runtime), crowd=2, runtime=runtime)
    action = agent.decide(agent.observe())
    assert action == Tell(target=3, topic="rumour")
    # the answer came back as tool-call arguments, re-serialised by the runtime
    assert agent.last_record.raw == '{"target": 3, "topic": "rumour"}'
    assert agent.last_record.action == Tell(target=3, topic="rumour").model_dump_json()
    assert recorder.calls == 1


def test_pydantic_space_in_text_when_structured_is_false():
    runtime = LLMRuntime(chat(lambda _m: '{"target":3,"topic":"rumour"}', name="teller")[0], structured=False)
    agent = Teller(World(runtime), crowd=2, runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=3, topic="rumour")
    assert agent.last_record.raw == '{"target":3,"topic":"rumour"}'


def test_invalid_structured_answers_fall_back():
    runtime = LLMRuntime(chat(lambda _m: '{"target": "x"}', name="bad-teller")[0], retries=1)
    agent = Teller(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=0, topic="news")
    record = agent.last_record
    assert (record.parse_failures, record.fallback) == (2, True)


def test_structured_true_with_a_choice_space():
    runtime = LLMRuntime(chat(lambda _m: "move", name="mover")[0], structured=True)
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    assert agent.last_record.raw == '{"action": "move"}'


def test_choice_space_answers_in_text_by_default():
    runtime = LLMRuntime(chat(lambda _m: "move", name="mover")[0])
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    assert agent.last_record.raw == "move"


def test_backend_without_structured_output_answers_in_text():
    answer = 'Here you go:\n```json\n{"target": 1, "topic": "news"}\n```'
    runtime = LLMRuntime(FakeListChatModel(responses=[answer]), structured=True)
    agent = Teller(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=1, topic="news")
    assert agent.last_record.raw == answer


class SchemaOnly(FunctionChatModel):
    """A backend with its own with_structured_output but no tool binding (like some providers)."""

    bind_tools = BaseChatModel.bind_tools
    schemas: list = Field(default_factory=list)

    def with_structured_output(self, schema, *, include_raw=False, **kwargs):
        self.schemas.append(schema)
        answer = FunctionChatModel.bind_tools(self, [schema])
        return RunnableLambda(lambda messages: {"raw": answer.invoke(messages), "parsed": None})


def test_backend_with_only_with_structured_output_uses_it():
    backend = SchemaOnly(fn=lambda _m: '{"target": 2, "topic": "news"}', model_name="schema-only")
    runtime = LLMRuntime(backend)
    agent = Teller(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=2, topic="news")
    assert agent.decide(agent.observe()) == Tell(target=2, topic="news")
    assert backend.schemas == [Tell]  # built once, reused
    assert agent.last_record.raw == '{"target": 2, "topic": "news"}'


# --------------------------------------------------------------------------- event loops


def test_sync_decide_works_inside_a_running_event_loop():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    agent = LLM(model, crowd=7, runtime=runtime)
    others = [LLM(model, crowd=c, runtime=runtime) for c in (0, 4)]

    async def main():
        asyncio.get_running_loop()  # a loop is running here, as in Jupyter or Solara
        decided = agent.decide(agent.observe())
        stepped = runtime.step(others)
        awaited = await agent.adecide(agent.observe())
        return decided, [stepped[a] for a in others], awaited

    assert asyncio.run(main()) == ("move", ["stay", "move"], "move")
    assert len(runtime.log) == 4


def test_adecide_many_on_the_callers_loop():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (3, 0)]
    actions = asyncio.run(runtime.adecide_many([(a, a.observe()) for a in agents]))
    assert actions == ["move", "stay"]
    assert [r.agent_id for r in runtime.log.records] == [a.unique_id for a in agents]


def test_max_concurrency_bounds_concurrent_adecide_calls():
    backend = FaultyChatModel(inner=chat()[0], latency=0.02)
    runtime = LLMRuntime(backend, max_concurrency=2)
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in range(6)]

    async def main():
        return await asyncio.gather(*(a.adecide(a.observe()) for a in agents))

    assert asyncio.run(main()) == ["stay", "stay", "stay", "move", "move", "move"]
    assert backend.peak_in_flight <= 2


def test_every_runtime_shares_one_event_loop_thread():
    """Mesa models are rarely garbage collected, so a loop per runtime would leak threads in sweeps."""
    for seed in range(8):
        backend, _ = chat()
        world = World(LLMRuntime(backend), rng=seed)
        LLM(world, crowd=seed, runtime=world.runtime)
        world.step()
    assert sum(t.name == "mesa-llm-loop" for t in threading.enumerate()) == 1


class OneAtATime(FaultyChatModel):
    """A slow backend that can run one call at a time, as the local model does."""

    max_parallel_calls: int = 1


def test_a_backend_limit_on_parallel_calls_is_kept_and_latency_excludes_the_queue():
    inner, _ = chat(name="one-at-a-time")
    backend = OneAtATime(inner=inner, latency=0.05)
    runtime = LLMRuntime(backend, max_concurrency=8, dedup=False)
    model = World(runtime)
    agents = [LLM(model, crowd=n, runtime=runtime) for n in range(6)]
    started = time.perf_counter()
    model.step()
    elapsed = time.perf_counter() - started
    assert backend.peak_in_flight == 1
    assert elapsed >= 6 * 0.05
    for agent in agents:  # each call's own time, not the time it waited for its turn
        assert agent.last_record.latency_s < 0.05 * 2.5


class SometimesFixed(LLM):
    """Moves without asking the model when its crowd is over 5."""

    def decide_without_model(self, observation):
        return "move" if observation.crowd > 5 else None


def test_decisions_without_the_model_make_no_call_and_no_record():
    backend, recorder = chat(lambda _m: "stay", name="always-stay-fixed")
    runtime = LLMRuntime(backend, dedup=False)
    model = World(runtime)
    fixed = [SometimesFixed(model, crowd=9, runtime=runtime) for _ in range(3)]
    asked = [SometimesFixed(model, crowd=1, runtime=runtime) for _ in range(2)]
    model.step()
    assert [a.done for a in fixed] == [["move"]] * 3
    assert [a.done for a in asked] == [["stay"]] * 2
    assert recorder.calls == 2
    assert len(runtime.log) == 2
    assert all(a.last_record is None for a in fixed)
