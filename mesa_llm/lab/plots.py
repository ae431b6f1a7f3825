"""Plots of a run's metrics, split by population (the command line's ``metrics.png``, the dashboards)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import pandas as pd
from mesa import Model

from mesa_llm.populations import ALL, LLM, POPULATIONS, RULE, column, label, population

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["metrics_figure", "populations_of"]

# The line style of all agents and of each population.
_STYLES = {ALL: "-", RULE: "--", LLM: ":"}


def populations_of(model: Model) -> tuple[str, ...]:
    """The populations of the model's agents, in the order of :data:`~mesa_llm.populations.POPULATIONS`.

    ``("rule",)`` for a model without LLM agents: its LLM columns (``moves_llm`` of 0,
    ``pct_happy_llm`` of NaN) describe nobody, and are neither plotted nor summarised.
    """
    found = {population(agent) for agent in model.agents}
    return tuple(group for group in POPULATIONS if group in found)


def metrics_figure(
    frame: pd.DataFrame, metrics: tuple[str, ...], title: str, populations: Collection[str] = POPULATIONS
) -> Figure:
    """One panel per metric against the step, with a line for all agents and for each population.

    A population's line is drawn where it is among ``populations`` (pass
    :func:`populations_of` the model, so that a run without LLM agents draws no LLM
    line) and its column (``{metric}_rule``, ``{metric}_llm``) exists and holds a value;
    the line of all agents (``{metric}``) where its column does. The figure is not
    registered with pyplot (nothing to close; safe in threads), and is saved with Agg:
    ``figure.savefig(path)``.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(4.5 * max(len(metrics), 1), 4), layout="constrained")
    axes = figure.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    groups = [ALL, *(group for group in POPULATIONS if group in populations)]
    for ax, metric in zip(axes, metrics, strict=False):
        for group in groups:
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
