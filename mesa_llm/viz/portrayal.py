"""Agent portrayals that keep rule and LLM agents apart at a glance, and the legend that says so.

A scenario says how to colour an agent (its group, its last move) and, optionally, which
agents to draw hollow (Schelling's unhappy residents); :func:`population_portrayal` turns
that into a Mesa ``AgentPortrayalStyle`` whose marker shows the population: rule agents are
circles, LLM agents are squares with a dark outline. A hollow agent is white inside, with an
outline of its colour. Every portrayal carries the agent's id and population in its tooltip,
which is how a click on the space selects an agent.

A :class:`LegendEntry` is one mark of the legend drawn under the space (:func:`legend_html`):
the scenario lists what its colours and hollow marks mean, :data:`POPULATION_LEGEND` what the
shapes mean.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mesa import Agent
from mesa.visualization.components import AgentPortrayalStyle

from mesa_llm.populations import LLM, RULE, label, population

__all__ = [
    "HOLLOW_FILL",
    "MARKERS",
    "NEUTRAL",
    "POPULATION_LEGEND",
    "LegendEntry",
    "hollow_entry",
    "legend_html",
    "population_portrayal",
]

#: The marker of each population (Matplotlib names, which Mesa maps to Altair shapes).
MARKERS = {RULE: "o", LLM: "s"}

#: The inside of a hollow agent.
HOLLOW_FILL = "#ffffff"

#: The colour of legend marks that show a shape or a fill, not a colour.
NEUTRAL = "#9e9e9e"

# The outline of an LLM agent, and the widths of outlines (Mesa's ``linewidths``).
_LLM_OUTLINE = "#222222"
_LLM_OUTLINE_WIDTH = 2.0
_HOLLOW_OUTLINE_WIDTH = 5.0


@dataclass(frozen=True, slots=True)
class LegendEntry:
    """One mark of a legend and what it means.

    Attributes:
        label: what the mark means ("group 0 (majority)", "unhappy: will move").
        fill: the colour inside the mark (a CSS colour; ``"none"`` for a ring).
        marker: ``"o"`` for a circle, ``"s"`` for a square (as in :data:`MARKERS`).
        stroke: the colour of its outline; None for none.
        stroke_width: the outline's width in pixels.
    """

    label: str
    fill: str = NEUTRAL
    marker: str = "o"
    stroke: str | None = None
    stroke_width: float = 1.5


def hollow_entry(text: str, color: str = NEUTRAL) -> LegendEntry:
    """The legend mark of a hollow agent (drawn with ``hollow`` in :func:`population_portrayal`)."""
    return LegendEntry(text, fill=HOLLOW_FILL, stroke=color, stroke_width=2.5)


#: What the shapes mean: rule agents are circles, LLM agents squares with a dark outline.
POPULATION_LEGEND = (
    LegendEntry("rule agent", marker=MARKERS[RULE]),
    LegendEntry("LLM agent", marker=MARKERS[LLM], stroke=_LLM_OUTLINE),
)


def _swatch(entry: LegendEntry) -> str:
    stroke = (
        f' stroke="{html.escape(entry.stroke)}" stroke-width="{entry.stroke_width}"' if entry.stroke else ""
    )
    paint = f'fill="{html.escape(entry.fill)}"{stroke}'
    shape = (
        f'<rect x="2" y="2" width="10" height="10" {paint}/>'
        if entry.marker == "s"
        else f'<circle cx="7" cy="7" r="5" {paint}/>'
    )
    return f'<svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">{shape}</svg>'


def legend_html(entries: Iterable[LegendEntry]) -> str:
    """The legend as HTML: each entry's mark (a small SVG) and its label, on wrapping lines."""
    items = (
        '<span class="mesa-llm-legend-item" style="display: inline-flex; align-items: center; '
        f'gap: 4px; margin-right: 14px">{_swatch(entry)}{html.escape(entry.label)}</span>'
        for entry in entries
    )
    return "".join(items)


def population_portrayal(
    color: Callable[[Agent], Any],
    *,
    size: float = 60,
    tooltip: Callable[[Agent], Mapping[str, Any]] | None = None,
    hollow: Callable[[Agent], bool] | None = None,
) -> Callable[[Agent], AgentPortrayalStyle]:
    """A portrayal that colours agents by ``color`` and shapes them by population.

    Args:
        color: the agent's colour (a Matplotlib/CSS colour name or hex string).
        size: the marker size.
        tooltip: more fields to show when hovering over an agent (its group, its
            strategy, ...); ``id`` and ``population`` are always shown.
        hollow: which agents to draw hollow: white inside, outlined in their colour
            (Schelling's unhappy residents); say it in the legend with :func:`hollow_entry`.

    Returns:
        A function from an agent to its ``AgentPortrayalStyle``, for Mesa's
        ``SpaceRenderer.setup_agents`` or ``make_space_component``.
    """

    def portray(agent: Agent) -> AgentPortrayalStyle:
        kind = population(agent)
        fields = {"id": agent.unique_id, "population": label(kind)}
        if tooltip is not None:
            fields |= dict(tooltip(agent))
        fill = color(agent)
        if hollow is not None and hollow(agent):
            fill, outline, width = HOLLOW_FILL, fill, _HOLLOW_OUTLINE_WIDTH
        elif kind == LLM:
            outline, width = _LLM_OUTLINE, _LLM_OUTLINE_WIDTH
        else:
            outline, width = None, 0.0
        return AgentPortrayalStyle(
            color=fill, marker=MARKERS[kind], size=size, edgecolors=outline, linewidths=width, tooltip=fields
        )

    return portray
