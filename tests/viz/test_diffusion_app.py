import html
import re

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
import solara.widgets

from mesa_llm.lab import RunConfig
from mesa_llm.populations import LLM, RULE
from mesa_llm.viz.session import Session, page_parameters
from mesa_llm_models.diffusion import SCENARIO, DiffusionModel, LLMResident, RuleResident
from mesa_llm_models.diffusion.app import (
    INFORMED_COLOURS,
    RETRIEVED_COLUMNS,
    SHAPES,
    DiffusionDashboard,
    MemoryInspector,
    NetworkView,
    TownSnapshot,
    clock_at,
    game_time,
    graph_layout,
    latest_conversations,
    memory_view,
    model_params,
    network_chart,
    network_frames,
    town_snapshot,
    transcript_markdown,
    whereabouts,
)

STEPS = 20


def session(steps: int = STEPS, **settings) -> Session:
    """A page's session of the town (its snapshots taken by the app's hook), stepped ``steps`` times."""
    # p and meet_acquaintance of 1: the news travels (and residents talk) within 20 hours.
    settings = {"p": 1.0, "meet_acquaintance": 1.0, "llm_share": 0.5, "embeddings": "hashing", **settings}
    config = RunConfig(SCENARIO, page_parameters(SCENARIO, settings), steps=0, seed=1, backend="rule")
    current = Session.start(config, None, {}, None, snapshot=town_snapshot)
    for _ in range(steps):
        current.model.step()
    return current


def town(steps: int = STEPS, **settings) -> DiffusionModel:
    return session(steps, **settings).model


@pytest.fixture(scope="module")
def current() -> Session:
    return session()


@pytest.fixture(scope="module")
def model(current) -> DiffusionModel:
    return current.model


def text_of(widget) -> str:
    """The text a widget tree shows: its strings, and its Markdown rendered, tags dropped."""
    if isinstance(widget, str):
        return widget
    parts = []
    if isinstance(widget, v.VuetifyTemplate):
        shown = widget.template.split("<script>")[0]
        parts.append(html.unescape(re.sub(r"<[^>]+>", " ", shown)))
    if isinstance(widget, ipywidgets.HTML | ipywidgets.Label):
        parts.append(widget.value)
    for name in ("children", "label"):
        value = getattr(widget, name, None)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list | tuple):
            parts += [text_of(child) for child in value]
    return " ".join(" ".join(parts).split())


def widgets_in(widget):
    """``widget`` and every widget under it."""
    yield widget
    for child in getattr(widget, "children", None) or ():
        if isinstance(child, ipywidgets.Widget):
            yield from widgets_in(child)


def shown_in(rc, name: str) -> str:
    """The text of the one widget of class ``name``."""
    root = rc.find(ipywidgets.DOMWidget).widgets[0]
    (found,) = [w for w in widgets_in(root) if name in (getattr(w, "class_", "") or "").split()]
    return text_of(found)


def test_the_clock_of_a_step_is_the_models():
    model = town(steps=0)
    assert clock_at(0).startswith("the start")
    for _ in range(30):
        model.step()
        assert clock_at(model.steps) == model.clock_text()


def test_the_graph_colours_residents_by_what_they_know_and_shapes_them_by_population(model):
    layout = graph_layout(model.graph)
    assert layout == graph_layout(model.graph)  # fixed
    assert set(layout) == set(model.graph.nodes)
    nodes, lines = network_frames(model, layout)
    assert list(nodes["name"]) == [r.name for r in model.residents]
    informed = [r.informed for r in model.residents]
    assert any(informed)
    assert not all(informed)  # both colours are shown
    assert list(nodes["informed"]) == informed
    assert list(nodes["colour"]) == [INFORMED_COLOURS[r.informed] for r in model.residents]
    assert list(nodes["shape"]) == [SHAPES[r.population] for r in model.residents]
    assert set(nodes["shape"]) == {SHAPES[RULE], SHAPES[LLM]}
    assert (nodes["outline_width"] > 0).tolist() == [r.population == LLM for r in model.residents]
    assert list(nodes.loc[nodes["host"], "name"]) == [model.host.name]
    for resident, node, row in zip(model.residents, model.graph.nodes, nodes.itertuples(), strict=True):
        assert (row.x, row.y) == layout[node]
        assert row.place == model.town.places[resident.place].name
    acquainted = lines[lines["kind"] == "acquainted"]
    told = lines[lines["kind"] == "told"]
    assert len(acquainted) == model.graph.number_of_edges()
    assert len(told) == model.cascade.number_of_edges() > 0
    where = nodes.set_index("name")
    for row in told.itertuples():
        assert model.cascade.has_edge(row.first, row.second)
        assert (row.x, row.y) == (where.loc[row.first, "x"], where.loc[row.first, "y"])
        assert (row.x2, row.y2) == (where.loc[row.second, "x"], where.loc[row.second, "y"])


def test_the_chart_rings_the_host_and_the_selected_resident(model):
    nodes, lines = network_frames(model, graph_layout(model.graph))
    plain = network_chart(nodes, lines, None).to_dict()
    assert [layer["name"] for layer in plain["layer"]] == ["lines", "residents", "host", "names"]
    name = "Marta O'Neil"  # a quote in a name stays a string in the filter
    spec = network_chart(nodes, lines, name).to_dict()
    (ring,) = [layer for layer in spec["layer"] if layer.get("name") == "selection"]
    assert ring["transform"][0]["filter"] == 'datum.name === "Marta O\'Neil"'
    (residents,) = [layer for layer in spec["layer"] if layer.get("name") == "residents"]
    assert residents["encoding"]["color"] == {"field": "colour", "type": "nominal", "scale": None}
    assert residents["encoding"]["shape"]["field"] == "shape"


def test_who_is_where_lists_every_resident_once_at_its_place(model):
    places = whereabouts(model)
    listed = [entry for _, names in places for entry in names]
    assert len(listed) == len(model.residents)
    at = {entry.removesuffix(" (asleep)"): place for place, names in places for entry in names}
    for resident in model.residents:
        assert at[resident.name] == model.town.places[resident.place].name
        asleep = f"{resident.name} (asleep)" in listed
        assert asleep == (not resident.awake(model.hour))
    public = {p.name for p in model.town.public_places()}
    kinds = [place in public for place, _ in places]
    assert kinds == sorted(kinds, reverse=True)  # public places first
    assert any(kinds)
    start = whereabouts(town(steps=0))
    homes = {place for place, _ in start}
    assert not homes & public  # everyone is at home before the first hour, none asleep yet
    assert not any(entry.endswith("(asleep)") for _, names in start for entry in names)


def test_the_transcript_shows_the_latest_conversations(model):
    latest = latest_conversations(model)
    assert latest
    step = model.conversations[-1].step
    assert {c.step for c in latest} == {step}
    assert len(latest) == sum(c.step == step for c in model.conversations)
    text = transcript_markdown(latest, model.steps)
    assert text.startswith(f"**{clock_at(step)}**")
    for conversation in latest:
        assert f"**{conversation.first.name}** with **{conversation.second.name}**" in text
        for line in conversation.lines:
            assert line.text in text.replace("\\", "")  # escaped for Markdown
    assert ("states the event" in text) == any(line.informs for c in latest for line in c.lines)
    assert "2 hour(s) ago" in transcript_markdown(latest, step + 2)
    assert transcript_markdown((), 0) == "No conversation yet."


def test_the_memory_view_has_the_three_components_and_the_score(model):
    residents = [r for r in model.residents if isinstance(r, LLMResident)]
    assert memory_view(next(r for r in model.residents if isinstance(r, RuleResident))) is None
    resident = next(r for r in residents if r.awake(model.hour))
    view = memory_view(resident)
    retrieved = resident.decision_retrieved.frame()
    assert tuple(view.retrieved.columns) == RETRIEVED_COLUMNS
    assert view.retrieved["text"].tolist() == retrieved["text"].tolist()
    components = view.retrieved[["recency", "importance", "relevance"]].sum(axis=1)
    assert np.allclose(view.retrieved["score"], components)  # the paper's weights: all 1
    assert view.retrieved["score"].is_monotonic_decreasing  # best first
    assert view.decided_at == model.steps  # awake: it decided this hour
    assert view.query == resident.decision_retrieved.query
    assert view.action == str(resident.last_record.action)
    assert view.memories == len(resident.memory.frame())
    assert view.reflections == ()


def test_the_memory_view_before_the_first_decision_and_with_reflections():
    model = town(steps=0)
    resident = next(r for r in model.residents if isinstance(r, LLMResident))
    view = memory_view(resident)
    assert (view.retrieved, view.query, view.decided_at, view.action) == (None, None, None, None)
    resident.memory.add("Marta seems to know everyone.", "reflection", importance=6)
    model.step()
    resident.memory.add("The café is where news travels.", "reflection", importance=6)
    assert memory_view(resident).reflections == (
        "The café is where news travels.",
        "Marta seems to know everyone.",
    )


def test_the_snapshot_holds_what_the_page_draws(current, model):
    assert current.renderer is None  # the town has no Mesa space
    shown = current.snapshot()
    assert shown.steps == model.steps == STEPS
    assert shown.agents is None
    assert game_time(shown) == f"Game time: {model.clock_text()}"
    town = shown.data
    assert isinstance(town, TownSnapshot)
    assert town.conversations == len(model.conversations)
    assert set(town.memories) == {r.unique_id for r in model.residents if r.population == LLM}
    assert town.residents == tuple((r.unique_id, r.name, r.population) for r in model.residents)
    assert town.name_of(model.host.unique_id) == model.host.name
    assert town.name_of(None) is None
    layout = graph_layout(model.graph)
    assert town.nodes.equals(network_frames(model, layout)[0])  # in the graph's fixed layout
    assert town_snapshot(model).nodes.equals(town.nodes)
    shown.frame.iloc[0, 0] = -1.0  # a copy
    assert model.datacollector.get_model_vars_dataframe().iloc[0, 0] != -1.0
    assert {"informed_rule", "informed_llm", "density", "attended"} <= set(shown.frame.columns)


def _ring_on(rc) -> str:
    """The name of the resident the drawn selection ring is on."""
    spec = rc.find(solara.widgets.VegaLite).widget.spec
    (ring,) = [layer for layer in spec["layer"] if layer.get("name") == "selection"]
    return re.fullmatch(r'\(?datum\.name === "(.+)"\)?', ring["transform"][0]["filter"])[1]


def test_the_graph_rings_the_selected_resident(current, model):
    shown = current.snapshot()
    first, last = model.residents[0], model.residents[-1]
    selected = solara.reactive(first.unique_id)

    @solara.component
    def Page():  # noqa: N802 - a component, named as Solara's are
        NetworkView(current, shown, selected)

    _, rc = solara.render(Page(), handle_error=False)
    assert _ring_on(rc) == first.name
    selected.set(last.unique_id)  # a click, or a choice in the memory inspector
    assert _ring_on(rc) == last.name


def test_the_memory_inspector_shows_the_retrieval_or_says_why_not(current, model):
    shown = current.snapshot()
    llm = next(r for r in model.residents if isinstance(r, LLMResident) and r.awake(model.hour))
    rule = next(r for r in model.residents if isinstance(r, RuleResident))
    selected = solara.reactive(llm.unique_id)

    @solara.component
    def Page():  # noqa: N802 - a component, named as Solara's are
        MemoryInspector(current, shown, selected)

    _, rc = solara.render(Page(), handle_error=False)
    text = shown_in(rc, "mesa-llm-memory")
    assert f"{llm.name}: LLM resident" in text
    assert f"({clock_at(model.steps)}, chose" in text
    for column in ("recency", "importance", "relevance", "score"):
        assert column in text
    best = shown.data.memories[llm.unique_id].retrieved.iloc[0]
    assert f"{best.score:.3f}" in text
    assert "No reflections yet." in text
    selected.set(rule.unique_id)
    assert "is a rule resident" in shown_in(rc, "mesa-llm-memory")
    rc.find(v.Select).widget.v_model = llm.name  # chosen by name: selected by id
    assert selected.value == llm.unique_id
    assert f"{llm.name}: LLM resident" in shown_in(rc, "mesa-llm-memory")

    before = session(steps=0)
    _, rc = solara.render(MemoryInspector(before, before.snapshot(), selected), handle_error=False)
    assert "No hourly decision yet: press Step." in shown_in(rc, "mesa-llm-memory")


def test_the_page_steps_the_model_and_draws_it():
    params = {
        **model_params,
        "embeddings": {**model_params["embeddings"], "value": "hashing"},
        "p": {**model_params["p"], "value": 1.0},
    }
    _, rc = solara.render(DiffusionDashboard(params, backend="rule"), handle_error=False)
    status = rc.find(v.Html, class_="mesa-llm-status")  # a Div: an Html of that class alone
    status.find(children=["Step 0"]).wait_for(timeout=30)
    assert "rule → diffusion" in shown_in(rc, "mesa-llm-backend")
    assert len(rc.find(solara.widgets.VegaLite).widgets) == 1
    step = rc.find(v.Btn, children=["Step"]).widget
    for expected in (1, 2, 3):
        step.fire_event("click", None)
        status.find(children=[f"Step {expected}"]).wait_for(timeout=30)
    rc.find(v.Html, class_="mesa-llm-status-line").find(children=["Game time: day 1, 02:00"]).wait_for(
        timeout=10
    )
    places = shown_in(rc, "mesa-llm-places")
    assert "(asleep)" in places  # 2 a.m.
    assert "LLM resident" in shown_in(rc, "mesa-llm-memory")  # the first LLM resident, selected
