"""Plots of a run's metrics, split by population (the command line's ``metrics.png``, the dashboards)."""

from __future__ import annotations

import textwrap
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from mesa import Model

from mesa_llm.populations import ALL, LLM, POPULATIONS, RULE, column, label, population

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["agreement_figure", "metrics_figure", "populations_of"]

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


_AGREEMENT_COLUMNS = ("agent_type", "decisions", "agreed", "share", "ci_low", "ci_high")


def agreement_figure(frame: pd.DataFrame, title: str, most: int = 40) -> Figure:
    """The share of LLM decisions that agreed with the rule, by observation, with its interval.

    Args:
        frame: ``runtime.agreement.frame()`` (one row per agent class and observation).
        title: the figure's title.
        most: draw the observations with the most decisions, at most this many.

    One row per observation (labelled by its fields, e.g. ``same=4 other=2 empty=2``),
    ordered by its fields, with the share agreeing and its Wilson interval.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while

    rows = frame.nlargest(most, "decisions", keep="first") if len(frame) > most else frame
    fields = [c for c in rows.columns if c not in _AGREEMENT_COLUMNS]
    rows = rows.sort_values(["agent_type", *fields], kind="stable") if len(rows) else rows
    labels = [
        " ".join(f"{name}={row[name]}" for name in fields)
        + (f" ({row['agent_type']})" if rows["agent_type"].nunique() > 1 else "")
        for _, row in rows.iterrows()
    ]
    figure = Figure(figsize=(7, 1.2 + 0.28 * max(len(rows), 1)), layout="constrained")
    ax = figure.subplots()
    positions = range(len(rows))
    share = rows["share"].to_numpy(dtype=float)
    low, high = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    errors = np.clip([share - low, high - share], 0.0, None)  # an interval's end at 1 - 1e-16 is 1
    ax.errorbar(share, positions, xerr=errors, fmt="o", capsize=3)
    ax.set_yticks(list(positions), labels)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share of LLM decisions that took the rule's action (95% Wilson interval)")
    ax.invert_yaxis()
    figure.suptitle(textwrap.fill(title, 70), fontsize="medium")  # a long title wraps within the figure
    return figure
