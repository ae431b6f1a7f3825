"""Populations: which agents are LLM agents, reporter columns by population, and mixing shares."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from mesa_llm import LLMRuntime
from mesa_llm.populations import (
    ALL,
    LLM,
    POPULATIONS,
    RULE,
    by_population,
    choose_llm,
    column,
    label,
    llm_share_indices,
    per_population,
    population,
    ratio,
)
from tests import world
from tests.world import Rule, World, chat


def test_an_agent_is_in_the_llm_population_when_it_decides_with_a_language_model():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    llm, rule = world.LLM(model, runtime=runtime), Rule(model)
    assert (population(llm), population(rule)) == (LLM, RULE)
    assert llm.population == LLM  # the attribute agent reporters read
    assert POPULATIONS == ("rule", "llm")


def test_columns_and_labels_of_a_metric():
    assert [column("pct_happy", g) for g in (ALL, *POPULATIONS)] == [
        "pct_happy",
        "pct_happy_rule",
        "pct_happy_llm",
    ]
    assert [label(g) for g in (ALL, *POPULATIONS)] == ["all", "rule", "LLM"]


def test_per_population_reporters_come_population_by_population():
    counts = SimpleNamespace(happy={RULE: 3, LLM: 1}, moved={RULE: 0, LLM: 2})
    reporters = per_population({"happy": lambda m, p: m.happy[p], "moves": lambda m, p: m.moved[p]})
    assert list(reporters) == ["happy_rule", "moves_rule", "happy_llm", "moves_llm"]
    assert [reporter(counts) for reporter in reporters.values()] == [3, 0, 1, 2]


def test_ratio_of_an_empty_population_is_nan():
    assert ratio(3, 4) == 0.75
    assert math.isnan(ratio(0, 0))


@pytest.mark.parametrize(("n", "share", "k"), [(10, 0.0, 0), (10, 1.0, 10), (10, 0.3, 3), (7, 0.5, 4)])
def test_llm_share_indices_choose_the_rounded_share(n, share, k):
    chosen = llm_share_indices(np.random.default_rng(1), n, share)
    assert len(chosen) == k
    assert chosen <= set(range(n))


def test_llm_share_indices_draw_from_the_given_rng_only_when_needed():
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    assert llm_share_indices(rng, 9, 1.0) == set(range(9))
    assert rng.bit_generator.state == state  # all or none: no draw
    first = llm_share_indices(np.random.default_rng(5), 20, 0.5)
    assert first == llm_share_indices(np.random.default_rng(5), 20, 0.5)
    assert first != llm_share_indices(np.random.default_rng(6), 20, 0.5)


def test_choose_llm_draws_from_the_models_numpy_rng_only():
    model = World(rng=5)
    before = model.random.getstate()
    chosen = choose_llm(model, 10, 0.3)
    assert len(chosen) == 3
    assert chosen <= set(range(10))
    assert model.random.getstate() == before  # the rule dynamics' generator is untouched
    assert choose_llm(World(rng=5), 10, 0.3) == chosen


@pytest.mark.parametrize(
    ("model", "n", "share", "error", "message"),
    [
        (World(rng=0), 10, 1.5, ValueError, r"llm_share must be a fraction in \[0, 1\], got 1.5"),
        (World(rng=0), 10, "0.5", TypeError, "llm_share must be a number"),
        (World(rng=0), -1, 0.5, ValueError, "n"),
        (World(rng=0), 2.5, 0.5, TypeError, "n .the number of agents. must be a whole number"),
        (SimpleNamespace(), 10, 0.5, TypeError, "rng must be a numpy Generator such as model.rng"),
    ],
)
def test_choose_llm_refuses_bad_input_naming_it(model, n, share, error, message):
    with pytest.raises(error, match=message):
        choose_llm(model, n, share)


def _mixed_world():
    model = World(rng=0)
    runtime = LLMRuntime(chat(lambda _m: "stay")[0])
    for crowd in (1, 3, 5):
        Rule(model, crowd=crowd)
    for crowd in (2, 6):
        world.LLM(model, crowd=crowd, runtime=runtime)
    return model


def test_by_population_reports_an_agent_measure_for_all_and_each_population():
    reporters = by_population({"crowd": "crowd", "big": lambda a: a.crowd > 2}, how="mean")
    assert list(reporters) == ["crowd", "crowd_rule", "crowd_llm", "big", "big_rule", "big_llm"]
    model = _mixed_world()
    values = {name: report(model) for name, report in reporters.items()}
    assert values == {
        "crowd": 17 / 5,
        "crowd_rule": 3.0,
        "crowd_llm": 4.0,
        "big": 3 / 5,
        "big_rule": 2 / 3,
        "big_llm": 0.5,
    }
    sums = by_population({"crowd": "crowd"}, how="sum")
    assert [report(model) for report in sums.values()] == [17, 9, 8]
    counts = by_population({"big": lambda a: a.crowd > 2}, how="count")
    assert [report(model) for report in counts.values()] == [3, 2, 1]


def test_by_population_of_an_empty_population_is_nan_and_works_in_a_datacollector():
    import mesa

    model = World(rng=0)
    Rule(model, crowd=4)
    collector = mesa.DataCollector(model_reporters=by_population({"crowd": "crowd"}))
    collector.collect(model)
    row = collector.get_model_vars_dataframe().iloc[0]
    assert row["crowd"] == row["crowd_rule"] == 4
    assert math.isnan(row["crowd_llm"])


def test_by_population_refuses_bad_measures_and_aggregates():
    with pytest.raises(TypeError, match="measure 'x' must be an agent attribute name or a function"):
        by_population({"x": 3})
    with pytest.raises(ValueError, match="how must be one of 'mean', 'sum', 'count', got 'median'"):
        by_population({"x": "x"}, how="median")
