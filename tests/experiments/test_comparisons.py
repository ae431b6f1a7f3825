"""The comparisons under the verdict: rank tests, pairs (paired or not), Holm, and the seeds to decide."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

from mesa_llm.experiments.comparisons import (
    POWER,
    compare_pair,
    compare_paired,
    holm,
    kruskal_wallis,
    paired_test,
    pooled_sd,
    seeds_to_decide,
)


def test_holm_matches_statsmodels_and_leaves_tests_not_made_out():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.0001, 0.5])
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    with_missing = holm([0.01, math.nan, 0.04])
    assert math.isnan(with_missing[1])
    assert with_missing[[0, 2]] == pytest.approx(multipletests([0.01, 0.04], method="holm")[1])
    assert holm([]).size == 0


def test_kruskal_wallis_answers_degenerate_groups_without_dividing_by_zero():
    assert kruskal_wallis([np.ones(3), np.ones(4)]) == (0.0, 1.0, "all values identical")
    h, p, note = kruskal_wallis([np.ones(3), np.array([2.0])])
    assert math.isnan(h)
    assert math.isnan(p)
    assert "fewer than two levels" in note
    h, p, _ = kruskal_wallis([np.arange(5.0), np.arange(5.0) + 10])
    assert p < 0.05
    assert h == pytest.approx(stats.kruskal(np.arange(5.0), np.arange(5.0) + 10).statistic)


def test_a_pair_has_its_difference_interval_and_welch_tost():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.5, 0.02, 12), rng.normal(0.52, 0.03, 9)
    row = compare_pair(a, b, 0.05, n_boot=2000, rng=np.random.default_rng(0))
    assert row["diff"] == pytest.approx(a.mean() - b.mean())
    assert row["ci_low"] < row["diff"] < row["ci_high"]
    assert row["p_tost"] == pytest.approx(ttost_ind(a, b, -0.05, 0.05, usevar="unequal")[0])
    assert (row["n_a"], row["n_b"], row["note"]) == (12, 9, "")


def test_constant_pairs_are_exact_and_a_single_run_is_not_testable():
    exact = compare_pair(np.full(3, 0.4), np.full(4, 0.42), 0.05, n_boot=100, rng=np.random.default_rng(0))
    assert (exact["ci_low"], exact["ci_high"], exact["p_tost"]) == (pytest.approx(-0.02),) * 2 + (0.0,)
    apart = compare_pair(np.full(3, 0.4), np.full(4, 0.5), 0.05, n_boot=100, rng=np.random.default_rng(0))
    assert apart["p_tost"] == 1.0
    single = compare_pair(np.array([0.4]), np.full(4, 0.4), 0.05, n_boot=100, rng=np.random.default_rng(0))
    assert math.isnan(single["p_tost"])
    assert math.isnan(single["ci_low"])
    assert single["note"] == "fewer than 2 runs"


def test_pooled_sd_uses_the_groups_with_two_runs():
    assert pooled_sd([np.array([1.0, 3.0]), np.array([5.0])]) == pytest.approx(math.sqrt(2))
    assert math.isnan(pooled_sd([np.array([1.0])]))


def rejection_rate(test, seeds, diff, sd, repeats=400):
    rng = np.random.default_rng(11)
    return np.mean([test(rng.normal(0, sd, seeds), rng.normal(diff, sd, seeds)) for _ in range(repeats)])


def test_the_seeds_for_equivalence_give_tost_its_power():
    seeds = int(seeds_to_decide(0.01, 0.03, 0.05, 0.05, 2))
    assert 2 < seeds < 100

    def tost(a, b):
        return ttost_ind(a, b, -0.05, 0.05, usevar="unequal")[0] < 0.05

    assert rejection_rate(tost, seeds, 0.01, 0.03) >= POWER - 0.05
    assert rejection_rate(tost, max(2, seeds // 2), 0.01, 0.03) < POWER


def test_the_seeds_for_a_difference_give_kruskal_wallis_its_power():
    seeds = int(seeds_to_decide(0.08, 0.06, 0.05, 0.05, 2))
    assert 2 < seeds < 100

    def kruskal(a, b):
        return stats.kruskal(a, b).pvalue < 0.05

    assert rejection_rate(kruskal, seeds, 0.08, 0.06) >= POWER - 0.05
    assert rejection_rate(kruskal, max(2, seeds // 2), 0.08, 0.06) < POWER


def test_seeds_to_decide_at_the_edges():
    assert seeds_to_decide(0.0, 0.0, 0.05, 0.05, 2) == 2  # constant and equal: two runs show it
    assert seeds_to_decide(0.2, 0.0, 0.05, 0.05, 2) == 3  # separated constants: the rank test's least
    assert seeds_to_decide(0.0499, 0.05, 0.05, 0.05, 2) == math.inf  # at the margin: never
    assert math.isnan(seeds_to_decide(0.01, math.nan, 0.05, 0.05, 2))
    assert seeds_to_decide(0.01, 0.03, 0.05, 0.01, 2) > seeds_to_decide(0.01, 0.03, 0.05, 0.05, 2)


# --------------------------------------------------------------------------- paired by seed
def test_the_paired_test_is_wilcoxon_for_two_levels_and_friedman_for_more():
    rng = np.random.default_rng(5)
    world = rng.normal(0.5, 0.1, 8)
    a, b, c = world, world + rng.normal(0.03, 0.01, 8), world + rng.normal(0.0, 0.01, 8)
    assert paired_test([a, b])[:2] == pytest.approx(tuple(stats.wilcoxon(a, b)))
    assert paired_test([a, b, c])[:2] == pytest.approx(tuple(stats.friedmanchisquare(a, b, c)))
    assert paired_test([a, b])[1] < 0.05  # shifted at every seed, whatever the world
    assert kruskal_wallis([a, b])[1] > 0.05  # the worlds hide it from an unpaired test
    assert paired_test([a, a.copy()]) == (0.0, 1.0, "every seed gives every level the same value")
    h, p, note = paired_test([a[:1], b[:1]])
    assert math.isnan(h)
    assert math.isnan(p)
    assert note == "fewer than two levels or two seeds"


def test_a_paired_pair_is_the_mean_difference_with_a_seed_bootstrap_and_paired_tost():
    rng = np.random.default_rng(3)
    world = rng.normal(0.5, 0.1, 12)
    a, b = world + rng.normal(0.0, 0.01, 12), world + rng.normal(0.01, 0.01, 12)
    row = compare_paired(a, b, 0.05, n_boot=2000, rng=np.random.default_rng(0))
    assert row["diff"] == pytest.approx((a - b).mean())
    assert row["ci_low"] < row["diff"] < row["ci_high"]
    assert row["ci_high"] - row["ci_low"] < 0.03  # the worlds' spread of 0.1 is not in it
    assert row["p_tost"] == pytest.approx(ttost_paired(a, b, -0.05, 0.05)[0])
    assert row["sd"] == pytest.approx((a - b).std(ddof=1))
    exact = compare_paired(world + 0.02, world, 0.05, n_boot=100, rng=np.random.default_rng(0))
    assert (exact["ci_low"], exact["ci_high"], exact["p_tost"], exact["sd"]) == (
        pytest.approx(0.02),
        pytest.approx(0.02),
        0.0,
        0.0,
    )


def paired_rejection_rate(test, seeds, diff, sd, repeats=400):
    rng = np.random.default_rng(13)
    rates = []
    for _ in range(repeats):
        world = rng.normal(0.5, 0.2, seeds)  # a large world, shared by the pair
        rates.append(
            test(
                world + rng.normal(0, sd / math.sqrt(2), seeds),
                world + rng.normal(diff, sd / math.sqrt(2), seeds),
            )
        )
    return np.mean(rates)


def test_the_paired_seeds_give_paired_tost_and_the_signed_rank_test_their_power():
    """``sd`` is that of the per-seed differences: each condition's own noise is sd / sqrt(2)."""
    seeds = int(seeds_to_decide(0.01, 0.03, 0.05, 0.05, 2, paired=True))
    assert 2 < seeds < 100

    def tost(a, b):
        return ttost_paired(a, b, -0.05, 0.05)[0] < 0.05

    assert paired_rejection_rate(tost, seeds, 0.01, 0.03) >= POWER - 0.05
    assert paired_rejection_rate(tost, max(2, seeds // 2), 0.01, 0.03) < POWER
    seeds = int(seeds_to_decide(0.08, 0.06, 0.05, 0.05, 2, paired=True))

    def wilcoxon(a, b):
        return stats.wilcoxon(a, b).pvalue < 0.05

    assert paired_rejection_rate(wilcoxon, seeds, 0.08, 0.06) >= POWER - 0.05
    assert paired_rejection_rate(wilcoxon, max(2, seeds // 2), 0.08, 0.06) < POWER
    assert seeds_to_decide(0.2, 0.0, 0.05, 0.05, 2, paired=True) == 6  # the signed-rank test's least
