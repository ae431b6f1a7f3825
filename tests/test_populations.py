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
