"""Variance shares: each factor's, each interaction's and the seed's share of an outcome's sum of squares."""

import numpy as np
import pytest

from mesa_llm.experiments.shares import RESIDUAL, variance_shares
from tests.experiments.synthetic import BACKENDS, by_backend, summary


def shares(frame, factors):
    rows = variance_shares(frame, "segregation", factors)
    return {row["source"]: row["share"] for row in rows}, {row["design"] for row in rows}


def test_a_single_factor_splits_the_sum_of_squares_between_it_and_the_seed():
    frame = summary(by_backend)
    found, design = shares(frame, ["backend"])
    y = frame["segregation"]
    between = frame.groupby("backend")["segregation"].transform("mean")
    assert found["backend"] == pytest.approx(((between - y.mean()) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert found["backend"] + found[RESIDUAL] == pytest.approx(1.0)
    assert design == {"main effects, balanced"}


def test_a_balanced_factorial_design_has_interactions_and_shares_summing_to_one():
    crossed = summary(lambda b, f: 0.7 if (b == BACKENDS[0]) != (f == "social") else 0.5)
    found, design = shares(crossed, ["backend", "framing"])
    assert list(found) == ["backend", "framing", "backend × framing", RESIDUAL]
    assert sum(found.values()) == pytest.approx(1.0)
    assert found["backend × framing"] > 0.9  # neither factor alone matters
    assert design == {"full factorial, balanced"}


def test_an_unbalanced_design_says_its_shares_need_not_sum_to_one():
    frame = summary(by_backend).drop(index=[0, 1, 2])
    _, design = shares(frame, ["backend", "framing"])
    assert design == {"full factorial, unbalanced: type II shares need not sum to 1"}


def test_a_missing_combination_or_a_single_seed_leaves_the_interactions_out():
    frame = summary(by_backend, backends=(*BACKENDS, "local:other"))
    incomplete = frame[~((frame["backend"] == "local:other") & (frame["framing"] == "social"))]
    found, design = shares(incomplete, ["backend", "framing"])
    assert list(found) == ["backend", "framing", RESIDUAL]
    assert design == {
        "main effects, interactions in the residual, unbalanced: type II shares need not sum to 1"
    }
    found, design = shares(summary(by_backend, seeds=1), ["backend", "framing"])
    assert list(found) == ["backend", "framing", RESIDUAL]
    assert design == {"main effects, interactions in the residual, balanced"}


def test_too_few_runs_or_no_varied_factor_gives_no_shares():
    frame = summary(by_backend, seeds=1, framings=("neutral",))
    assert variance_shares(frame, "segregation", ["backend"]) == []  # two runs, two parameters
    assert variance_shares(frame, "segregation", ["framing"]) == []  # one level: not a factor here
    frame["segregation"] = np.nan
    assert variance_shares(frame, "segregation", ["backend"]) == []
