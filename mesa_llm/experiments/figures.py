"""The robustness report's plots: each metric's outcome by condition, and its time series per condition.

The figures are not registered with pyplot (nothing to close; safe in threads) and are
saved with Agg: ``figure.savefig(path)``. Points are spread evenly across their box rather
than jittered at random, so the same report draws the same image.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from mesa_llm.experiments.comparisons import conditions, label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from mesa_llm.experiments.robustness import RobustnessReport

__all__ = ["outcome_figure", "timeseries_figure"]

_RULE = "rule"
_RULE_COLOUR = "0.3"


def outcome_figure(report: RobustnessReport, metric: str) -> Figure:
    """Box plots with every run's point of ``metric`` per LLM condition (backend × framing × other axes).

    Boxes are coloured by framing where it was varied (else by backend). Where the sweep
    has rule-only runs, each condition's rule baseline (the mean of its matched rule runs)
    is drawn as a dashed line in a band of ± δ, the equivalence margin.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while

    llm = report.runs[report.runs["llm_agents"] > 0]
    groups = (
        [
            (label(levels), "\n".join(map(str, levels.values())), runs)
            for levels, runs in conditions(llm, report.varied)
        ]
        if not llm.empty
        else [(_RULE, _RULE, report.runs)]
    )
    figure = Figure(figsize=(max(4.0, 1.2 * len(groups) + 1.5), 4.5), layout="constrained")
    ax = figure.subplots()
    colour_by = next((f for f in ("framing", "backend") if f in report.varied), None)
    palette = _palette(llm[colour_by].unique() if colour_by else [])
    boxes, positions, colours, points = [], [], [], []
    for x, (_, _, runs) in enumerate(groups):
        values = runs[metric].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        colour = palette.get(runs[colour_by].iloc[0], "C0") if colour_by else "C0"
        if len(values):
            boxes.append(values)
            positions.append(x)
            colours.append(colour)
            points += [
                (x + offset, value, colour)
                for offset, value in zip(np.linspace(-0.15, 0.15, len(values)), values, strict=True)
            ]
    if boxes:  # one call for every box and one for every point: far cheaper than one per condition
        drawn = ax.boxplot(boxes, positions=positions, widths=0.6, patch_artist=True, showfliers=False)
        for patch, colour in zip(drawn["boxes"], colours, strict=True):
            patch.set(facecolor=colour, alpha=0.35)
        xs, ys, cs = zip(*points, strict=True)
        ax.scatter(xs, ys, c=cs, s=9, zorder=3)
    baseline = report.baseline[report.baseline["metric"] == metric] if not report.baseline.empty else None
    if baseline is not None and not llm.empty:
        margin = report.margins[metric]
        means = dict(zip(baseline["condition"], baseline["rule_mean"], strict=True))
        for x, (name, _, _) in enumerate(groups):
            mean = means.get(name, np.nan)
            ax.fill_between([x - 0.4, x + 0.4], mean - margin, mean + margin, color=_RULE_COLOUR, alpha=0.15)
            ax.plot([x - 0.4, x + 0.4], [mean, mean], "--", color=_RULE_COLOUR, label="rule baseline ± δ")
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[:1], names[:1], loc="upper left")
    ax.set_xticks(range(len(groups)), [tick or "LLM runs" for _, tick, _ in groups], fontsize="small")
    ax.set_xlabel(" / ".join(report.varied) if not llm.empty else "")
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by condition (one point per run)")
    return figure


def timeseries_figure(report: RobustnessReport, metric: str) -> Figure:
    """``metric`` against the step per condition: the mean over seeds and its 95% t interval as a band.

    One line per LLM condition, and a dashed one per rule-baseline condition (the rule-only
    runs, split by the factors the baseline is matched on; conditions whose runs are the
    same, such as rule-only runs of two backends, are drawn once). A run that ended before
    the sweep's longest (its model stopped running) is held at its last value.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while

    steps = report.steps if report.steps is not None else pd.DataFrame(columns=["run", "step", metric])
    figure = Figure(figsize=(7, 4), layout="constrained")
    ax = figure.subplots()
    llm = report.runs[report.runs["llm_agents"] > 0]
    rule = report.runs[report.runs["llm_agents"] == 0]
    lines = [
        (label(levels) or "LLM runs", _across_seeds(steps, metric, runs), "-")
        for levels, runs in conditions(llm, report.varied)
    ]
    lines += _distinct_rule_lines(steps, metric, conditions(rule, report.matched))
    for name, found, style in lines:
        if found.empty:
            continue
        half = stats.t.ppf(0.975, np.maximum(found["count"] - 1, 1)) * found["std"] / np.sqrt(found["count"])
        (line,) = ax.plot(found.index, found["mean"], style, label=name)
        ax.fill_between(
            found.index,
            found["mean"] - half.fillna(0),
            found["mean"] + half.fillna(0),
            color=line.get_color(),
            alpha=0.2,
        )
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean over seeds, 95% interval")
    if ax.lines:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure


def _across_seeds(steps: pd.DataFrame, metric: str, runs: pd.DataFrame) -> pd.DataFrame:
    """The mean, SD and count of ``metric`` over ``runs`` by step, ended runs held at their last value."""
    found = steps[steps["run"].isin(runs["run"])]
    if found.empty:
        return pd.DataFrame(columns=["mean", "std", "count"])
    by_run = found.pivot_table(index="step", columns="run", values=metric, aggfunc="first").sort_index()
    held = by_run.reindex(range(int(steps["step"].max()) + 1)).ffill()  # to the sweep's longest run
    return pd.DataFrame({"mean": held.mean(axis=1), "std": held.std(axis=1), "count": held.count(axis=1)})


def _distinct_rule_lines(
    steps: pd.DataFrame, metric: str, groups: Iterable[tuple[dict[str, Any], pd.DataFrame]]
) -> list[tuple[str, pd.DataFrame, str]]:
    """The rule-baseline lines (label, series across seeds, style), each drawn once.

    Conditions whose runs give the same series share one line, labelled by the levels
    they have in common.
    """
    kept: list[tuple[list[dict[str, Any]], pd.DataFrame]] = []
    for levels, runs in groups:
        found = _across_seeds(steps, metric, runs)
        if found.empty:
            continue
        same = next((k for k in kept if k[1]["mean"].equals(found["mean"])), None)
        if same is None:
            kept.append(([levels], found))
        else:
            same[0].append(levels)
    lines = []
    for all_levels, found in kept:
        common = {k: v for k, v in all_levels[0].items() if all(levels.get(k) == v for levels in all_levels)}
        lines.append((_RULE + (f", {label(common)}" if common else ""), found, "--"))
    return lines


def _palette(levels: object) -> dict[object, str]:
    return {level: f"C{i % 10}" for i, level in enumerate(levels)}
