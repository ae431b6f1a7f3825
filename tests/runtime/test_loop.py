"""The event-loop bridge and the bounds: concurrency, callers' loops, one shared loop thread."""

import asyncio
import threading
import time

import pytest

from mesa_llm import (
    FaultyChatModel,
    LLMRuntime,
)
from mesa_llm.runtime.loop import Slots
from tests.world import (
    LLM,
    World,
    chat,
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
