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


class Counted(LLM):
    """An LLM agent that counts the prompts it renders."""

    rendered = 0

    def messages(self, observation):
        Counted.rendered += 1
        return super().messages(observation)


class Pure(Counted):
    observation_prompt = True


def test_agents_observing_the_same_render_one_prompt_when_their_prompt_is_the_observations():
    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [Pure(model, crowd=i % 3, runtime=runtime) for i in range(30)]
    Counted.rendered = 0
    actions = runtime.step(agents)
    assert Counted.rendered == 3  # one per distinct observation, not one per agent
    assert len(recorder.prompts) == 3
    assert [actions[a] for a in agents] == ["move" if a.crowd > 2 else "stay" for a in agents]
    assert all(a.last_record.messages == a.messages(a.last_observation) for a in agents)


def test_prompts_that_may_read_more_than_the_observation_are_rendered_for_each_agent():
    backend, _ = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [Counted(model, crowd=1, runtime=runtime) for _ in range(10)]
    agents += [LLM(model, crowd=1, runtime=runtime, persona=f"You are resident {i}.") for i in range(4)]
    Counted.rendered = 0
    runtime.step(agents)
    assert Counted.rendered == 10  # it overrides messages() without saying it reads only the observation
    assert agents[0].prompt_key() is None
    assert agents[10].prompt_key() is not None
    assert len({a.last_record.messages for a in agents[10:]}) == 4  # personas are part of the prompt key


def test_an_observation_that_cannot_be_hashed_is_rendered_alone():
    class Listed(Pure):
        def observe(self):
            return {"crowd": self.crowd, "moved": [self.model.moved]}  # a dict: not hashable

    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agents = [Listed(model, crowd=1, runtime=runtime) for _ in range(5)]
    Counted.rendered = 0
    runtime.step(agents)
    assert Counted.rendered == 5
    assert len(recorder.prompts) == 1  # identical prompts still share one call
    assert model.runtime.log.totals.shared == 4
