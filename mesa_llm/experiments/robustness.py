"""The robustness verdict of a sweep: does an outcome depend on the language model, the framing, any axis?

:func:`robustness` reads a sweep's summary frame (one row per run) and answers, for each
outcome metric (:class:`~mesa_llm.lab.Outcome`) and each swept axis, whether the outcome is
stable across the axis's levels (every pair of levels equivalent within the metric's margin
δ), depends on it (a significant difference), or cannot be told yet (and how many seeds
would tell). It is pure statistics on the frame: the same frame and generator give the
same report.

The statistics, for each metric and factor, among the runs with LLM agents, within each
stratum (each combination of the levels of the other varied axes):

- Kruskal–Wallis across the factor's levels (why a rank test:
  :mod:`mesa_llm.experiments.comparisons`), Holm-corrected across the strata;
- for each pair of levels, the difference of the means with a 95% percentile bootstrap
  interval, and TOST equivalence (Welch's t) against ±δ, Holm-corrected across every pair
  of every stratum.

With ``paired=True`` the levels are compared within seeds: a sweep runs every condition
on the same seeds, and a seed gives each the same world to start from, so the runs of one
seed are matched. Friedman's test (Wilcoxon's signed-rank test for two levels) replaces
Kruskal–Wallis, and each pair's difference is the mean of its per-seed differences, with a
bootstrap of the seeds and TOST of the paired t. The variation between worlds then drops
out of every comparison, and far fewer seeds decide it; a seed without a run at every
level of a stratum is left out of it.

The verdict is "stable" where every pair is equivalent, else "depends" where a stratum's
difference test is significant, else "inconclusive". A difference that is detectable but
within δ is stable: δ is the difference that matters. Runs without LLM agents are the rule
baseline, which each LLM condition is compared with in the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mesa_llm.checks import check_instance, check_int, check_number, check_seed
from mesa_llm.experiments import report
from mesa_llm.experiments.comparisons import conditions, label
from mesa_llm.experiments.shares import variance_shares
from mesa_llm.experiments.verdicts import (
    DEPENDS,
    NOT_VARIED,
    STABLE,
    UNDEFINED,
    compare,
    decide,
    holm_family,
    inconclusive_text,
    overall_verdicts,
    verdict_text,
)
from mesa_llm.lab import Outcome

__all__ = ["RobustnessReport", "robustness"]

# Columns of a summary frame that are not axes.
_RESERVED = frozenset({"run", "seed", "status", "error", "llm_agents", "elapsed_s"})
_FACTOR_COLUMNS = [
    "metric", "factor", "verdict", "text", "levels", "strata", "seeds", "statistic", "p",
    "largest_pair", "largest_diff", "ci_low", "ci_high", "seeds_needed", "note",
]  # fmt: skip


@dataclass(frozen=True, eq=False)
class RobustnessReport:
    """The robustness verdict of a sweep, as tidy frames, a markdown report and plots.

    Attributes:
        factors: one row per metric and factor: ``verdict`` (``"stable"``, ``"depends"``,
            ``"inconclusive"``, ``"not varied"``), ``text`` (for example "stable across
            language models"), ``levels``, ``strata``, ``seeds`` (the fewest runs of a
            level in a stratum), ``statistic`` and ``p`` (Kruskal–Wallis H and Holm p of
            the stratum with the smallest p), ``largest_pair``, ``largest_diff`` with its
            interval ``ci_low``/``ci_high``, ``seeds_needed`` (inconclusive only) and ``note``.
        pairs: one row per metric, factor, stratum and pair of levels: ``diff`` (``mean_a -
            mean_b``) with its interval, ``p_tost``, ``p_tost_holm``, ``equivalent``.
        strata: one row per metric, factor and stratum: Kruskal–Wallis ``statistic``,
            ``p``, ``p_holm``.
        variance: one row per metric and source (each factor, their interactions, ``seed
            (residual)``): ``sum_sq``, ``df``, ``share`` of the total sum of squares.
        baseline: one row per metric and LLM condition, compared with the rule-only runs
            (empty without them).
        overall: one row per metric: ``verdict`` (``"structural"``, ``"model-dependent"``,
            ``"framing-dependent"``, ``"model- and framing-dependent"``, ``"inconclusive"``,
            ``"not tested"`` where neither backend nor framing was varied, or
            ``"undefined"`` where no run gives the metric a value, such as a glider's
            survival from a random start) and ``text``.
        runs: the runs analysed (status ``"ok"``).
        failed: the runs left out because they failed (``run``, the axes, ``seed``, ``error``).
        steps: the analysed runs' steps frame, or None.
        outcomes: the outcome metrics, in order.
        margins: each metric's equivalence margin δ.
        varied: the factors with two levels or more among LLM runs.
        matched: the factors on which the rule baseline is matched to an LLM condition.
        alpha: the level of every test.
        n_boot: the bootstrap resamples of every interval.
        paired: whether the levels were compared within seeds.
    """

    factors: pd.DataFrame
    pairs: pd.DataFrame
    strata: pd.DataFrame
    variance: pd.DataFrame
    baseline: pd.DataFrame
    overall: pd.DataFrame
    runs: pd.DataFrame
    failed: pd.DataFrame
    steps: pd.DataFrame | None
    outcomes: tuple[Outcome, ...]
    margins: Mapping[str, float]
    varied: tuple[str, ...]
    matched: tuple[str, ...]
    alpha: float
    n_boot: int
    paired: bool = False

    def markdown(self) -> str:
        """The report as markdown: verdicts, effect sizes and intervals, variance shares, and its methods."""
        return report.markdown(self)

    def describe(self) -> str:
        """The verdicts in a few lines of plain text: per metric, overall and per varied factor."""
        return report.describe(self)

    def _repr_markdown_(self) -> str:  # a notebook shows the report's tables
        return self.markdown()

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{row.metric}: {row.verdict}" for row in self.overall.itertuples())
        failed = len(self.failed)
        return f"<RobustnessReport of {len(self.runs) + failed} runs ({failed} failed): {verdicts}>"

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``report.md`` and the PNG plots into ``folder`` (created if missing); returns their paths."""
        return report.write(self, Path(folder))


def _overall(frames: Mapping[str, pd.DataFrame], metrics: list[str], undefined: list[str]) -> pd.DataFrame:
    """The overall verdict per metric, then a row per metric that no run gives a value."""
    judged = overall_verdicts(frames["factors"], frames["baseline"], metrics)
    empty = dict.fromkeys(("baseline",) if "baseline" in judged else (), "")
    rows = [
        {"metric": m, "verdict": UNDEFINED, "text": "no run gives it a value", **empty} for m in undefined
    ]
    return pd.concat([judged, pd.DataFrame(rows, columns=judged.columns)], ignore_index=True)


def robustness(
    summary: pd.DataFrame,
    outcomes: Sequence[Outcome],
    factors: Sequence[str],
    *,
    steps: pd.DataFrame | None = None,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
    rng: int | np.random.Generator = 0,
    paired: bool = False,
) -> RobustnessReport:
    """The robustness verdict of a sweep's runs, for every outcome metric and factor.

    Args:
        summary: the sweep's summary frame (one row per run: ``run``, the axes, ``seed``,
            ``status``, ``llm_agents``, one column per outcome metric).
        outcomes: the outcome metrics to judge.
        factors: the swept axes to judge (columns of ``summary``); one with fewer than
            two levels among LLM runs is reported as "not varied".
        steps: the sweep's steps frame, for the time-series plots of :meth:`RobustnessReport.write`.
        margins: equivalence margins δ by metric, replacing the outcomes' own.
        alpha: the level of every test (0 < alpha < 1).
        n_boot: bootstrap resamples per interval (>= 100).
        rng: the seed or generator every bootstrap resample draws from.
        paired: compare the levels within seeds (see the module's description).

    Raises:
        TypeError: for factors given as one string, or an outcome that is not an Outcome.
        ValueError: for a missing column, a factor that is not an axis, an unknown metric
            in ``margins``, a bad margin, level or resample count, or, paired, a stratum
            with two runs of one seed at one level (an axis left out of ``factors``).
    """
    if isinstance(factors, str):
        raise TypeError(
            f"factors must be a list of axis names, got the string {factors!r}; pass [{factors!r}]."
        )
    outcomes = tuple(outcomes)
    factors = tuple(factors)
    for outcome in outcomes:
        check_instance("each outcome", outcome, Outcome, "a mesa_llm.lab.Outcome")
    deltas = _margins(outcomes, margins)
    _check_columns(summary, outcomes, factors, steps)
    alpha = check_number("alpha", alpha, above=0, below=1)
    n_boot = check_int("n_boot", n_boot, minimum=100)
    if not isinstance(paired, bool):
        raise TypeError(f"paired must be True or False, got {paired!r}.")
    generator = np.random.default_rng(check_seed(rng))
    ok = summary[summary["status"] == "ok"]
    undefined = [outcome.metric for outcome in outcomes if ok[outcome.metric].isna().all()]
    outcomes = tuple(outcome for outcome in outcomes if outcome.metric not in undefined)
    llm, rule = ok[ok["llm_agents"] > 0], ok[ok["llm_agents"] == 0]
    varied = tuple(factor for factor in factors if llm[factor].nunique(dropna=False) >= 2)
    matched = tuple(factor for factor in factors if rule[factor].nunique(dropna=False) >= 2)
    rows: dict[str, list[dict[str, Any]]] = {"factors": [], "pairs": [], "strata": [], "baseline": []}
    for outcome in outcomes:
        metric, margin = outcome.metric, deltas[outcome.metric]
        for factor in factors:
            verdict, pairs, strata = _judge_factor(
                llm, metric, margin, factor, varied, alpha, n_boot, generator, paired
            )
            rows["factors"].append(verdict)
            rows["pairs"] += pairs
            rows["strata"] += strata
        rows["baseline"] += _baseline(
            llm, rule, metric, margin, varied, matched, alpha, n_boot, generator, paired
        )
    frames = {name: pd.DataFrame(found) for name, found in rows.items()}
    frames["factors"] = frames["factors"].reindex(columns=_FACTOR_COLUMNS)
    failed = summary[summary["status"] != "ok"]
    return RobustnessReport(
        **frames,
        variance=pd.DataFrame(
            [row for outcome in outcomes for row in variance_shares(llm, outcome.metric, varied)]
        ),
        overall=_overall(frames, [o.metric for o in outcomes], undefined),
        runs=ok,
        failed=failed[[column for column in ("run", *factors, "seed", "error") if column in failed]],
        steps=None if steps is None else steps[steps["run"].isin(ok["run"])],
        outcomes=outcomes,
        margins=deltas,
        varied=varied,
        matched=matched,
        alpha=alpha,
        n_boot=n_boot,
        paired=paired,
    )


def _judge_factor(
    llm: pd.DataFrame,
    metric: str,
    margin: float,
    factor: str,
    varied: tuple[str, ...],
    alpha: float,
    n_boot: int,
    rng: np.random.Generator,
    paired: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The verdict row of one metric and factor, its pair rows and its strata rows."""
    head = {"metric": metric, "factor": factor}
    if factor not in varied:
        return head | {"verdict": NOT_VARIED, "text": verdict_text(factor, NOT_VARIED)}, [], []
    others = [other for other in varied if other != factor]
    order = list(pd.unique(llm[factor]))
    strata = []
    for levels, runs in conditions(llm, others):
        present = [level for level in order if level in set(runs[factor])]
        groups = _matched(runs, metric, factor, present) if paired else _groups(runs, metric, factor, present)
        if len(groups) >= 2:
            strata.append(compare(label(levels), groups, margin, n_boot, rng, paired))
    holm_family(strata)
    decision = decide(strata, margin, alpha, strata)
    pairs = [head | {"stratum": s.label} | pair for s in strata for pair in s.pairs]
    tests = [
        head | {"stratum": s.label, "statistic": s.test[0], "p": s.test[1], "p_holm": s.p_holm}
        | {"note": s.test[2]}
        for s in strata
    ]  # fmt: skip
    row = head | decision | {"levels": len(order), "strata": len(strata)}
    row["text"] = verdict_text(factor, row["verdict"], row["seeds_needed"])
    return row, pairs, tests


def _baseline(
    llm: pd.DataFrame,
    rule: pd.DataFrame,
    metric: str,
    margin: float,
    varied: tuple[str, ...],
    matched: tuple[str, ...],
    alpha: float,
    n_boot: int,
    rng: np.random.Generator,
    paired: bool,
) -> list[dict[str, Any]]:
    """Each LLM condition's outcome against the rule-only runs' outcome, as rows.

    An LLM condition is a combination of the levels of the ``varied`` factors. Its rule
    runs are those with the same levels of the ``matched`` factors (the factors that vary
    among the rule runs, such as a structural parameter); the rule runs are pooled over
    every other factor. The comparison is that of a stratum of two levels (LLM, rule):
    Kruskal–Wallis and TOST (paired: within seeds), each Holm-corrected across the
    conditions of the metric.
    """
    if rule.empty or llm.empty:
        return []
    found = []
    for condition, runs in conditions(llm, varied):
        same = np.ones(len(rule), dtype=bool)
        for factor in matched:
            same &= (rule[factor] == runs[factor].iloc[0]).to_numpy()
        if paired:
            both = pd.concat([runs.assign(_population="llm"), rule[same].assign(_population="rule")])
            groups = _matched(both, metric, "_population", ["llm", "rule"])
        else:
            groups = {"llm": _finite(runs[metric]), "rule": _finite(rule.loc[same, metric])}
        found.append((condition, compare(label(condition), groups, margin, n_boot, rng, paired)))
    family = [stratum for _, stratum in found]
    holm_family(family)
    rows = []
    for condition, stratum in found:
        decision = decide([stratum], margin, alpha, family)
        pair = stratum.pairs[0]
        text = {
            STABLE: "reproduces the rule baseline",
            DEPENDS: "differs from the rule baseline",
        }.get(decision["verdict"], inconclusive_text("against the rule baseline", decision["seeds_needed"]))
        rows.append(
            {"metric": metric, "condition": stratum.label, **condition}
            | {"n_llm": pair["n_a"], "n_rule": pair["n_b"], "llm_mean": pair["mean_a"]}
            | {"rule_mean": pair["mean_b"], "diff": pair["diff"], "ci_low": pair["ci_low"]}
            | {"ci_high": pair["ci_high"], "p_tost_holm": pair["p_tost_holm"], "p_diff_holm": stratum.p_holm}
            | {"verdict": decision["verdict"], "text": text, "seeds_needed": decision["seeds_needed"]}
            | {
                "note": decision["note"]
                if pair["n_b"]
                else f"no rule runs with the same {', '.join(matched)}"
            }
        )
    return rows


def _groups(runs: pd.DataFrame, metric: str, factor: str, levels: Sequence[Any]) -> dict[Any, np.ndarray]:
    return {level: _finite(runs.loc[runs[factor] == level, metric]) for level in levels}


def _matched(runs: pd.DataFrame, metric: str, factor: str, levels: Sequence[Any]) -> dict[Any, np.ndarray]:
    """Each level's outcomes of the seeds with a value at every level, in the same seed order.

    Raises:
        ValueError: for two runs of one seed at one level: they cannot be paired.
    """
    runs = runs[runs[factor].isin(levels)]
    if runs.duplicated([factor, "seed"]).any():
        raise ValueError(
            f"A paired analysis needs one run per seed and level of {factor} in each stratum, but "
            "some seed ran twice at one level: pass every swept axis as a factor, or paired=False."
        )
    table = runs.pivot(index="seed", columns=factor, values=metric).reindex(columns=list(levels))
    table = table[np.isfinite(table.to_numpy(dtype=float)).all(axis=1)]
    return {level: table[level].to_numpy(dtype=float) for level in levels}


def _finite(values: pd.Series) -> np.ndarray:
    array = values.to_numpy(dtype=float)
    return array[np.isfinite(array)]


def _margins(outcomes: tuple[Outcome, ...], margins: Mapping[str, float] | None) -> dict[str, float]:
    metrics = [outcome.metric for outcome in outcomes]
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"Each outcome metric must be given once, got {metrics}.")
    unknown = sorted(set(margins or {}) - set(metrics))
    if unknown:
        raise ValueError(
            f"margins names {unknown}, which are not outcome metrics; the metrics are {metrics}."
        )
    deltas = {outcome.metric: outcome.margin for outcome in outcomes}
    for metric, margin in (margins or {}).items():
        deltas[metric] = check_number(f"the margin of {metric!r}", margin, above=0)
    return deltas


def _check_columns(
    summary: pd.DataFrame, outcomes: tuple[Outcome, ...], factors: tuple[str, ...], steps: pd.DataFrame | None
) -> None:
    metrics = [outcome.metric for outcome in outcomes]
    missing = sorted({"run", "seed", "status", "llm_agents", *metrics, *factors} - set(summary.columns))
    if missing:
        raise ValueError(
            f"The summary frame has no column {missing}: pass a sweep's summary (result.summary or "
            f"summary.csv), outcomes among its metrics and factors among its axes."
        )
    wrong = sorted((set(factors) & (_RESERVED | set(metrics))) | {f for f in factors if factors.count(f) > 1})
    if wrong:
        raise ValueError(f"factors must be distinct swept axes, not {wrong}.")
    if steps is not None:
        missing = sorted({"run", "step", *metrics} - set(steps.columns))
        if missing:
            raise ValueError(f"The steps frame has no column {missing}: pass the same sweep's steps frame.")
