"""The cooperation probes: known memory-one strategies and imitators are recovered, through probe_scenario."""

import json

import pytest
from langchain_core.messages import HumanMessage

from mesa_llm import FunctionChatModel, InMemoryCache
from mesa_llm.calibration import PROBE_FILES, probe_scenario, round_trip
from mesa_llm.calibration.strategy import NAMED_STRATEGIES, MemoryOne
from mesa_llm.lab import model_parameters
from mesa_llm_models.cooperation import SCENARIO, CooperationModel
from mesa_llm_models.cooperation.calibration import (
    IMITATION_PROBE,
    MEMORY_ONE_PROBE,
    imitation_grid,
    implied_rules,
    memory_one_grid,
)
from tests.models.cooperation.strategies import best_move, facts, imitator, playing, sampling, scoring


def probed_model(probe, backend, **settings):
    """The model a probe builds, with its parameters and ``settings``."""
    parameters = model_parameters(SCENARIO, {**probe.parameters, **settings})
    return CooperationModel(**parameters, backend=backend, rng=0)


# --------------------------------------------------------------------------- memory-one
@pytest.mark.parametrize("name", ["TFT", "ALLD", "ALLC", "WSLS", "GRIM"])
def test_a_model_playing_a_named_strategy_is_classified(name):
    result = probe_scenario("cooperation", backend=playing(name))
    truth = NAMED_STRATEGIES[name]
    assert result.fit.nearest == name
    assert result.fit.distance <= 0.05
    assert all(abs(p - t) <= 0.05 for p, t in zip(result.fit.vector, truth, strict=True))
    assert result.run.calls == 5  # the first move and four states, each asked once (temperature 0)
    assert result.describe().startswith(f"memory-one {truth.describe()}: nearest {name} at distance 0.00")


@pytest.mark.parametrize(
    ("name", "vector"),
    [
        ("TFT", "0.97,0.98,0.04,0.96,0.02"),
        ("WSLS", "0.96,0.97,0.03,0.05,0.95"),
        ("ALLD", "0.03,0.04,0.0,0.02,0.01"),
    ],
)
def test_a_noisy_scoring_model_is_scored_once_per_point_and_classified(name, vector):
    truth = MemoryOne.parse(vector)
    result = probe_scenario("cooperation", backend=scoring(truth))
    assert result.run.calls == 5
    assert result.fit.source == "scored"
    assert result.fit.vector == pytest.approx(truth)
    assert result.fit.nearest == name
    assert result.fit.distance == pytest.approx(truth.distance(NAMED_STRATEGIES[name]))
    assert result.table.groupby("point")["p"].sum().to_numpy() == pytest.approx(1.0)


def test_the_intervals_of_a_sampled_noisy_model_cover_its_probabilities():
    """P(C) = (0.9; 0.8, 0.3, 0.6, 0.1), 40 answers a state: 95% Wilson intervals cover 88+ of 100."""
    truth = MemoryOne(0.9, 0.8, 0.3, 0.6, 0.1)
    covered = 0
    for seed in range(20):
        result = probe_scenario("cooperation", backend=sampling(truth, seed), samples=40)
        assert result.run.calls == 5 * 40
        fit = result.fit
        assert fit.source == "sampled"
        assert fit.answers == (40,) * 5
        covered += sum(low <= t <= high for low, t, high in zip(fit.ci_low, truth, fit.ci_high, strict=True))
        assert max(abs(p - t) for p, t in zip(fit.vector, truth, strict=True)) < 0.3
    assert covered >= 88


def test_a_second_identical_probe_makes_no_call():
    cache = InMemoryCache()
    first = probe_scenario("cooperation", backend=sampling("0.5,0.5,0.5,0.5,0.5"), samples=4, cache=cache)
    again = probe_scenario("cooperation", backend=sampling("0.5,0.5,0.5,0.5,0.5"), samples=4, cache=cache)
    assert (first.run.calls, again.run.calls) == (20, 0)
    assert again.fit == first.fit


def test_the_probed_prompts_are_the_models_own():
    """The first move is the opening prompt of a model with llm_opening='llm'; the states one round on."""
    model = CooperationModel(
        width=2, height=1, torus=False, llm_share=1.0, llm_opening="llm", backend=playing("TFT"), rng=0
    )
    player = next(iter(model.agents))
    cooperates = FunctionChatModel(fn=lambda _messages: "cooperate", model_name="cooperates")
    result = probe_scenario("cooperation", backend=cooperates, parameters={"framing": "business"})
    first, cd = result.run.records[0].messages, result.run.records[2].messages
    assert "You run a firm" in first[0][1]
    assert "Round 1 is starting. You have not played yet.\n" in first[1][1]
    assert "- has not played yet\n" in first[1][1]
    assert "Last round you played cooperate and your score is 0.0." in cd[1][1]
    assert "- played defect, score 1.6\n" in cd[1][1]
    (_, _), (_, opening) = player.messages(player.observe())
    assert opening == probe_scenario("cooperation", backend=playing("TFT")).run.records[0].messages[1][1]


def test_the_scores_of_the_states_are_those_of_the_payoffs():
    model = probed_model(MEMORY_ONE_PROBE, playing("TFT"), payoffs="3,0,5,1", self_interaction=True)
    states = {point.coordinates["state"]: point.observation for point in memory_one_grid(model)}
    table = model.payoffs.table()
    for state in ("CC", "CD", "DC", "DD"):
        situation = states[state]
        (partner,) = situation.neighbours
        assert situation.round == 1
        assert (
            situation.score == table[(situation.move, partner.move)] + table[(situation.move, situation.move)]
        )
        assert partner.score == table[(partner.move, situation.move)] + table[(partner.move, partner.move)]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"llm_opening": "strategy"}, "llm_opening='llm'"),
        ({"llm_moves": "each"}, "llm_moves='one'"),
        ({"llm_share": 0.0}, "llm_share above 0"),
        ({"height": 2}, "one partner"),
        ({"update": "imitate", "llm_imitation": "rule"}, "llm_imitation='llm'"),
    ],
)
def test_a_model_that_cannot_show_the_memory_one_situations_is_refused(settings, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        probe_scenario("cooperation", backend=playing("TFT"), parameters=settings)


def test_the_fit_implies_memory_one_players_with_its_vector():
    fit = probe_scenario("cooperation", backend=scoring("0.9,0.8,0.3,0.6,0.1")).fit
    rules = implied_rules(fit)
    assert rules == {
        "memory_one": {"strategies": "MEMORY1", "memory_one": fit.vector.text(), "llm_share": 0.0},
        "pure": {"strategies": "MEMORY1", "memory_one": "1.0,1.0,0.0,1.0,0.0", "llm_share": 0.0},
    }
    model = CooperationModel(
        **model_parameters(SCENARIO, {**rules["memory_one"], "width": 4, "height": 4}), rng=1
    )
    assert model.memory_one == fit.vector
    assert {p.strategy for p in model.agents} == {"MEMORY1"}


@pytest.mark.parametrize("vector", ["TFT", "1,0,0,0,1"])  # the second alternates C, D, C, ...
def test_a_round_trip_on_the_probed_world_of_a_deterministic_model_reproduces_it_exactly(vector):
    result = probe_scenario("cooperation", backend=playing(vector))
    world = {"width": 2, "height": 1, "torus": False, "llm_opening": "llm", "update": "keep"}
    trip = round_trip(result, seeds=range(3), steps=5, parameters=world)
    assert trip.verdicts == {"memory_one": "reproduces"}
    assert (trip.comparisons["diff"] == 0).all()
    expected = 1.0 if vector == "TFT" else 0.6  # the 5 rounds: C, D, C, D, C
    assert trip.summary["cooperation"].tolist() == [expected] * 6


def test_players_taking_the_most_probable_move_are_reproduced_by_the_rounded_vector():
    """At temperature 0 an LLM player takes each state's most probable move, as the pure population does."""
    fitted = probe_scenario("cooperation", backend=scoring("0.9,0.8,0.3,0.6,0.1")).fit
    assert implied_rules(fitted)["pure"]["memory_one"] == NAMED_STRATEGIES["TFT"].text()
    argmax = scoring("0.9,0.8,0.3,0.6,0.1").model_copy(update={"temperature": 0.0})
    result = probe_scenario("cooperation", backend=argmax)
    world = {"width": 2, "height": 1, "torus": False, "llm_opening": "llm", "update": "keep"}
    trip = round_trip(result, seeds=range(3), steps=5, parameters=world)
    pure = trip.comparisons[trip.comparisons["population"] == "pure"]
    assert (pure["diff"] == 0).all()
    assert trip.verdicts["pure"] == "reproduces"
    assert set(implied_rules(probe_scenario("cooperation", backend=playing("TFT")).fit)) == {"memory_one"}


def test_the_results_are_written(tmp_path):
    for probe, backend in (("memory-one", playing("WSLS")), ("imitation", imitator("copy"))):
        paths = probe_scenario("cooperation", probe, backend=backend).write(tmp_path / probe)
        assert set(paths) == set(PROBE_FILES)
        assert paths["figure"].stat().st_size > 0
        summary = json.loads(paths["fit"].read_text())
        assert summary["probe"] == probe
        assert summary["verdict"]


# --------------------------------------------------------------------------- imitation
@pytest.mark.parametrize(("kind", "verdict", "rate"), [("copy", "imitates", 1.0), ("never", "contrary", 0.0)])
def test_the_imitation_probe_recognises_copying_and_its_opposite(kind, verdict, rate):
    result = probe_scenario("cooperation", "imitation", backend=imitator(kind))
    fit = result.fit
    assert (fit.verdict, fit.rate, fit.switch_rate) == (verdict, rate, rate)
    assert fit.points == 8
    low, high = fit.rate_ci
    assert (low > 0.5) if kind == "copy" else (high < 0.5)


@pytest.mark.parametrize("kind", ["repeat", "first"])
def test_an_answer_that_ignores_the_scores_is_the_best_scorers_move_half_the_time(kind):
    fit = probe_scenario("cooperation", "imitation", backend=imitator(kind)).fit
    assert fit.rate == 0.5
    assert fit.verdict == "no imitation"
    assert fit.describe().startswith("no sign of imitation: 0.50")


def test_the_rule_following_model_imitates():
    assert probe_scenario("cooperation", "imitation", backend="rule").fit.verdict == "imitates"


@pytest.mark.parametrize("neighbourhood", ["moore", "von_neumann"])
def test_one_neighbour_outscores_everyone_with_scores_of_the_payoffs(neighbourhood):
    model = probed_model(IMITATION_PROBE, imitator("copy"), neighbourhood=neighbourhood)
    points = imitation_grid(model)
    k = 8 if neighbourhood == "moore" else 4
    assert len(points) == 8
    table = model.payoffs.table()
    patterns = {}
    for point in points:
        situation, coordinates = point.observation, point.coordinates
        moves = [n.move for n in situation.neighbours]
        assert len(moves) == k
        assert moves.count("cooperate") == 1
        assert situation.score == sum(table[(situation.move, m)] for m in moves)
        best = situation.neighbours[coordinates["best_position"] - 1]
        assert best.move == coordinates["best_move"]
        assert all(best.score > n.score for n in situation.neighbours if n is not best)
        assert best.score > situation.score
        (_, _), (_, prompt) = point.agent.messages(situation)
        assert best_move([HumanMessage(prompt)]) == coordinates["best_move"]
        patterns.setdefault((situation.move, tuple(moves)), set()).add(coordinates["best_move"])
    assert all(bests == {"cooperate", "defect"} for bests in patterns.values())  # the baseline is 0.5


def test_payoffs_with_which_no_neighbour_can_lead_are_refused():
    with pytest.raises(ValueError, match="no neighbour that cooperates can outscore"):
        probe_scenario(
            "cooperation", "imitation", backend=imitator("copy"), parameters={"payoffs": "1,0,30,0"}
        )


def test_the_imitation_prompt_shows_the_scores():
    record = probe_scenario("cooperation", "imitation", backend=imitator("copy")).run.records[0]
    own, score, neighbours = facts([HumanMessage(record.messages[1][1])])
    assert (own, score) == ("cooperate", 1.0)  # R against the lone cooperator, S against 7 defectors
    assert neighbours[0] == ("cooperate", 8.0)  # the best: R with the player and with 7 unseen cooperators
    assert neighbours[1:] == [("defect", 1.6)] * 7  # T against the player, P against unseen defectors


# --------------------------------------------------------------------------- the embedded model
def test_the_embedded_local_model_is_probed_for_real_and_the_same_seed_gives_the_same_fit():
    first = probe_scenario("cooperation", backend="local", seed=3)
    assert first.run.calls == 5
    assert (first.table["source"] == "scored").all()
    assert first.table.groupby("point")["p"].sum().to_numpy() == pytest.approx(1.0)
    assert first.fit.nearest in NAMED_STRATEGIES
    again = probe_scenario("cooperation", backend="local", seed=3)
    assert again.fit == first.fit
