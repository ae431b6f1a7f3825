"""Agent portrayals that keep rule and LLM agents apart at a glance.

A scenario says how to colour an agent (its group, its last move); :func:`population_portrayal`
turns that into a Mesa ``AgentPortrayalStyle`` whose marker shows the population: rule agents
are circles, LLM agents are squares with a dark outline. Every portrayal carries the agent's id
and population in its tooltip, which is how a click on the space selects an agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mesa import Agent
from mesa.visualization.components import AgentPortrayalStyle

from mesa_llm.populations import LLM, RULE, label, population

__all__ = ["LEGEND", "MARKERS", "population_portrayal"]

#: The marker of each population (Matplotlib names, which Mesa maps to Altair shapes).
MARKERS = {RULE: "o", LLM: "s"}

#: A short legend of the markers, for a caption under the space.
LEGEND = "● rule agent   ■ LLM agent (dark outline)"


def population_portrayal(
    color: Callable[[Agent], Any],
    *,
    size: float = 60,
    tooltip: Callable[[Agent], Mapping[str, Any]] | None = None,
) -> Callable[[Agent], AgentPortrayalStyle]:
    """A portrayal that colours agents by ``color`` and shapes them by population.

    Args:
        color: the agent's colour (a Matplotlib/CSS colour name or hex string).
        size: the marker size.
        tooltip: more fields to show when hovering over an agent (its group, its
            strategy, ...); ``id`` and ``population`` are always shown.

    Returns:
        A function from an agent to its ``AgentPortrayalStyle``, for Mesa's
        ``SpaceRenderer.setup_agents`` or ``make_space_component``.
    """

    def portray(agent: Agent) -> AgentPortrayalStyle:
        kind = population(agent)
        fields = {"id": agent.unique_id, "population": label(kind)}
        if tooltip is not None:
            fields |= dict(tooltip(agent))
        return AgentPortrayalStyle(
            color=color(agent),
            marker=MARKERS[kind],
            size=size,
            edgecolors="#222222" if kind == LLM else None,
            linewidths=2.0 if kind == LLM else 0.0,
            tooltip=fields,
        )

    return portray
