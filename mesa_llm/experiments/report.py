"""The robustness report as markdown (tables for a paper's appendix, with their methods) and as files.

:func:`markdown` renders a :class:`~mesa_llm.experiments.robustness.RobustnessReport`:
the overall verdict per metric, the verdict per metric and factor with its largest
difference and interval, the variance shares, the comparison with the rule baseline, every
pairwise comparison, the failed runs, and a "Methods" paragraph stating the tests, margins,
corrections, interval method and what "inconclusive" means. :func:`write` saves it as
``report.md`` beside its PNG plots (:mod:`mesa_llm.experiments.figures`); :func:`describe`
gives its verdicts in a few lines of plain text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mesa_llm.experiments.comparisons import POWER
from mesa_llm.experiments.figures import outcome_figure, timeseries_figure
from mesa_llm.experiments.shares import RESIDUAL
from mesa_llm.experiments.verdicts import DEPENDS, NOT_VARIED

if TYPE_CHECKING:
    from mesa_llm.experiments.robustness import RobustnessReport

__all__ = ["REPORT_FILE", "describe", "markdown", "write"]

REPORT_FILE = "report.md"


def markdown(report: RobustnessReport, figures: Sequence[str] = ()) -> str:
    """The report as markdown; ``figures`` are image files (relative to the report) to show in it."""
    lines = [
        "# Robustness report",
        "",
        _runs(report),
        "",
        "## Overall verdict",
        "",
        _overall_table(report),
        "",
        "## Verdict per factor",
        "",
        _factor_table(report),
        "",
        "## Variance shares",
        "",
        _variance_table(report.variance),
    ]
    if not report.baseline.empty:
        lines += ["", "## Against the rule baseline", "", _baseline_table(report.baseline, _words(report))]
    if not report.pairs.empty:
        lines += ["", "## Pairwise comparisons", "", _pairs_table(report.pairs)]
    if not report.failed.empty:
        lines += ["", "## Failed runs", "", _failed_table(report.failed)]
    if figures:
        lines += ["", "## Figures"]
        for name in figures:
            lines += ["", f"![{Path(name).stem}]({name})"]
    lines += ["", "## Methods", "", methods(report), ""]
    return "\n".join(lines)


def describe(report: RobustnessReport) -> str:
    """The verdicts as plain text: the runs analysed, then each metric's overall verdict and varied factors.

    A factor's line gives its largest difference between two levels with its 95% interval
    and the margin δ, and for a significant difference its test's p (Holm).
    """
    lines = [_runs(report)]
    for row in report.overall.itertuples():
        lines.append(f"{row.metric}: {row.verdict}")
        factors = report.factors[report.factors["metric"] == row.metric]
        for factor in factors[factors["verdict"] != NOT_VARIED].itertuples():
            largest = _largest(factor, report.margins[row.metric], _words(report)["name"])
            lines.append(f"  {factor.factor}: {factor.text}{largest}")
        if getattr(row, "baseline", ""):
            lines.append(f"  rule baseline: {row.baseline}")
    return "\n".join(lines)


def _largest(factor: Any, margin: float, name: str) -> str:
    """A factor's largest difference, its interval and the margin, in parentheses (or nothing, if none)."""
    if not isinstance(factor.largest_pair, str):
        return ""
    tested = f", {name} p (Holm) {_p(factor.p)}" if factor.verdict == DEPENDS else ""
    return (
        f" (largest difference {factor.largest_pair} = "
        f"{_interval(factor.largest_diff, factor.ci_low, factor.ci_high)}, δ = {_num(margin)}{tested})"
    )


def _runs(report: RobustnessReport) -> str:
    """The runs analysed and the factors varied among them, in a sentence."""
    ok, failed = len(report.runs), len(report.failed)
    rule = int((report.runs["llm_agents"] == 0).sum())
    varied = ", ".join(
        f"{f} ({report.runs.loc[report.runs['llm_agents'] > 0, f].nunique()} levels)" for f in report.varied
    )
    return (
        f"{ok + failed} runs: {ok - rule} with LLM agents, {rule} rule-only (the rule baseline), "
        f"{failed} failed (left out). Factors varied among LLM runs: {varied or 'none'}."
    )


def write(report: RobustnessReport, folder: Path) -> list[Path]:
    """Write ``report.md`` and, per metric, its outcome plot and (with steps) its time series into ``folder``.

    Returns:
        The paths written, ``report.md`` first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    for outcome in report.outcomes:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", outcome.metric)
        figures = [(f"outcome_{name}.png", outcome_figure(report, outcome.metric))]
        if report.steps is not None:
            figures.append((f"timeseries_{name}.png", timeseries_figure(report, outcome.metric)))
        for file, figure in figures:
            figure.savefig(folder / file, dpi=100)
            plots.append(folder / file)
    path = folder / REPORT_FILE
    path.write_text(markdown(report, [plot.name for plot in plots]), encoding="utf-8")
    return [path, *plots]


def methods(report: RobustnessReport) -> str:
    """The "Methods" paragraph: tests, margins, corrections, interval method, what "inconclusive" means."""
    windows = ", ".join(f"{o.metric} over its last {o.last} steps" for o in report.outcomes)
    margins = ", ".join(f"{metric} δ = {_num(margin)}" for metric, margin in report.margins.items())
    matched = (
        f"with the same {', '.join(report.matched)}" if report.matched else "pooled over every other factor"
    )
    words = _words(report)
    return (
        f"Each run is summarised by the mean of each outcome metric over the end of the run ({windows}). "
        "Failed runs are left out. Runs without LLM agents form the rule baseline and are left out of the "
        "per-factor analysis. For each metric and factor, the runs with LLM agents are split into strata, "
        f"one per combination of the levels of the other varied factors. {words['test']}, Holm-corrected "
        f"across the strata. For each pair of levels, {words['pair'].format(n_boot=report.n_boot)}, "
        "Holm-corrected across every pair of every stratum (conservative: a claim that all pairs "
        "are equivalent would need no correction). The largest difference reported is the largest of these "
        "estimates (where the metric depends on the factor, in a stratum where the difference is "
        "significant) with its own interval, not corrected for being selected as the largest. "
        f"Equivalence margins: {margins}; level α = "
        f"{_num(report.alpha)}. A factor is *stable* when every pair of levels is equivalent in every "
        f"stratum; otherwise the metric *depends* on it when a stratum's corrected {words['name']} p is "
        "below α (a difference that is detectable but within δ counts as stable: δ is the difference that "
        "matters); otherwise the verdict is *inconclusive*: the runs show neither equivalence nor a "
        'difference. For an inconclusive verdict, "seeds needed" is the number of seeds per level with '
        f"which the comparison would be decided with power {POWER}, assuming the true difference and "
        f"standard deviation are the observed ones ({words['sd']}): where "
        "every observed difference is within δ, the seeds at which TOST shows every pair equivalent at α "
        "divided by the number of pairs (Holm's first step), from the noncentral t distribution; otherwise "
        f"the seeds at which a two-sided {words['t']} at α divided by the number of strata detects the "
        f"most detectable difference, times π/3 ({words['efficiency']}). {words['exact']}; a level "
        "with fewer than two runs cannot be tested. Variance shares are type II sums of squares of an "
        "ordinary least squares model of the metric on the factors and their interactions, divided by the "
        "total sum of squares; the residual is the variation between seeds. The overall verdict is "
        "*structural* when the metric is stable across language models and across framings (whichever were "
        "varied), *model-dependent*, *framing-dependent* or both when it depends on them, and inconclusive "
        f"otherwise. Each LLM condition is compared with the rule-only runs {matched} in the same way "
        f"({words['baseline']}, each Holm-corrected across the conditions)."
    )


def _words(report: RobustnessReport) -> dict[str, str]:
    """How the report names its tests: unpaired (Kruskal–Wallis, Welch) or paired (Friedman, Wilcoxon)."""
    return _PAIRED if report.paired else _UNPAIRED


_UNPAIRED = {
    "name": "Kruskal–Wallis",
    "statistic": "Kruskal–Wallis H",
    "two_levels": "Kruskal–Wallis",
    "test": (
        "Within each stratum a Kruskal–Wallis test compares the factor's levels (a rank test, because run "
        "outcomes are often bounded, skewed or tied; it assumes neither normality nor equal variances)"
    ),
    "pair": (
        "the difference of the means is given with a 95% percentile bootstrap interval ({n_boot} "
        "resamples, each level resampled with replacement on its own, from a fixed seed), and its "
        "equivalence within ±δ is tested with two one-sided Welch t tests (TOST)"
    ),
    "sd": "the within-level SD pooled within the stratum",
    "t": "two-sample t test",
    "efficiency": "Kruskal–Wallis's efficiency under normality",
    "exact": "Levels with zero variance are compared exactly (their difference is known; equivalent when "
    "within δ)",
    "baseline": "Kruskal–Wallis and TOST",
}
_PAIRED = {
    "name": "Friedman / Wilcoxon",
    "statistic": "Friedman χ² / Wilcoxon W",
    "two_levels": "Wilcoxon",
    "test": (
        "Within each stratum the runs are paired by seed (a seed gives every condition the same world to "
        "start from; a seed without a run at every level of the stratum is left out of it), and Friedman's "
        "test, or Wilcoxon's signed-rank test for two levels, compares the factor's levels within seeds "
        "(rank tests, because run outcomes are often bounded, skewed or tied)"
    ),
    "pair": (
        "the mean of the per-seed differences is given with a 95% percentile bootstrap interval ({n_boot} "
        "resamples of the seeds, from a fixed seed), and its equivalence within ±δ is tested with two "
        "one-sided paired t tests (TOST)"
    ),
    "sd": "the largest SD of a pair's per-seed differences in the stratum",
    "t": "paired t test",
    "efficiency": "the signed-rank test's efficiency under normality",
    "exact": "A pair whose difference is the same at every seed is compared exactly (equivalent when "
    "within δ)",
    "baseline": "paired by seed: Wilcoxon's signed-rank test and paired TOST",
}


def _overall_table(report: RobustnessReport) -> str:
    rows = [
        [row.metric, f"**{row.verdict}**", row.text, getattr(row, "baseline", "")]
        for row in report.overall.itertuples()
    ]
    headers = ["Metric", "Verdict", "Detail", "Rule baseline"]
    if "baseline" not in report.overall:
        headers, rows = headers[:3], [row[:3] for row in rows]
    return _table(headers, rows)


def _factor_table(report: RobustnessReport) -> str:
    rows = [
        [
            row.metric,
            row.factor,
            row.text,
            _num(row.statistic),
            _p(row.p),
            _interval(row.largest_diff, row.ci_low, row.ci_high),
            "" if not isinstance(row.largest_pair, str) else row.largest_pair,
            _num(report.margins[row.metric]),
            _count(row.seeds),
            _count(row.seeds_needed),
        ]
        for row in report.factors.itertuples()
    ]
    headers = [
        "Metric", "Factor", "Verdict", _words(report)["statistic"], "p (Holm)", "Largest difference [95% CI]",
        "Pair", "δ", "Seeds per level", "Seeds needed",
    ]  # fmt: skip
    return _table(headers, rows)


def _variance_table(variance: pd.DataFrame) -> str:
    if variance.empty:
        return "No factor varied among LLM runs, or too few runs to fit one."
    sources = list(dict.fromkeys([*variance["source"][variance["source"] != RESIDUAL], RESIDUAL]))
    rows = []
    for metric, found in variance.groupby("metric", sort=False):
        shares = dict(zip(found["source"], found["share"], strict=True))
        rows.append(
            [metric, *(_percent(shares.get(source, math.nan)) for source in sources), found["design"].iloc[0]]
        )
    return _table(["Metric", *sources, "Design"], rows)


def _baseline_table(baseline: pd.DataFrame, words: dict[str, str]) -> str:
    rows = [
        [
            row.metric,
            row.condition or "all LLM runs",
            f"{_num(row.llm_mean)} ({row.n_llm})",
            f"{_num(row.rule_mean)} ({row.n_rule})",
            _interval(row.diff, row.ci_low, row.ci_high),
            _p(row.p_tost_holm),
            _p(row.p_diff_holm),
            row.text,
        ]
        for row in baseline.itertuples()
    ]
    headers = [
        "Metric", "LLM condition", "LLM mean (runs)", "Rule mean (runs)", "Difference [95% CI]",
        "TOST p (Holm)", f"{words['two_levels']} p (Holm)", "Verdict",
    ]  # fmt: skip
    return _table(headers, rows)


def _pairs_table(pairs: pd.DataFrame) -> str:
    rows = [
        [
            row.metric,
            row.factor,
            row.stratum or "all LLM runs",
            f"{row.level_a} − {row.level_b}",
            f"{row.n_a}, {row.n_b}",
            _interval(row.diff, row.ci_low, row.ci_high),
            _p(row.p_tost_holm),
            "yes" if row.equivalent else "no",
            row.note,
        ]
        for row in pairs.itertuples()
    ]
    headers = [
        "Metric", "Factor", "Stratum", "Pair", "Runs", "Difference [95% CI]", "TOST p (Holm)",
        "Equivalent", "Note",
    ]  # fmt: skip
    return _table(headers, rows)


def _failed_table(failed: pd.DataFrame) -> str:
    columns = [column for column in failed.columns if column != "error"]
    rows = [
        [*(row[column] for column in columns), (str(row.get("error", "")).strip().splitlines() or [""])[-1]]
        for _, row in failed.iterrows()
    ]
    return _table([*columns, "Error (last line)"], rows)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3g}"


def _count(value: float) -> str:
    if math.isnan(value):
        return "–"
    return "> 100000" if math.isinf(value) else str(int(value))


def _p(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _percent(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}%"


def _interval(value: float, low: float, high: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{_num(value)} [{_num(low)}, {_num(high)}]"
