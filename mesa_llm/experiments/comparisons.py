"""Comparisons of the runs of a few conditions: a difference test, pairwise differences, equivalence, power.

The building blocks of the robustness verdict (:mod:`mesa_llm.experiments.robustness`), on
plain arrays of run outcomes (one value per seed), one array per condition:

- :func:`kruskal_wallis`: Kruskal–Wallis across the conditions. It is used rather than
  Welch's ANOVA because run outcomes of agent-based models are often skewed, bounded
  (shares in [0, 1]) or tied (several seeds ending in the same state), and a rank test
  needs neither normality nor equal variances to keep its level.
- :func:`compare_pair`: the difference of two means with a percentile bootstrap interval
  (each condition resampled with replacement on its own, with the caller's generator) and
  the TOST equivalence test of Welch's t against the margin δ.
- :func:`seeds_to_decide`: how many seeds per condition a power analysis says would decide
  a comparison that is still open.

Paired by seed (:func:`paired_test`, :func:`compare_paired`): in a sweep every condition
runs the same seeds, and a seed gives each the same world to start from, so the outcomes
of one seed across conditions are matched. Friedman's test (Wilcoxon's signed-rank test
for two conditions) then compares them within seeds, and a pair's difference is the mean
of its per-seed differences, with a bootstrap of the seeds and TOST of the paired t.

Degenerate data are answered exactly rather than passed to a test that would divide by
zero: two constant conditions differ by exactly their difference (equivalent when it is
within δ, its interval a point), and a condition with fewer than two runs has no variance,
so no test of it is possible.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.weightstats import ttost_ind, ttost_paired

__all__ = [
    "POWER",
    "compare_pair",
    "compare_paired",
    "conditions",
    "holm",
    "kruskal_wallis",
    "label",
    "paired_test",
    "pooled_sd",
    "seeds_to_decide",
]

# The power a "seeds needed" estimate is for.
POWER = 0.8
# The most seeds per condition a power analysis looks for; beyond it the answer is infinite.
_MOST_SEEDS = 100_000
# Kruskal-Wallis's asymptotic relative efficiency against the t test under normality is 3/pi.
_KRUSKAL_EFFICIENCY = 3 / math.pi


def conditions(runs: pd.DataFrame, factors: Sequence[str]) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """The runs of each combination of the factors' levels (in order of appearance), with its levels."""
    if not factors:
        return [({}, runs)]
    return [
        (dict(zip(factors, key if isinstance(key, tuple) else (key,), strict=True)), group)
        for key, group in runs.groupby(list(factors), sort=False, dropna=False)
    ]


def label(levels: Mapping[str, Any]) -> str:
    """A condition's levels as ``"backend=a, framing=x"`` (``""`` for none)."""
    return ", ".join(f"{name}={value}" for name, value in levels.items())


def kruskal_wallis(groups: Sequence[np.ndarray]) -> tuple[float, float, str]:
    """Kruskal–Wallis across the groups that hold at least two runs.

    Returns:
        ``(H, p, note)``: NaN for both with fewer than two such groups; ``(0.0, 1.0)``
        where every value is the same (no difference to find, which scipy would answer
        with a division by zero).
    """
    testable = [group for group in groups if len(group) >= 2]
    if len(testable) < 2:
        return math.nan, math.nan, "fewer than two levels with two runs or more"
    values = np.concatenate(testable)
    if np.all(values == values[0]):
        return 0.0, 1.0, "all values identical"
    result = stats.kruskal(*testable)
    return float(result.statistic), float(result.pvalue), ""


def compare_pair(
    a: np.ndarray, b: np.ndarray, margin: float, *, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """The difference ``mean(a) - mean(b)``, its 95% percentile bootstrap interval, and TOST against δ.

    Args:
        a: one condition's run outcomes (no NaN).
        b: the other's.
        margin: the equivalence margin δ (> 0).
        n_boot: bootstrap resamples.
        rng: the generator every resample draws from.

    Returns:
        ``n_a``, ``n_b``, ``mean_a``, ``mean_b``, ``diff``, ``ci_low``, ``ci_high``,
        ``p_tost`` (the larger of the two one-sided Welch p-values for
        ``-δ < diff < δ``; NaN where a condition has fewer than two runs) and ``note``.
    """
    row = _means(a, b)
    row["diff"] = row["mean_a"] - row["mean_b"]
    if min(len(a), len(b)) < 2:
        return row | {
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_tost": math.nan,
            "note": "fewer than 2 runs",
        }
    if np.all(a == a[0]) and np.all(b == b[0]):
        equivalent = abs(row["diff"]) < margin
        return row | {
            "ci_low": row["diff"],
            "ci_high": row["diff"],
            "p_tost": 0.0 if equivalent else 1.0,
            "note": "zero variance: the difference is exact",
        }
    interval = stats.bootstrap(
        (a, b), _mean_difference, vectorized=True, n_resamples=n_boot, method="percentile", rng=rng
    ).confidence_interval
    p_tost = ttost_ind(a, b, -margin, margin, usevar="unequal")[0]
    return row | {
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "p_tost": float(p_tost),
        "note": "",
    }


def paired_test(groups: Sequence[np.ndarray]) -> tuple[float, float, str]:
    """Friedman's test across three or more conditions matched by seed; Wilcoxon's signed-rank test for two.

    Args:
        groups: one array per condition, each holding the same seeds' outcomes in the same order.

    Returns:
        ``(statistic, p, note)``: NaN for both with fewer than two conditions or seeds;
        ``(0.0, 1.0)`` where every seed gives every condition the same value.
    """
    if len(groups) < 2 or len(groups[0]) < 2:
        return math.nan, math.nan, "fewer than two levels or two seeds"
    values = np.vstack(groups)
    if np.all(values == values[:1]):
        return 0.0, 1.0, "every seed gives every level the same value"
    result = stats.wilcoxon(*groups) if len(groups) == 2 else stats.friedmanchisquare(*groups)
    return float(result.statistic), float(result.pvalue), ""


def compare_paired(
    a: np.ndarray, b: np.ndarray, margin: float, *, n_boot: int, rng: np.random.Generator
) -> dict[str, Any]:
    """:func:`compare_pair` of two conditions matched by seed: the mean per-seed difference ``a - b``.

    Its interval is a percentile bootstrap of the seeds' differences; TOST is that of the
    paired t (statsmodels' ``ttost_paired``). Differences that are all the same are exact.

    Returns:
        The keys of :func:`compare_pair` (``n_a`` and ``n_b`` both the seeds) and ``sd``,
        the standard deviation of the differences.
    """
    d = a - b
    row = _means(a, b) | {"diff": float(d.mean()) if len(d) else math.nan}
    if len(d) < 2:
        missing = dict.fromkeys(("ci_low", "ci_high", "p_tost", "sd"), math.nan)
        return row | missing | {"note": "fewer than 2 seeds"}
    if np.all(d == d[0]):
        exact = {
            "ci_low": row["diff"],
            "ci_high": row["diff"],
            "p_tost": 0.0 if abs(row["diff"]) < margin else 1.0,
        }
        return row | exact | {"sd": 0.0, "note": "the same difference at every seed: it is exact"}
    interval = stats.bootstrap(
        (d,), np.mean, vectorized=True, n_resamples=n_boot, method="percentile", rng=rng
    ).confidence_interval
    return row | {
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "p_tost": float(ttost_paired(a, b, -margin, margin)[0]),
        "sd": float(d.std(ddof=1)),
        "note": "",
    }


def _means(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """The runs and the mean of each of two conditions (NaN for one without runs)."""
    return {
        "n_a": len(a),
        "n_b": len(b),
        "mean_a": float(a.mean()) if len(a) else math.nan,
        "mean_b": float(b.mean()) if len(b) else math.nan,
    }


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values of the finite ones; NaN stays NaN (a test not made is not in the family).

    The same values as statsmodels' ``multipletests(p, method="holm")``, which runs a
    full garbage collection on every call (a third of a second in a large process).
    """
    p = np.asarray(p, dtype=float)
    adjusted = np.full_like(p, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    steps = p[order] * np.arange(len(order), 0, -1)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted


def pooled_sd(groups: Sequence[np.ndarray]) -> float:
    """The within-group standard deviation pooled over the groups with two runs or more; NaN without any."""
    testable = [group for group in groups if len(group) >= 2]
    dof = sum(len(group) - 1 for group in testable)
    if not dof:
        return math.nan
    return math.sqrt(sum(((group - group.mean()) ** 2).sum() for group in testable) / dof)


def seeds_to_decide(
    diff: float, sd: float, margin: float, alpha: float, levels: int, *, paired: bool = False
) -> float:
    """Seeds per level with which a still-open comparison would be decided with power :data:`POWER`.

    Assumes the true difference is the observed ``diff`` and the true within-level
    standard deviation the observed pooled ``sd``, with equal seeds per level. ``paired``:
    the conditions are matched by seed and ``sd`` is that of the per-seed differences; the
    t tests are then one-sample tests of the differences (``df = n - 1``), the rank test's
    efficiency is the signed-rank test's (also π/3), and its least seeds those of Friedman's
    test (Wilcoxon's for two levels) on levels ordered alike at every seed. Unpaired:

    - ``|diff| < margin``: equivalence can be shown. The seeds at which TOST at level
      ``alpha`` (two one-sided Welch t tests, ``df = 2n - 2``) rejects both
      non-equivalence hypotheses with that power, from the noncentral t distribution:
      ``power = P(T1 > t) + P(T2 < -t) - 1``.
    - ``|diff| >= margin``: only a difference can be shown. The seeds at which a
      two-sided two-sample t test at level ``alpha`` has that power (noncentral t, as
      statsmodels' ``TTestIndPower``, whose answer turns NaN at large noncentralities),
      multiplied by π/3 (the Kruskal–Wallis test's asymptotic relative efficiency under
      normality), and at least the seeds at which Kruskal–Wallis across ``levels``
      fully separated levels can reach ``alpha``.

    Returns:
        A whole number of seeds (at least 2), ``inf`` beyond 100 000, NaN without a
        standard deviation.
    """
    if not math.isfinite(sd):
        return math.nan
    if abs(diff) < margin:
        if sd == 0:
            return 2.0
        return _smallest_seeds(lambda n: _tost_power(n, abs(diff), sd, margin, alpha, paired))
    least = _paired_least_seeds(levels, alpha) if paired else _kruskal_least_seeds(levels, alpha)
    if sd == 0:
        return float(least)
    seeds = _smallest_seeds(lambda n: _t_test_power(n, abs(diff), sd, alpha, paired))
    return seeds if math.isinf(seeds) else float(max(least, math.ceil(seeds / _KRUSKAL_EFFICIENCY)))


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def _error(n: int, sd: float, paired: bool) -> tuple[float, int]:
    """The standard error of a difference of two means of ``n`` seeds each, and its degrees of freedom."""
    return (sd / math.sqrt(n), n - 1) if paired else (sd * math.sqrt(2 / n), 2 * n - 2)


def _tost_power(n: int, diff: float, sd: float, margin: float, alpha: float, paired: bool) -> float:
    error, dof = _error(n, sd, paired)
    critical = stats.t.ppf(1 - alpha, dof)
    upper = stats.nct.sf(critical, dof, (diff + margin) / error)
    lower = stats.nct.cdf(-critical, dof, (diff - margin) / error)
    return float(upper + lower - 1)


def _t_test_power(n: int, diff: float, sd: float, alpha: float, paired: bool) -> float:
    error, dof = _error(n, sd, paired)
    critical = stats.t.ppf(1 - alpha / 2, dof)
    # scipy answers the far tail (a probability of about 0) with NaN at large noncentralities
    far = float(np.nan_to_num(stats.nct.cdf(-critical, dof, diff / error)))
    return float(stats.nct.sf(critical, dof, diff / error)) + far


def _smallest_seeds(power: Callable[[int], float]) -> float:
    """The smallest n in [2, 100 000] with ``power(n) >= POWER`` (power grows with n).

    Doubling n until the power is reached, then bisecting, keeps the noncentral t away
    from the noncentralities where its tails lose precision.
    """
    high = 2
    while power(high) < POWER:
        if high >= _MOST_SEEDS:
            return math.inf
        high = min(2 * high, _MOST_SEEDS)
    low = max(2, high // 2)
    while low < high:
        middle = (low + high) // 2
        if power(middle) >= POWER:
            high = middle
        else:
            low = middle + 1
    return float(low)


@functools.cache
def _kruskal_least_seeds(levels: int, alpha: float) -> int:
    """The fewest seeds per level with which Kruskal–Wallis on fully separated levels gets p < alpha."""
    seeds = 2
    while (
        seeds < _MOST_SEEDS and stats.kruskal(*(np.full(seeds, level) for level in range(levels)))[1] >= alpha
    ):
        seeds += 1
    return seeds


@functools.cache
def _paired_least_seeds(levels: int, alpha: float) -> int:
    """The fewest seeds with which the paired rank test on levels ordered alike at each seed has p < alpha."""
    seeds = 2
    while seeds < _MOST_SEEDS:
        ordered = [np.arange(seeds) + level * seeds for level in range(levels)]
        if paired_test(ordered)[1] < alpha:
            break
        seeds += 1
    return seeds
