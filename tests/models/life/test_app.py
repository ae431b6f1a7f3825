"""The Life dashboard: its page renders the board, coloured by state and shaped by population."""

import solara
import solara.widgets

from mesa_llm.lab import RunConfig
from mesa_llm.viz.session import Session, page_inputs, page_parameters
from mesa_llm_models.life import SCENARIO, LifeModel
from mesa_llm_models.life.app import STATE_COLOURS, legend, model_params, page, portrayal


def agent_rows(rc):
    """The rows of the agents' layer of the page's space chart."""
    spec = rc.find(solara.widgets.VegaLite).widget.spec
    (rows,) = [rows for rows in spec["datasets"].values() if rows and "population" in rows[0]]
    return rows


def test_the_page_renders_every_cell_coloured_by_state_and_shaped_by_population():
    _, rc = solara.render(page, handle_error=False)
    rows = agent_rows(rc)
    assert len(rows) == 20 * 20  # the page's default board
    for row in rows:
        assert row["viz_fill_color"] == STATE_COLOURS[row["alive"]]
        assert row["shape"] == {"rule": "circle", "LLM": "square"}[row["population"]]
    assert {row["population"] for row in rows} == {"rule", "LLM"}  # the page's default LLM share marks some
    assert {row["alive"] for row in rows} == {True, False}
    assert [entry.label for entry in legend] == ["alive", "dead"]


def test_the_page_inputs_are_the_scenario_s_parameters_and_build_the_model():
    inputs, fixed = page_inputs(SCENARIO, model_params)
    assert fixed == {}
    assert set(inputs) <= set(SCENARIO.parameters())
    params = page_parameters(SCENARIO, {name: options["value"] for name, options in inputs.items()})
    assert params["rule_table"] is None  # the empty text field
    model = LifeModel(**params, backend="rule", rng=1)
    assert (str(model.rule), model.grid.dimensions) == ("B3/S23", (20, 20))


def test_a_session_with_the_rule_backend_steps_and_draws_llm_cells_outlined():
    settings = {"width": 6, "height": 6, "llm_share": 0.5, "start": "glider"}
    config = RunConfig(SCENARIO, page_parameters(SCENARIO, settings), steps=0, seed=1, backend="rule")
    session = Session.start(config, portrayal, {}, None)
    for _ in range(4):
        session.model.step()
    shown = session.snapshot()
    assert shown.steps == 4
    assert shown.frame["glider"].eq(1.0).all()  # LLM cells following the rule keep the glider
    styles = {cell.population: portrayal(cell) for cell in session.model.agents}
    assert styles["llm"].marker == "s"
    assert styles["llm"].edgecolors is not None
    assert styles["rule"].marker == "o"
    alive = next(cell for cell in session.model.agents if cell.alive)
    assert portrayal(alive).color == STATE_COLOURS[True]
