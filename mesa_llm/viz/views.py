"""What the dashboard draws of a snapshot: the space with its legend, and the metrics.

:func:`SpaceView` draws the space (Mesa's Altair layers) with a ring around the selected
agent, which moves as soon as another agent is clicked, and a legend of the marks under it.
:func:`MetricsView` draws the scenario's metrics (:func:`~mesa_llm.lab.metrics_figure`) so
that they can be read from step 0: see :func:`readable`. A scenario replaces the space, the
agent inspector or adds cards with its own views (:data:`ScenarioView`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import altair as alt
import solara

from mesa_llm.lab import ScenarioSpec, metrics_figure
from mesa_llm.viz.portrayal import POPULATION_LEGEND, LegendEntry, legend_html
from mesa_llm.viz.session import Session, Snapshot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SELECTED", "SELECTED_ENTRY", "MetricsView", "ScenarioView", "SpaceView", "readable"]

#: The colour of the ring around the selected agent.
SELECTED = "#f5b800"

#: The ring's legend entry.
SELECTED_ENTRY = LegendEntry("selected (click an agent)", fill="none", stroke=SELECTED, stroke_width=2.5)

type ScenarioView = Callable[[Session, Snapshot, solara.Reactive[int | None]], Any]
"""A scenario's own view on its dashboard: a Solara component called as ``view(current, shown, selected)``.

It gets the session (``current.model`` is the live model: read it only for what is safe
while a step runs, such as the LLM log), the snapshot drawn (its ``data`` is what the
scenario's snapshot hook took between steps) and the selected agent's ``unique_id``, which
it may read and set (a click in the space, a choice in the inspector). It draws its whole
card, title included (a ``solara.Card``); see :func:`~mesa_llm.viz.ScenarioDashboard`'s
``space_view``, ``inspector`` and ``cards``.
"""

# The padding of a y range drawn around values of one step, or a constant, that are not
# fractions: this share of their middle, at least _MIN_PAD.
_PAD_SHARE = 0.1
_MIN_PAD = 1.0


@solara.component
def SpaceView(
    current: Session, shown: Snapshot, selected: solara.Reactive[int | None], legend: Sequence[LegendEntry]
):
    """The space of ``shown``, a ring on the ``selected`` agent (a click selects one), and the legend.

    Args:
        current: the session (its space's structure).
        shown: the snapshot drawn.
        selected: the selected agent's id, set by a click on an agent.
        legend: the scenario's legend entries; the shapes of the populations and the
            selection ring are added.
    """

    def on_click(datum: Any) -> None:
        if isinstance(datum, dict) and datum.get("id") is not None:
            selected.set(int(datum["id"]))

    layers = [layer for layer in (current.structure, shown.agents) if layer is not None]
    if shown.agents is not None and selected.value is not None:
        # A filter given as text: Altair's expression objects compare equal to any other
        # (``==`` builds an expression, which is truthy), so a filter built with
        # ``alt.datum.id == ...`` would make Solara see the same chart and keep the old ring.
        ring = (
            shown.agents.transform_filter(f"datum.id === {int(selected.value)}")
            .mark_point(filled=False, aria=False)
            .encode(
                size=alt.value(500),
                shape=alt.value("circle"),
                fill=alt.value("transparent"),
                stroke=alt.value(SELECTED),
                strokeWidth=alt.value(3),
                opacity=alt.value(1),
            )
            .properties(name="selection")
        )
        layers.append(ring)
    if not layers:
        solara.Text("The space is empty.")
        return
    chart = alt.layer(*layers).resolve_axis(x="independent", y="independent")
    with solara.Div(classes=["mesa-llm-space"]):
        # SVG (not canvas) through vega-embed's embedOptions: every agent is an element with
        # an aria label ("id: 12; population: LLM; ..."), for screen readers and browser tests.
        chart = (
            chart.configure_view(stroke="black", strokeWidth=1.5)
            .configure_legend(disable=True)
            .properties(usermeta={"embedOptions": {"renderer": "svg", "actions": False}})
        )
        solara.FigureAltair(chart, on_click=on_click)
    solara.HTML(
        unsafe_innerHTML=legend_html([*legend, *POPULATION_LEGEND, SELECTED_ENTRY]),
        classes=["mesa-llm-legend"],
        style="font-size: 0.85em; line-height: 1.8",
    )


def _floats(values: Any) -> list[float]:
    return [float(value) for value in values]


def readable(figure: Figure) -> Figure:
    """``figure``'s panels made readable when they hold one step, or a constant.

    A line with a single value (every line at step 0) gets a marker, since a line of one
    point draws nothing. A panel of one step spans steps 0 to 1 rather than Matplotlib's
    ±0.045 around it. A panel of one step, or whose values are all equal, is drawn on
    [0, 1] when its values are fractions (within [0, 1]), else in a range padded around
    them (by a tenth of their middle, at least 1), not stretched over their differences.

    Returns:
        ``figure``, changed in place.
    """
    for ax in figure.axes:
        xs, ys = [], []
        for line in ax.get_lines():
            points = [
                (x, y)
                for x, y in zip(_floats(line.get_xdata()), _floats(line.get_ydata()), strict=True)
                if math.isfinite(y)
            ]
            if len(points) == 1:
                line.set_marker("o")
            xs += [x for x, _ in points]
            ys += [y for _, y in points]
        if not ys:
            continue
        one_step = min(xs) == max(xs)
        if one_step:
            ax.set_xlim(xs[0] - 0.1, xs[0] + 1)
        low, high = min(ys), max(ys)
        if one_step or low == high:
            if 0 <= low <= high <= 1:
                ax.set_ylim(-0.05, 1.05)
            else:
                pad = max(_PAD_SHARE * abs(low + high) / 2, _MIN_PAD)
                ax.set_ylim(low - pad, high + pad)
    return figure


@solara.component
def MetricsView(spec: ScenarioSpec, current: Session, shown: Snapshot):
    """The scenario's metrics of ``shown``, for all agents and for each population the model has."""
    figure = solara.use_memo(
        lambda: readable(metrics_figure(shown.frame, spec.metrics, "", current.populations)), [shown]
    )
    with solara.Div(classes=["mesa-llm-metrics"]):
        solara.FigureMatplotlib(figure, format="png", dependencies=[shown.steps, id(shown)])
