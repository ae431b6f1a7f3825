"""The decision phase: construction, steps, activation, records, progress, dedup, determinism."""

import math
import random

import pytest

from mesa_llm import (
    BackendError,
    FaultyChatModel,
    LLMRuntime,
)
from tests.world import (
    LLM,
    Obs,
    Rule,
    World,
    chat,
    moved_of,
)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": math.nan}, "timeout .* finite"),
        ({"timeout": math.inf}, "timeout .* finite"),
        ({"retries": -1}, "retries"),
        ({"backoff_s": -1.0}, "backoff_s"),
        ({"max_answer_chars": 0}, "max_answer_chars"),
    ],
)
def test_invalid_settings_raise_value_error(kwargs, word):
    with pytest.raises(ValueError, match=word):
        LLMRuntime(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"cache": "x.sqlite"}, r"cache must be a response cache such as SQLiteCache\('x.sqlite'\)"),
        ({"cache": {}}, r"such as InMemoryCache\(\)"),
        ({"retries": 1.5}, "retries must be a whole number"),
        ({"max_concurrency": "8"}, "max_concurrency must be a whole number, got '8'; pass 8"),
        ({"timeout": "5"}, "timeout .* must be a number, got '5'; pass 5"),
        ({"rate_limiter": "x"}, "rate_limiter must be a LangChain rate limiter such as InMemoryRateLimiter"),
        ({"dedup": "no"}, "dedup must be True or False, got 'no'; pass False"),
        ({"scoring": 1}, "scoring must be True or False"),
        ({"log": []}, "log must be a mesa_llm.CallLog"),
        ({"backend": 3}, "backend must be a LangChain chat model"),
    ],
)
def test_settings_of_the_wrong_type_fail_at_construction_with_the_fix(kwargs, fix):
    with pytest.raises(TypeError, match=fix):
        LLMRuntime(**kwargs)


def test_backend_string_is_resolved_at_construction():
    with pytest.raises(BackendError):
        LLMRuntime("nonexistent_provider:foo")


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


def test_a_backend_function_is_called_once_when_the_first_llm_agent_needs_it():
    made = []

    def create():
        made.append(chat()[0])
        return made[-1]

    runtime = LLMRuntime(create)
    model = World(runtime)
    Rule(model, crowd=5)
    assert (made, runtime.backend) == ([], None)  # rule agents need no backend
    agents = [LLM(model, crowd=c, runtime=runtime) for c in (0, 5)]
    assert len(made) == 1
    assert all(agent.chat_model is made[0] is runtime.backend for agent in agents)
    model.step()
    assert [a.done for a in agents] == [["stay"], ["move"]]


def test_a_failing_backend_function_fails_the_first_llm_agent_and_leaves_no_agent():
    def create():
        raise BackendError("no such backend")

    model = World(LLMRuntime(create))
    with pytest.raises(BackendError, match="no such backend"):
        LLM(model, runtime=model.runtime)
    assert len(model.agents) == 0


def test_dedup_counts_each_backend_event_once():
    """Shared answers carry the action, not the leader's events: totals equal the events."""
    inner, _ = chat()
    backend = FaultyChatModel(
        inner=inner, error_rate=0.2, rate_limit_rate=0.1, malformed_rate=0.2, retry_after_s=0.0, seed=4
    )
    runtime = LLMRuntime(backend, retries=2, backoff_s=0.0)
    model = World(runtime)
    for c in range(60):
        LLM(model, crowd=c % 4, runtime=runtime)  # 4 prompts, 15 agents each
    for _ in range(5):
        model.step()
    totals, injected = runtime.log.totals, backend.injected
    assert totals.shared > 0
    assert totals.calls == backend.calls
    assert totals.errors == injected["error"] + injected["rate_limit"] > 0
    assert totals.rate_limited == injected["rate_limit"] > 0
    assert totals.parse_failures == injected["malformed"] > 0
    assert totals.retries == totals.errors + totals.parse_failures - _final_failures(runtime)
    shared = [r for r in runtime.log.records if r.shared]
    assert all((r.attempts, r.errors, r.parse_failures, r.backend_calls) == (0, 0, 0, 0) for r in shared)


def _final_failures(runtime):
    """Decisions that fell back: their last failed attempt has no retry after it."""
    return sum(r.fallback and not r.shared for r in runtime.log.records)


def test_fault_injected_runs_replay_exactly_at_any_concurrency():
    def run(concurrency):
        inner, _ = chat()
        backend = FaultyChatModel(
            inner=inner, latency=(0.0, 0.01), error_rate=0.2, malformed_rate=0.2, timeout_rate=0.1, hang_s=1.0
        )
        runtime = LLMRuntime(backend, max_concurrency=concurrency, timeout=0.2, backoff_s=0.0)
        model = World(runtime)
        for c in range(24):
            LLM(model, crowd=c % 5, runtime=runtime, persona=f"You are resident {c}.")
        for _ in range(2):
            model.step()
        return [
            (r.agent_id, r.action, r.attempts, r.errors, r.timeouts, r.parse_failures)
            for r in runtime.log.records
        ]

    assert run(1) == run(64)
