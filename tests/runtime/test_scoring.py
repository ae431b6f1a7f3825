"""The runtime with backends that score options: draws, dedup, records, retries, cache."""

import math

import numpy as np
import pytest

from mesa_llm import FunctionChatModel, InMemoryCache, LLMRuntime, OptionScorer, ScoringChatModel
from mesa_llm.backends.scoring import OptionScores
from mesa_llm.runtime import ArgmaxWarning
from tests.world import LLM, Tell, Teller, World, crowd_of


def crowd_scores(messages, options):
    """P(move) rises with the crowd: 0.1 per person."""
    p_move = min(1.0, 0.1 * crowd_of(messages))
    return {"stay": 1 - p_move, "move": p_move}


def world(n=40, crowd=5, temperature=1.0, rng=0, **runtime_kwargs):
    calls = []

    def scores(messages, options):
        calls.append(tuple(options))
        return crowd_scores(messages, options)

    backend = ScoringChatModel(scores=scores, model_name="crowd-scores", temperature=temperature)
    runtime = LLMRuntime(backend, **runtime_kwargs)
    model = World(runtime, rng=rng)
    agents = [LLM(model, crowd=crowd, runtime=runtime) for _ in range(n)]
    return model, agents, calls


def test_choices_are_scored_and_probabilities_recorded():
    model, agents, calls = world(n=3, crowd=3)
    model.step()
    assert calls == [("stay", "move")]  # one scoring, shared by the identical prompts
    for agent in agents:
        record = agent.last_record
        assert record.probabilities == pytest.approx({"stay": 0.7, "move": 0.3})
        assert record.action in ("stay", "move")
        assert record.action == agent.done[-1]
        assert math.isclose(sum(record.probabilities.values()), 1.0)


def test_shared_scoring_still_gives_each_agent_its_own_draw():
    model, agents, calls = world(n=400, crowd=5, temperature=1.0)
    model.step()
    assert len(calls) == 1
    moves = sum(a.done[-1] == "move" for a in agents)
    # 400 draws at p = 0.5: 4 standard deviations is +-40.
    assert 160 < moves < 240
    assert model.runtime.log.totals.shared == 399


def test_draws_follow_the_probabilities():
    model, agents, _ = world(n=2000, crowd=2, temperature=1.0)  # p(move) = 0.2
    model.step()
    moves = sum(a.done[-1] == "move" for a in agents)
    assert abs(moves / 2000 - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 2000)


def test_temperature_zero_takes_the_most_probable_option_without_drawing():
    model, agents, _ = world(n=50, crowd=3, temperature=0.0)  # p(move) = 0.3
    state = model.rng.bit_generator.state
    model.step()
    assert {a.done[-1] for a in agents} == {"stay"}
    assert model.rng.bit_generator.state == state


def test_lower_temperature_sharpens_the_draws():
    _, hot, _ = world(n=2000, crowd=3, temperature=1.0)
    hot[0].model.step()
    _, cold, _ = world(n=2000, crowd=3, temperature=0.5)
    cold[0].model.step()
    # p = 0.3 at T=1; at T=0.5 it is 0.09 / (0.09 + 0.49) = 0.155.
    hot_moves = sum(a.done[-1] == "move" for a in hot) / 2000
    cold_moves = sum(a.done[-1] == "move" for a in cold) / 2000
    assert abs(hot_moves - 0.3) < 0.05
    assert abs(cold_moves - 0.155) < 0.04


def test_draws_use_the_model_rng_and_are_reproducible():
    runs = []
    for _ in range(2):
        model, agents, _ = world(n=100, crowd=5, rng=7)
        model.step()
        model.step()
        runs.append([a.done for a in agents])
    assert runs[0] == runs[1]
    model, agents, _ = world(n=100, crowd=5, rng=8)
    model.step()
    model.step()
    assert [a.done for a in agents] != runs[0]


def test_dedup_false_scores_every_agent():
    model, _, calls = world(n=5, dedup=False)
    model.step()
    assert len(calls) == 5
    assert model.runtime.log.totals.shared == 0


def test_scoring_false_answers_in_text():
    backend = ScoringChatModel(scores=crowd_scores, fn=lambda _m: "move", model_name="text-move")
    runtime = LLMRuntime(backend, scoring=False)
    model = World(runtime)
    agent = LLM(model, crowd=1, runtime=runtime)
    model.step()
    assert agent.done == ["move"]
    assert agent.last_record.probabilities is None
    assert agent.last_record.raw == "move"


def test_structured_spaces_are_not_scored():
    backend = ScoringChatModel(
        scores=crowd_scores, fn=lambda _m: '{"target": 4, "topic": "rumour"}', model_name="teller"
    )
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agent = Teller(model, runtime=runtime)
    model.step()
    assert agent.done == [Tell(target=4, topic="rumour")]
    assert agent.last_record.probabilities is None


@pytest.mark.parametrize(
    "bad",
    [
        {"stay": 1.0},  # an option missing
        {"stay": -0.5, "move": 1.5},
        {"stay": float("nan"), "move": 1.0},
        {"stay": 0.0, "move": 0.0},
    ],
)
def test_unusable_probabilities_are_retried_then_fall_back(bad):
    backend = ScoringChatModel(scores=lambda _m, _o: bad, model_name=f"bad-{sorted(bad.items())}")
    runtime = LLMRuntime(backend, retries=2)
    model = World(runtime)
    agent = LLM(model, crowd=9, runtime=runtime)
    model.step()
    record = agent.last_record
    assert record.fallback
    assert agent.done == ["stay"]
    assert record.parse_failures == 3
    assert record.probabilities is None
    assert runtime.log.totals.fallbacks == 1


def test_unnormalised_scores_are_normalised():
    backend = ScoringChatModel(scores=lambda _m, _o: {"stay": 3.0, "move": 1.0}, model_name="weights")
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agent = LLM(model, runtime=runtime)
    model.step()
    assert agent.last_record.probabilities == pytest.approx({"stay": 0.75, "move": 0.25})


def test_a_scorer_that_raises_is_retried_and_counted():
    failures = iter([True, False])

    def flaky(messages, options):
        if next(failures):
            raise ConnectionError("lost the model")
        return crowd_scores(messages, options)

    backend = ScoringChatModel(scores=flaky, model_name="flaky-scores", temperature=0.0)
    runtime = LLMRuntime(backend)
    model = World(runtime)
    agent = LLM(model, crowd=8, runtime=runtime)
    model.step()
    assert agent.done == ["move"]
    assert agent.last_record.errors == 1
    assert agent.last_record.attempts == 2


def test_a_warm_cache_replays_scores_and_the_same_seed_gives_the_same_draws():
    cache = InMemoryCache()
    runs = []
    for _ in range(2):
        model, agents, calls = world(n=60, crowd=4, rng=3, cache=cache)
        for _ in range(3):
            model.step()
        runs.append(([a.done for a in agents], len(calls), model.runtime.log.totals.cache_hits))
    (first, first_calls, first_hits), (second, second_calls, second_hits) = runs
    assert first == second
    assert (first_calls, second_calls) == (3, 0)
    assert (first_hits, second_hits) == (0, 3)


def test_scored_records_are_written_with_their_probabilities():
    model, _, _ = world(n=3, crowd=3)
    model.step()
    frame = model.runtime.log.to_dataframe()
    assert len(frame) == 3
    probabilities = frame["probabilities"].tolist()
    assert all(p == pytest.approx({"stay": 0.7, "move": 0.3}) for p in probabilities)
    assert np.all(frame["action"].isin(["stay", "move"]))


def test_a_scoring_test_model_draws_from_its_scores_by_default():
    backend = ScoringChatModel(scores=lambda _m, _o: {"stay": 0.7, "move": 0.3}, model_name="thirty")
    runtime = LLMRuntime(backend)
    model = World(runtime, rng=3)
    agents = [LLM(model, crowd=1, runtime=runtime) for _ in range(400)]
    model.step()
    moved = sum(agent.done[-1] == "move" for agent in agents)
    assert 0.24 < moved / len(agents) < 0.36  # about 30%, not the argmax's 0%
    assert backend.temperature == 1.0


class ArgmaxScorer(OptionScorer, FunctionChatModel):
    """A scoring backend whose default temperature is 0, as the embedded model's is."""

    def score_options(self, messages, options):
        return OptionScores({"stay": 0.55, "move": 0.45})


def _argmax_world(backend, steps=2):
    runtime = LLMRuntime(backend)
    model = World(runtime, rng=0)
    for _ in range(3):
        LLM(model, crowd=1, runtime=runtime)
    for _ in range(steps):
        model.step()
    assert {a.done[-1] for a in model.agents} == {"stay"}


def test_argmax_at_a_default_temperature_0_warns_once():
    with pytest.warns(ArgmaxWarning, match="most probable") as caught:
        _argmax_world(ArgmaxScorer(fn=lambda _m: "stay", model_name="argmax"))
    assert len(caught) == 1
    assert "P(stay)=0.55, P(move)=0.45" in str(caught[0].message)
    assert "temperature=1.0" in str(caught[0].message)


def test_argmax_chosen_on_purpose_does_not_warn():
    _argmax_world(
        ArgmaxScorer(fn=lambda _m: "stay", model_name="chosen", temperature=0)
    )  # warnings are errors


def test_draws_of_a_phase_consume_the_rng_as_one_draw_after_another():
    """All of a phase's draws are taken at once, yet each agent gets what draw_option would give it."""
    from mesa_llm.backends.scoring import draw_option

    model, agents, _ = world(n=30, crowd=4, temperature=0.7, rng=11)
    for i, agent in enumerate(agents):  # three distributions, interleaved
        agent.crowd = 2 + i % 3
    model.step()
    replay = np.random.default_rng(11)  # model.random shuffles the order; model.rng only draws the moves
    order = [record.agent_id for record in model.runtime.log.records]
    by_id = {agent.unique_id: agent for agent in agents}
    expected = [draw_option(by_id[i].last_record.probabilities, 0.7, replay) for i in order]
    assert [record.action for record in model.runtime.log.records] == expected
    assert len({r.action for r in model.runtime.log.records}) == 2


def test_agents_of_two_models_in_one_phase_draw_each_from_their_own_models_rng():
    """Decisions interleaved across two models consume each model's rng in their order."""
    from mesa_llm.backends.scoring import draw_option

    model, agents, _ = world(n=12, crowd=4, temperature=0.8, rng=3)
    other = World(model.runtime, rng=5)
    theirs = [LLM(other, crowd=2 + i % 2, runtime=model.runtime) for i in range(12)]
    mixed = [agent for pair in zip(agents, theirs, strict=True) for agent in pair]
    actions = model.runtime.decide_all(mixed, [agent.observe() for agent in mixed])
    replays = {id(model): np.random.default_rng(3), id(other): np.random.default_rng(5)}
    expected = [
        draw_option(agent.last_record.probabilities, 0.8, replays[id(agent.model)]) for agent in mixed
    ]
    assert [agent.last_record.action for agent in mixed] == expected
    assert actions == expected
    assert len(set(expected[1::2])) == 2


def test_draws_without_dedup_one_call_per_agent_consume_the_rng_in_order():
    from mesa_llm.backends.scoring import draw_option

    model, agents, calls = world(n=25, crowd=4, temperature=0.7, rng=2, dedup=False)
    for i, agent in enumerate(agents):
        agent.crowd = 1 + i % 4
    actions = model.runtime.decide_all(agents, [agent.observe() for agent in agents])
    assert len(calls) == 25
    replay = np.random.default_rng(2)
    assert actions == [draw_option(agent.last_record.probabilities, 0.7, replay) for agent in agents]
