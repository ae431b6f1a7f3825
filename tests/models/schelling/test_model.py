"""Behaviour of the Schelling scenario: rule semantics, mixing, faults, cache, spaces."""

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from mesa.discrete_space import OrthogonalMooreGrid
from mesa.examples import Schelling
from mesa.examples.basic.schelling.model import SchellingScenario

from mesa_llm import FaultyChatModel, FunctionChatModel, InMemoryCache, LLMRuntime, SQLiteCache
from mesa_llm.lab import model_parameters
from mesa_llm_models.schelling import (
    SCENARIO,
    LLMResident,
    RuleResident,
    SchellingModel,
    rule_following_backend,
)
from mesa_llm_models.schelling.model import NeighbourIndex

REPO = Path(__file__).resolve().parents[3]


def positions(model):
    """Where every resident lives, by id."""
    return {a.unique_id: a.cell.coordinate for a in model.agents}


def trajectory(model, steps):
    """Positions after construction and after every step."""
    states = [positions(model)]
    for _ in range(steps):
        model.step()
        states.append(positions(model))
    return states


def scenario_columns(model):
    """The model frame without the LLM accounting and per-population columns."""
    frame = model.datacollector.get_model_vars_dataframe()
    return frame[["happy", "pct_happy", "segregation", "moves"]]


def mesa_segregation(model):
    """Our segregation metric computed on mesa.examples.Schelling's residents."""
    shares = []
    for agent in model.agents:
        neighbours = list(agent.cell.get_neighborhood(radius=1).agents)
        if neighbours:
            shares.append(sum(n.type == agent.type for n in neighbours) / len(neighbours))
    return float(np.mean(shares))


def test_rule_only_matches_mesa_example_over_20_seeds():
    """Same rng consumption as mesa.examples.Schelling: identical trajectories, hence equal means."""
    ours_happy, ours_seg, theirs_happy, theirs_seg = [], [], [], []
    for seed in range(20):
        ours = SchellingModel(rng=seed)
        theirs = Schelling(SchellingScenario(rng=seed))
        for step in range(15):
            assert positions(ours) == {a.unique_id: a.cell.coordinate for a in theirs.agents}, (seed, step)
            assert [a.group for a in ours.agents] == [a.type for a in theirs.agents]
            ours.step()
            theirs.step()
        pd.testing.assert_series_equal(
            ours.datacollector.get_model_vars_dataframe()["pct_happy"],
            theirs.datacollector.get_model_vars_dataframe()["pct_happy"],
        )
        ours_happy.append(ours.datacollector.get_model_vars_dataframe()["pct_happy"].iloc[-1])
        theirs_happy.append(theirs.datacollector.get_model_vars_dataframe()["pct_happy"].iloc[-1])
        ours_seg.append(ours.datacollector.get_model_vars_dataframe()["segregation"].iloc[-1])
        theirs_seg.append(mesa_segregation(theirs))
    for a, b in ((ours_happy, theirs_happy), (ours_seg, theirs_seg)):
        standard_error = np.hypot(np.std(a, ddof=1), np.std(b, ddof=1)) / np.sqrt(len(a))
        assert abs(np.mean(a) - np.mean(b)) <= 2 * standard_error
    assert np.mean(ours_seg) > 0.7  # segregation emerges from a 50/50 random start


@pytest.mark.parametrize(
    ("structured", "sequential", "torus"),
    [(False, False, False), (True, False, False), (False, True, False), (False, False, True)],
)
def test_rule_following_llm_half_reproduces_rule_trajectory(structured, sequential, torus):
    """LLM residents answering by the rule through prompt -> model -> parse -> act change nothing."""
    params = {"width": 15, "height": 15, "radius": 1, "torus": torus, "sequential": sequential}
    rule = SchellingModel(**params, rng=7)
    runtime = LLMRuntime(rule_following_backend(0.4), structured=structured)
    mixed = SchellingModel(**params, llm_share=0.5, runtime=runtime, rng=7)
    counts = {type(a) for a in mixed.agents}
    assert counts == {RuleResident, LLMResident}
    assert len(mixed.agents_by_type[LLMResident]) == round(0.5 * len(mixed.agents))
    assert trajectory(rule, 12) == trajectory(mixed, 12)
    assert scenario_columns(mixed).equals(scenario_columns(rule))  # exactly equal, not merely close
    frame = mixed.datacollector.get_model_vars_dataframe()
    assert frame["moves_llm"].sum() > 0  # the LLM residents did move, by their answers
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert frame["llm_parse_failures"].iloc[-1] == 0
    assert frame["llm_decisions"].iloc[-1] == 12 * len(mixed.agents_by_type[LLMResident])


def test_all_llm_radius_two_reproduces_rule_trajectory():
    rule = SchellingModel(width=12, height=12, radius=2, homophily=0.5, rng=3)
    llm = SchellingModel(
        width=12,
        height=12,
        radius=2,
        homophily=0.5,
        llm_share=1.0,
        backend=rule_following_backend(0.5),
        rng=3,
    )
    assert {type(a) for a in llm.agents} == {LLMResident}
    assert trajectory(rule, 8) == trajectory(llm, 8)


def test_malformed_answers_are_retried_then_fall_back_and_counted():
    backend = FaultyChatModel(inner=rule_following_backend(0.4), malformed_rate=0.4, seed=2)
    model = SchellingModel(width=10, height=10, llm_share=0.5, rng=1, runtime=LLMRuntime(backend, retries=1))
    model.run_for(5)
    frame = model.datacollector.get_model_vars_dataframe()
    totals = model.llm.log.totals
    assert frame["llm_parse_failures"].iloc[-1] == totals.parse_failures > 0
    assert frame["llm_retries"].iloc[-1] == totals.retries > 0
    assert frame["llm_fallbacks"].iloc[-1] == totals.fallbacks > 0
    records = model.llm.log.to_dataframe()
    fallen = records[records["fallback"]]
    asked = fallen[~fallen["shared"]]  # a shared answer carries the action, not the failures
    assert len(asked) > 0
    assert (asked["parse_failures"] == 2).all()  # first answer and its one retry both malformed
    assert (fallen[fallen["shared"]]["parse_failures"] == 0).all()
    assert (fallen["action"] == "stay").all()
    retried = records[(records["parse_failures"] == 1) & ~records["fallback"]]
    assert len(retried) > 0
    assert set(retried["action"]) <= {"stay", "move"}


def test_a_backend_failing_every_call_still_completes_the_run():
    def broken(messages):
        raise ConnectionError("provider is down")

    backend = FunctionChatModel(fn=broken, model_name="down")
    runtime = LLMRuntime(backend, backoff_s=0.001)  # the default waits 0.5 s, then 1 s, before retrying
    model = SchellingModel(width=10, height=10, llm_share=0.5, rng=4, runtime=runtime)
    model.run_for(4)
    frame = model.datacollector.get_model_vars_dataframe()
    decisions = 4 * len(model.agents_by_type[LLMResident])
    assert len(frame) == 5
    assert frame["llm_fallbacks"].iloc[-1] == decisions
    asked = decisions - frame["llm_shared"].iloc[-1]  # identical prompts of a step are asked once
    assert frame["llm_errors"].iloc[-1] == frame["llm_calls"].iloc[-1] == 3 * asked  # 1 attempt + 2 retries
    assert frame["moves_llm"].sum() == 0  # the fallback is "stay"
    assert frame["moves_rule"].sum() > 0
    assert "ConnectionError: provider is down" in model.llm.log.records[0].error


def test_timeouts_are_counted_and_the_run_completes():
    backend = FaultyChatModel(inner=rule_following_backend(0.4), timeout_rate=0.3, hang_s=5.0, seed=5)
    runtime = LLMRuntime(backend, timeout=0.05, max_concurrency=64, dedup=False)
    model = SchellingModel(width=8, height=8, llm_share=0.5, rng=2, runtime=runtime)
    model.run_for(2)
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["llm_timeouts"].iloc[-1] > 0
    assert frame["llm_errors"].iloc[-1] >= frame["llm_timeouts"].iloc[-1]


def run_cached(cache_path, **params):
    cache = SQLiteCache(cache_path)
    model = SchellingModel(width=12, height=12, llm_share=0.5, cache=cache, rng=11, **params)
    model.run_for(6)
    cache.close()
    return model


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_warm_cache_rerun_makes_no_calls_and_reproduces_frames(tmp_path, temperature):
    calls = []

    def answer(messages):
        calls.append(1)
        return rule_following_backend(0.4).fn(messages)

    backend = FunctionChatModel(fn=answer, model_name="counting-rule", temperature=temperature)
    cold = run_cached(tmp_path / "cache.sqlite", backend=backend)
    cold_calls = len(calls)
    assert cold_calls == cold.llm.log.totals.calls > 0
    warm = run_cached(tmp_path / "cache.sqlite", backend=backend)
    assert len(calls) == cold_calls
    assert warm.llm.log.totals.calls == 0
    assert warm.llm.log.totals.cache_hits + warm.llm.log.totals.shared == warm.llm.log.totals.decisions
    pd.testing.assert_frame_equal(scenario_columns(cold), scenario_columns(warm))
    pd.testing.assert_frame_equal(
        cold.datacollector.get_agent_vars_dataframe(), warm.datacollector.get_agent_vars_dataframe()
    )
    assert positions(cold) == positions(warm)


def test_warm_cache_replays_in_another_process(tmp_path):
    """Cache keys are stable across processes: the backend identity holds no address."""
    script = textwrap.dedent(
        f"""
        import json
        from mesa_llm import SQLiteCache
        from mesa_llm_models.schelling import SchellingModel, rule_following_backend
        cache = SQLiteCache({str(tmp_path / "c.sqlite")!r})
        model = SchellingModel(width=12, height=12, llm_share=0.5, rng=11,
                               backend=rule_following_backend(0.4), cache=cache)
        model.run_for(6)
        frame = model.datacollector.get_model_vars_dataframe()
        print(json.dumps({{"calls": model.llm.log.totals.calls,
                           "happy": frame["happy"].tolist(), "moves": frame["moves"].tolist()}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env, cwd=REPO
            ).stdout
        )
        for _ in range(2)
    ]
    assert runs[0]["calls"] > 0
    assert runs[1]["calls"] == 0
    assert runs[0]["happy"] == runs[1]["happy"]
    assert runs[0]["moves"] == runs[1]["moves"]


def test_llm_calls_run_concurrently_within_the_limit():
    backend = FaultyChatModel(inner=rule_following_backend(0.4), latency=0.02, seed=0)
    runtime = LLMRuntime(backend, max_concurrency=6, dedup=False)
    model = SchellingModel(width=10, height=10, llm_share=1.0, rng=0, runtime=runtime)
    model.step()
    assert backend.calls == len(model.agents)
    assert 1 < backend.peak_in_flight <= 6


def network_model(**params):
    graph = nx.watts_strogatz_graph(80, 6, 0.1, seed=3)
    return SchellingModel(graph=graph, density=0.7, homophily=0.5, rng=5, **params)


def test_network_space_rule_only_and_mixed():
    rule = network_model()
    mixed = network_model(llm_share=0.5, backend=rule_following_backend(0.5))
    assert {type(a.cell).__name__ for a in rule.agents} == {"Cell"}
    assert all(isinstance(a.cell.coordinate, int) for a in rule.agents)
    before = positions(rule)
    rule_states, mixed_states = trajectory(rule, 10), trajectory(mixed, 10)
    assert rule_states == mixed_states
    assert rule_states[-1] != before  # residents moved between nodes
    frame = mixed.datacollector.get_model_vars_dataframe()
    assert frame["moves_llm"].sum() > 0
    assert frame["segregation"].iloc[-1] > frame["segregation"].iloc[0]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"torus": True, "radius": 2},
        {"width": 4, "height": 4, "torus": True, "radius": 2},  # neighbourhoods wrap onto themselves
        {"graph": nx.barabasi_albert_graph(60, 2, seed=1), "radius": 2},
    ],
)
def test_snapshot_equals_what_every_resident_observes(params):
    model = SchellingModel(rng=2, **params)
    for _ in range(4):
        assert model.snapshot == {resident: resident.observe() for resident in model.agents}
        assert model.happy == sum(r.observe().similarity >= model.homophily for r in model.agents)
        model.step()


def test_identical_neighbourhoods_share_one_observation_object():
    model = SchellingModel(width=30, height=30, rng=1)
    # (same, other, empty) splits of 8 (inner), 5 (edge) and 3 (corner) cells: 45 + 21 + 10
    assert len({id(o) for o in model.snapshot.values()}) == len(set(model.snapshot.values())) <= 76


def test_llm_counts_per_group():
    model = SchellingModel(llm_counts={0: 10, 1: 4}, backend=rule_following_backend(0.4), rng=8)
    llm = model.agents_by_type[LLMResident]
    assert sorted(a.group for a in llm) == [0] * 10 + [1] * 4


def test_population_assignment_is_reproducible_from_the_rng():
    def llm_ids(seed):
        model = SchellingModel(llm_share=0.3, backend=rule_following_backend(0.4), rng=seed)
        return sorted(a.unique_id for a in model.agents_by_type[LLMResident])

    assert llm_ids(1) == llm_ids(1)
    assert llm_ids(1) != llm_ids(2)


def test_reporters_split_by_population():
    model = SchellingModel(llm_share=0.25, backend=rule_following_backend(0.4), rng=9)
    model.run_for(3)
    frame = model.datacollector.get_model_vars_dataframe()
    row = frame.iloc[-1]
    assert row["happy"] == row["happy_rule"] + row["happy_llm"]
    assert row["moves"] == row["moves_rule"] + row["moves_llm"]
    assert row["residents_rule"] + row["residents_llm"] == len(model.agents)
    assert row["pct_happy"] == pytest.approx(100 * row["happy"] / len(model.agents))
    agents = model.datacollector.get_agent_vars_dataframe()
    assert set(agents.columns) == {"group", "population", "happy"}
    assert set(agents["population"]) == {"rule", "llm"}
    last = agents.xs(model.time, level="Step")
    assert last["happy"].sum() == row["happy"]


def test_an_empty_town_runs():
    model = SchellingModel(density=0.0, rng=0)
    model.run_for(2)
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["happy"].tolist() == [0, 0, 0]
    assert np.isnan(frame["pct_happy"]).all()


def test_rule_only_model_reports_nan_for_the_missing_population():
    frame = SchellingModel(rng=0).datacollector.get_model_vars_dataframe()
    assert np.isnan(frame["pct_happy_llm"].iloc[0])
    assert frame["residents_llm"].iloc[0] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"llm_share": 1.2}, "llm_share must be a fraction in \\[0, 1\\]"),
        ({"llm_share": -0.1}, "llm_share must be a fraction"),
        ({"density": 1.0}, "density must be in \\[0, 1\\)"),
        ({"density": 1.5}, "number of residents must stay below the number of cells"),
        ({"homophily": 2}, "homophily must be a fraction"),
        ({"minority_pc": -1}, "minority_pc must be a fraction"),
        ({"radius": 0}, "radius must be a whole number"),
        ({"width": 0}, "width and height must be at least 1"),
        ({"llm_counts": {0: 10_000}, "backend": "x"}, "has only"),
        ({"llm_counts": {2: 1}}, "maps a group \\(0 or 1\\)"),
        ({"llm_counts": {0: 1}, "llm_share": 0.5}, "either llm_share or llm_counts"),
        ({"llm_share": 0.5, "backend": "no_such_provider:model"}, "Unknown backend 'no_such_provider:model'"),
    ],
)
def test_bad_input_raises_a_clear_error(params, message):
    with pytest.raises(ValueError, match=message):
        SchellingModel(rng=0, **params)


def test_missing_provider_key_raises_at_construction(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        SchellingModel(llm_share=0.5, backend="openai:gpt-4o-mini", rng=0)


# ----------------------------------------------------------------- tiny towns, parameters
@pytest.mark.parametrize("size", [2, 3])
def test_tiny_towns_match_mesa_example_unless_every_cell_was_drawn_full(size):
    """A draw that leaves a cell empty is Mesa's, draw for draw; a full one frees a cell (Mesa crashes)."""
    full = set()
    for seed in range(30):
        ours = SchellingModel(width=size, height=size, density=0.9, rng=seed)
        theirs = Schelling(SchellingScenario(width=size, height=size, density=0.9, rng=seed))
        if len(theirs.agents) == size * size:
            assert len(ours.agents) == size * size - 1
            full.add(next(c.coordinate for c in ours.grid.all_cells if c.is_empty))
            ours.run_for(3)  # IndexError: Cannot choose from an empty sequence, before
            continue
        for _ in range(4):
            assert positions(ours) == positions(theirs), seed
            ours.step()
            theirs.step()
    assert len(full) > 1  # the freed cell is drawn, not always the same one


def test_a_full_draw_frees_the_same_cell_for_the_same_seed():
    first, second = (SchellingModel(width=2, height=2, density=0.95, rng=0) for _ in range(2))
    assert len(first.agents) == 3
    assert trajectory(first, 3) == trajectory(second, 3)
    assert sum(c.is_empty for c in first.grid.all_cells) == 1


class NotACache:
    """Has neither get nor put."""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("width", "20"),
        ("width", 20.0),
        ("height", "20"),
        ("density", "0.8"),
        ("minority_pc", None),
        ("homophily", "0.4"),
        ("radius", float("inf")),
        ("radius", 1.5),
        ("torus", "false"),
        ("torus", 1),
        ("graph", [(0, 1)]),
        ("llm_share", "0.5"),
        ("llm_counts", [10, 5]),
        ("llm_counts", {0: 1.5}),
        ("backend", 42),
        ("cache", NotACache()),
        ("runtime", "fast"),
        ("sequential", "false"),
        ("rng", "seed"),
        ("rng", True),
    ],
)
def test_a_parameter_of_the_wrong_type_raises_a_type_error_naming_it(name, value):
    with pytest.raises(TypeError, match=name):
        SchellingModel(**{name: value})


@pytest.mark.parametrize(
    ("name", "value", "more"),
    [
        ("width", 0, {}),
        ("height", -1, {}),
        ("density", float("nan"), {}),
        ("density", 1.0, {}),
        ("minority_pc", 1.5, {}),
        ("homophily", -0.1, {}),
        ("radius", 0, {}),
        ("llm_share", float("inf"), {}),
        ("llm_counts", {0: -1}, {}),
        ("llm_counts", {2: 1}, {}),
        ("backend", "no_such_provider:model", {}),
        ("cache", InMemoryCache(), {"runtime": LLMRuntime(rule_following_backend(0.4))}),
        ("runtime", LLMRuntime(rule_following_backend(0.4)), {"backend": "rule"}),
        ("rng", -1, {}),
    ],
)
def test_a_parameter_of_a_wrong_value_raises_a_value_error_naming_it(name, value, more):
    """Flags and graphs have no wrong value, only wrong types."""
    with pytest.raises(ValueError, match=name):
        SchellingModel(**{name: value, **more})


def test_text_settings_of_the_lab_reach_the_model_typed():
    params = model_parameters(SCENARIO, {"sequential": "false", "torus": "yes", "width": "6", "radius": "2"})
    assert (params["sequential"], params["torus"], params["width"], params["radius"]) == (False, True, 6, 2)
    model = SchellingModel(**params, rng=0)
    assert (model.sequential, model.grid.torus, model.radius) == (False, True, 2)


def error_of(call, params):
    """The type and message of the error ``call(**params)`` raises."""
    with pytest.raises((TypeError, ValueError)) as info:
        call(**params)
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "params",
    [
        {"width": "20"},
        {"density": 1.0},
        {"homophily": float("nan")},
        {"radius": 1.5},
        {"torus": "false"},
        {"graph": [(0, 1)]},
        {"llm_share": 0.5, "llm_counts": {0: 1}},
        {"llm_counts": {2: 1}},
        {"framing": "sci-fi"},
        {"framing": "plain", "framings": {"plain": "Stay or move?"}},
        {"rng": "seed"},
    ],
)
def test_the_scenario_check_rejects_what_the_constructor_rejects_with_its_error(params):
    assert error_of(lambda **p: SCENARIO.check(p), params) == error_of(SchellingModel, params)


def test_the_scenario_check_accepts_the_defaults_and_refuses_unknown_names():
    SCENARIO.check(model_parameters(SCENARIO, {}))
    SCENARIO.check({"framing": "social", "rng": 3, "llm_share": 1.0})
    with pytest.raises(TypeError, match="colour"):
        SCENARIO.check({"colour": "blue"})


def test_the_scenario_declares_its_outcomes_and_the_framing_parameter():
    assert [(o.metric, o.margin, o.last) for o in SCENARIO.outcomes] == [
        ("segregation", 0.05, 10),
        ("pct_happy", 5.0, 10),
    ]
    model = SchellingModel(width=10, height=10, rng=2)
    model.run_for(12)
    frame = model.datacollector.get_model_vars_dataframe()
    segregation, pct_happy = (outcome.summarise(frame) for outcome in SCENARIO.outcomes)
    assert segregation == frame["segregation"].iloc[-10:].mean() > 0.5  # a share, the last 10 steps
    assert pct_happy == frame["pct_happy"].iloc[-10:].mean() > 50  # a percentage
    parameter = SCENARIO.parameters()["framing"]
    assert (parameter.kind, parameter.default) == (str, "neutral")
    assert "colours" in parameter.description
    assert "framings" not in SCENARIO.parameters()  # a mapping of templates: set in Python only


@pytest.mark.parametrize(
    ("dimensions", "torus", "radius"),
    [
        ((7, 5), False, 1),
        ((7, 5), True, 1),
        ((6, 9), False, 3),
        ((3, 3), True, 2),
        ((1, 6), True, 1),
        ((2, 2), False, 4),
    ],
)
def test_the_offset_neighbour_index_of_a_grid_is_mesas_neighbourhood(dimensions, torus, radius):
    """Computed by offsets on an orthogonal Moore grid: exactly Mesa's get_neighborhood of every cell."""
    grid = OrthogonalMooreGrid(dimensions, torus=torus, capacity=1, random=random.Random(0))
    index = NeighbourIndex(grid, radius)
    cells = list(grid.all_cells)
    found = {(i, j) for i, j in zip(index._rows.tolist(), index._columns.tolist(), strict=True)}
    mesas = {
        (i, index.position[n])
        for i, cell in enumerate(cells)
        for n in cell.get_neighborhood(radius=radius).cells
    }
    assert found == mesas
    assert len(index._rows) == len(mesas)  # no pair twice
