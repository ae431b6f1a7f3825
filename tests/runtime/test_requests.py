"""Requests and their keys: identical prompts share one, repeated sampled requests get their own."""

from mesa_llm import InMemoryCache, LLMRuntime, ScriptedChatModel
from mesa_llm.runtime.requests import Requests
from tests.world import LLM, World, chat


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


def test_identical_requests_share_a_key_at_temperature_zero_and_count_their_occurrences_otherwise():
    settings = {"structured": None, "dedup": None, "scoring": True}
    greedy, sampled = chat(name="greedy")[0], chat(name="sampled", temperature=0.7)[0]
    model = World()
    requests = Requests()
    keys = {}
    for backend in (greedy, sampled):
        runtime = LLMRuntime(backend)
        agents = [LLM(model, crowd=3, runtime=runtime) for _ in range(3)]
        keys[backend.model_name] = [requests.of(a, a.observe(), **settings).key for a in agents]
    assert len(set(keys["greedy"])) == 1
    assert not keys["greedy"][0].count("#")
    base = keys["sampled"][0].removesuffix("#0")
    assert keys["sampled"] == [base + "#0", base + "#1", base + "#2"]
    assert base != keys["greedy"][0]  # the backend identity is part of the key
    again = LLM(model, crowd=3, runtime=LLMRuntime(sampled))
    assert requests.of(again, again.observe(), **settings).key == base + "#3"  # counted over the run
