"""Plots of a run's metrics, split by population (the command line's ``metrics.png``, the dashboards)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from mesa_llm.populations import ALL, LLM, POPULATIONS, RULE, column, label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["metrics_figure"]

# The line style of all agents and of each population.
_STYLES = {ALL: "-", RULE: "--", LLM: ":"}


def metrics_figure(frame: pd.DataFrame, metrics: tuple[str, ...], title: str) -> Figure:
    """One panel per metric against the step, with a line for all, rule and LLM agents.

    A population's line is drawn where its column (``{metric}``, ``{metric}_rule``,
    ``{metric}_llm``) exists and holds a value. The figure is not registered with pyplot
    (nothing to close; safe in threads), and is saved with Agg: ``figure.savefig(path)``.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(4.5 * max(len(metrics), 1), 4), layout="constrained")
    axes = figure.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        for group in (ALL, *POPULATIONS):
            name = column(metric, group)
            if name in frame and frame[name].notna().any():
                ax.plot(frame.index, frame[name], _STYLES[group], label=label(group))
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    figure.suptitle(title)
    return figure
