"""The event-loop bridge and the bounds: concurrency, callers' loops, one shared loop thread."""

import asyncio
import dataclasses
import subprocess
import sys
import threading
import time

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from mesa_llm import (
    FaultyChatModel,
    LLMRuntime,
    ScoringChatModel,
)
from mesa_llm.runtime.loop import Slots, Workers, WorkersExhaustedError
from tests.world import (
    LLM,
    World,
    chat,
    crowd_of,
    crowd_rule,
)


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


def test_slots_bound_each_backend_that_says_how_many_calls_it_runs_at_once():
    async def main():
        slots = Slots(4)
        one, other = object(), object()
        assert slots.of(one, 1) is slots.of(one, 1)
        assert slots.of(one, 1) is not slots.of(other, 2)
        async with slots.of(one, None):  # no bound of its own
            pass
        return slots.of(other, 2)._value, slots.total._value

    assert asyncio.run(main()) == (2, 4)


class SyncOnly(BaseChatModel):
    """A backend with only the sync API, that hangs on some prompts (as a stuck HTTP client would)."""

    hang_s: float = 60.0
    model_name: str = "sync-only"
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "sync-only"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        if crowd_of(messages) == 0:
            time.sleep(self.hang_s)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=crowd_rule(messages)))])


def test_sync_only_backends_run_on_their_own_threads_and_hung_calls_never_starve_later_ones():
    backend = SyncOnly(hang_s=3.0)
    runtime = LLMRuntime(backend, timeout=0.1, retries=0, max_concurrency=4)
    model = World(runtime)
    for c in range(12):
        LLM(model, crowd=c % 3, runtime=runtime, persona=f"Resident {c}")  # 4 hang, 8 answer
    for _ in range(3):  # more hung calls (12) than the concurrency (4): later calls still answer
        model.step()
    records = runtime.log.records
    assert sum(r.timeouts for r in records) == 12
    assert [r.action for r in records if r.timeouts == 0] == [
        crowd_rule_action(r) for r in records if r.timeouts == 0
    ]
    assert sum(r.timeouts == 0 and not r.fallback for r in records) == 24
    (slots,) = runtime._slots.values()
    assert 4 <= slots.workers(backend, "sync-only").threads <= 12 + 4  # the hung ones and the concurrency


def crowd_rule_action(record):
    crowd = int(record.messages[-1][1].split("There are ")[1].split(" ")[0])
    return "move" if crowd > 2 else "stay"


def test_workers_refuse_calls_past_their_limit_with_a_clear_error():
    workers = Workers("mesa-llm-test", limit=2)
    release = threading.Event()

    async def main():
        first = [workers.run(release.wait) for _ in range(2)]
        with pytest.raises(WorkersExhaustedError, match="all 2 threads of mesa-llm-test are still busy"):
            workers.run(release.wait)
        release.set()
        return await asyncio.gather(*first)

    assert asyncio.run(main()) == [True, True]


def test_a_hung_sync_call_never_holds_up_the_end_of_the_process():
    script = (
        "from tests.runtime.test_loop import SyncOnly\n"
        "from tests.world import LLM, World\n"
        "from mesa_llm import LLMRuntime\n"
        "runtime = LLMRuntime(SyncOnly(hang_s=120.0), timeout=0.2, retries=0)\n"
        "model = World(runtime)\n"
        "agent = LLM(model, crowd=0, runtime=runtime)\n"
        "model.step()\n"
        "print(agent.last_record.timeouts)\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "1"
    assert time.perf_counter() - started < 30  # the hung call (120 s) is abandoned, not waited for


class ManyAtOnce(ScoringChatModel):
    """A scorer that scores several prompts at once, noting the size of each batch it was sent."""

    sizes: list[int] = Field(default_factory=list)
    fail_first: int = 0  # batches that raise before any scores
    delay_s: float = 0.0
    drop_one: bool = False  # return one score too few
    each_s: float | None = None  # the seconds it says it spent on each prompt

    def score_options_many(self, prompts, options):
        self.sizes.append(len(prompts))
        time.sleep(self.delay_s)
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("the batch was lost")
        scores = [dataclasses.replace(self.score_options(p, options), seconds=self.each_s) for p in prompts]
        return scores[:-1] if self.drop_one else scores


def crowd_scores(messages, options):
    p_move = min(1.0, 0.1 * crowd_of(messages))
    return {"stay": 1 - p_move, "move": p_move}


def scored_world(backend, n, **runtime_kwargs):
    runtime = LLMRuntime(backend, **runtime_kwargs)
    model = World(runtime, rng=4)
    agents = [LLM(model, crowd=i, runtime=runtime) for i in range(n)]
    return model, agents


def test_a_backend_that_scores_many_prompts_gets_a_phases_scorings_in_one_batch_with_the_same_results():
    batched = ManyAtOnce(scores=crowd_scores, model_name="crowd-scores", temperature=0.7)
    alone = ScoringChatModel(scores=crowd_scores, model_name="crowd-scores", temperature=0.7)
    runs = []
    for backend in (batched, alone):
        model, agents = scored_world(backend, 12, dedup=True)
        model.step()
        model.step()
        frame = model.runtime.log.to_dataframe()
        columns = frame[["agent_id", "action", "probabilities", "backend_calls"]]
        runs.append((columns, [a.done for a in agents]))
    assert batched.sizes == [12, 12]  # 12 distinct prompts a step, each sent in one batch
    assert runs[0][0].equals(runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_a_prompt_scored_in_a_batch_records_its_own_time_not_the_batchs():
    timed = ManyAtOnce(scores=crowd_scores, model_name="timed", temperature=0.0, delay_s=0.2, each_s=0.01)
    untimed = ManyAtOnce(scores=crowd_scores, model_name="untimed", temperature=0.0, delay_s=0.2)
    for backend, expected in ((timed, 0.01), (untimed, None)):
        model, _ = scored_world(backend, 6)
        model.step()
        latencies = model.runtime.log.to_dataframe()["latency_s"]
        if expected is None:  # the call's own wall time: the batch's
            assert (latencies >= 0.2).all()
        else:
            assert latencies.tolist() == [expected] * 6


def test_batches_are_bounded_by_max_concurrency():
    backend = ManyAtOnce(scores=crowd_scores, model_name="crowd-scores", temperature=0.0)
    model, _ = scored_world(backend, 10, max_concurrency=4)
    model.step()
    assert sum(backend.sizes) == 10
    assert max(backend.sizes) <= 4
    assert len(backend.sizes) >= 3


def test_a_failed_batch_is_an_error_of_each_prompt_then_each_is_retried():
    backend = ManyAtOnce(scores=crowd_scores, model_name="crowd-scores", temperature=0.0, fail_first=1)
    model, agents = scored_world(backend, 8, backoff_s=0.0)
    model.step()
    assert backend.sizes == [8, 8]  # the retries meet again in one batch
    for agent in agents:
        assert (agent.last_record.errors, agent.last_record.attempts) == (1, 2)
        assert "the batch was lost" in agent.last_record.error
        assert not agent.last_record.fallback
    assert [a.done[-1] for a in agents] == ["stay"] * 6 + ["move"] * 2  # P(move) = 0.1 x crowd
    assert model.runtime.log.totals.errors == 8


def test_a_batch_past_the_timeout_times_out_each_prompt_and_they_fall_back():
    backend = ManyAtOnce(scores=crowd_scores, model_name="crowd-scores", temperature=0.0, delay_s=0.5)
    model, agents = scored_world(backend, 4, timeout=0.1, retries=0)
    model.step()
    for agent in agents:
        assert agent.last_record.timeouts == 1
        assert agent.last_record.fallback
    assert model.runtime.log.totals.fallbacks == 4


def test_a_batch_with_a_score_missing_is_an_error_naming_the_fix():
    backend = ManyAtOnce(scores=crowd_scores, model_name="crowd-scores", temperature=0.0, drop_one=True)
    model, agents = scored_world(backend, 3, retries=0)
    model.step()
    assert all(agent.last_record.fallback for agent in agents)
    assert "returned 2 scores for 3 prompts" in agents[0].last_record.error
