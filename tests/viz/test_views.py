import math
import re

import pytest
import solara
import solara.widgets

from mesa_llm.lab import RunConfig, metrics_figure, model_parameters
from mesa_llm.viz import ScenarioDashboard
from mesa_llm.viz.session import Session
from mesa_llm.viz.views import SpaceView, readable
from mesa_llm_models.schelling import SCENARIO
from mesa_llm_models.schelling.app import legend, portrayal


def session(**settings: str) -> Session:
    config = RunConfig(SCENARIO, model_parameters(SCENARIO, settings), steps=0, seed=1, backend="rule")
    return Session.start(config, portrayal, {}, None)


def panels(current: Session):
    shown = current.snapshot()
    figure = readable(metrics_figure(shown.frame, SCENARIO.metrics, "", current.populations))
    return {ax.get_title(): ax for ax in figure.axes}


def test_step_0_shows_the_initial_values_on_sensible_axes():
    current = session(llm_share="0.25", width="10", height="10")
    axes = panels(current)
    frame = current.snapshot().frame
    for name, ax in axes.items():
        lines = ax.get_lines()
        assert lines, f"{name} draws its step-0 values"
        assert {line.get_marker() for line in lines} == {"o"}  # one point: a marker, or nothing shows
        assert ax.get_xlim() == (-0.1, 1)
        assert [list(line.get_xdata()) for line in lines] == [[0]] * len(lines)
    assert axes["segregation"].get_ylim() == (-0.05, 1.05)  # a fraction
    assert axes["moves"].get_ylim() == (-0.05, 1.05)  # 0 moves
    low, high = axes["pct_happy"].get_ylim()
    value = frame["pct_happy"].iloc[0]
    assert low < value < high
    assert high - low >= 2 * 0.1 * value  # padded around the values, not stretched over their spread


def test_later_steps_keep_matplotlib_axes_and_lines():
    current = session(llm_share="0.25", width="10", height="10")
    for _ in range(3):
        current.model.step()
    axes = panels(current)
    segregation = axes["segregation"]
    assert {line.get_marker() for line in segregation.get_lines()} == {"None"}
    values = current.snapshot().frame["segregation"]
    low, high = segregation.get_ylim()
    assert low > -0.05 or high < 1.05  # autoscaled to the data
    assert low <= values.min()
    assert values.max() <= high
    assert segregation.get_xlim()[1] >= 3


def test_a_constant_is_drawn_in_a_padded_range():
    from matplotlib.figure import Figure

    figure = Figure()
    ax, other = figure.subplots(1, 2)
    ax.plot([0, 1, 2], [50.0, 50.0, 50.0])
    other.plot([0, 1, 2], [float("nan"), 3.0, float("nan")])
    readable(figure)
    assert ax.get_ylim() == (45.0, 55.0)
    assert ax.get_lines()[0].get_marker() == "None"  # three points draw a line
    assert other.get_lines()[0].get_marker() == "o"  # one value among NaNs
    assert other.get_ylim() == (2.0, 4.0)
    assert not math.isclose(other.get_xlim()[0], -0.1)  # still three steps


def _ring_on(rc) -> int:
    """The id of the agent the drawn ring is on."""
    spec = rc.find(solara.widgets.VegaLite).widget.spec
    (ring,) = [layer for layer in spec["layer"] if layer.get("name") == "selection"]
    return int(re.fullmatch(r"\(?datum\.id === (\d+)\)?", ring["transform"][0]["filter"])[1])


def test_the_selection_ring_moves_when_the_selection_changes():
    current = session(llm_share="0.25", width="6", height="6")
    shown = current.snapshot()
    ids = sorted(a.unique_id for a in current.model.agents)
    selected = solara.reactive(ids[0])

    @solara.component
    def Page():  # noqa: N802 - a component, named as Solara's are
        SpaceView(current, shown, selected, legend)

    _, rc = solara.render(Page(), handle_error=False)
    assert _ring_on(rc) == ids[0]
    selected.set(ids[-1])  # a click, between two steps: the same snapshot
    assert _ring_on(rc) == ids[-1]


def test_a_dashboard_needs_a_portrayal_or_a_space_view():
    with pytest.raises(TypeError, match="agent_portrayal or a space_view"):
        solara.render(ScenarioDashboard(SCENARIO), handle_error=False)
