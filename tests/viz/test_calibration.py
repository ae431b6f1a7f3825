"""The calibration panel, rendered in process: it probes in the background and shows what it found."""

import dataclasses
import re
import threading

import ipyvuetify as v
import ipywidgets
import pytest
import solara

from mesa_llm import FunctionChatModel
from mesa_llm.backends import BackendError
from mesa_llm.cache import InMemoryCache
from mesa_llm.lab import RunConfig, model_parameters
from mesa_llm.viz import ScenarioDashboard
from mesa_llm.viz.calibration import CalibrationPanel, probe_parameters
from mesa_llm_models.schelling import SCENARIO as SCHELLING
from mesa_llm_models.schelling.app import model_params, portrayal
from mesa_llm_models.schelling.calibration import THRESHOLD_PROBE
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer

TIMEOUT_S = 60
PRESS_PROBE = "Press Probe to ask the selected backend about the probe's grid of observations."
VERDICT = re.compile(r"Implied rule: threshold t\* = (\d\.\d\d) \[(\d\.\d\d), (\d\.\d\d)\]")


def settings(backend="rule", **values):
    """The page's settings: Schelling with ``values``, asking ``backend``."""
    return lambda: RunConfig(SCHELLING, model_parameters(SCHELLING, values), steps=0, seed=1, backend=backend)


def text(rc, name):
    return rc.find(class_=name).widget.children[0]


def click_probe(rc):
    rc.find(v.Btn, children=["Probe"]).widget.click()


def threshold_shown(rc):
    rc.find(class_="mesa-llm-probe-verdict").wait_for(timeout=TIMEOUT_S)
    low, threshold, high = sorted(
        float(x) for x in VERDICT.match(text(rc, "mesa-llm-probe-verdict")).groups()
    )
    return threshold, (low, high)


def test_a_probe_is_given_the_pages_parameters_but_not_the_world_it_builds():
    page = model_parameters(SCHELLING, {"homophily": 0.3, "framing": "social", "radius": 2, "width": 30})
    given = probe_parameters(SCHELLING, THRESHOLD_PROBE, {**page, "graph": object()})
    assert given["homophily"] == 0.3
    assert given["framing"] == "social"
    assert given["radius"] == 2
    assert not {"width", "height", "density", "torus"} & set(given)  # the probe's own small world
    assert "llm_share" not in given  # the LLM agents' rule, whatever the page's mix
    assert "graph" not in given  # not a scenario parameter
    assert set(given) == set(SCHELLING.parameters()) - {*THRESHOLD_PROBE.parameters, "llm_share"}


@pytest.mark.parametrize("homophily", [0.3, 0.6])
def test_the_panel_recovers_the_rule_backends_threshold_and_draws_it(homophily):
    _, rc = solara.render(CalibrationPanel(SCHELLING, settings(homophily=homophily)), handle_error=False)
    rc.find(class_="mesa-llm-probe-status").find(children=[PRESS_PROBE]).assert_single()
    click_probe(rc)
    threshold, (low, high) = threshold_shown(rc)
    assert abs(threshold - homophily) <= 0.05
    assert low <= homophily <= high
    assert text(rc, "mesa-llm-probe-cost") == (
        f"45 points · 45 backend calls · 0 cache hits · 0 fallbacks (schelling-rule-{homophily})"
    )
    assert text(rc, "mesa-llm-probe-settings") == f"Probed: backend rule, seed 1, homophily {homophily}"
    (image,) = rc.find(ipywidgets.Image).widgets
    assert bytes(image.value).startswith(b"\x89PNG")

    click_probe(rc)  # the same settings again: answered by the panel's own cache
    replayed = f"45 points · 0 backend calls · 45 cache hits · 0 fallbacks (schelling-rule-{homophily})"
    rc.find(class_="mesa-llm-probe-cost", children=[replayed]).wait_for(timeout=TIMEOUT_S)


def test_the_pages_cache_keeps_the_answers_for_another_panel():
    cache = InMemoryCache()
    _, first = solara.render(CalibrationPanel(SCHELLING, settings(), cache=cache), handle_error=False)
    click_probe(first)
    threshold_shown(first)
    assert len(cache) == 45
    _, second = solara.render(CalibrationPanel(SCHELLING, settings(), cache=cache), handle_error=False)
    click_probe(second)
    threshold_shown(second)
    assert text(second, "mesa-llm-probe-cost").startswith("45 points · 0 backend calls · 45 cache hits")


def test_a_running_probe_shows_its_status_and_leaves_the_inputs_usable():
    gate = threading.Event()
    rule = SchellingRuleAnswer(homophily=0.6)

    def gated(messages):
        gate.wait(TIMEOUT_S)
        return rule(messages)

    backends = {"gated": FunctionChatModel(fn=gated, model_name="gated-rule")}
    panel = CalibrationPanel(SCHELLING, settings("gated", homophily=0.6), backends)
    _, rc = solara.render(panel, handle_error=False)
    try:
        click_probe(rc)
        status = rc.find(class_="mesa-llm-probe-status")
        status.find(
            children=["Probing: the threshold probe, backend gated… (the page stays usable)"]
        ).wait_for(timeout=TIMEOUT_S)
        assert rc.find(v.Btn, children=["Probe"]).widget.disabled  # one probe at a time
        assert not gate.is_set()  # the click returned while no answer could come: it runs in the background
    finally:
        gate.set()
    threshold, _ = threshold_shown(rc)
    assert abs(threshold - 0.6) <= 0.05
    assert not rc.find(v.Btn, children=["Probe"]).widget.disabled


def test_errors_are_shown_in_the_panel_not_raised():
    def no_backend():
        raise BackendError("Enter a LangChain provider:model string, e.g. openai:gpt-4o-mini.")

    _, rc = solara.render(CalibrationPanel(SCHELLING, no_backend), handle_error=False)
    click_probe(rc)
    assert text(rc, "mesa-llm-probe-problem") == (
        "Could not probe: Enter a LangChain provider:model string, e.g. openai:gpt-4o-mini."
    )

    def broken(messages):
        raise RuntimeError("the backend is down")

    backends = {"broken": FunctionChatModel(fn=broken, model_name="broken")}
    _, rc = solara.render(CalibrationPanel(SCHELLING, settings("broken"), backends), handle_error=False)
    click_probe(rc)
    rc.find(class_="mesa-llm-probe-problem").wait_for(timeout=TIMEOUT_S)
    assert text(rc, "mesa-llm-probe-problem").startswith(
        "The probe failed: ProbeError: Every answer of broken fell back"
    )
    assert not rc.find(v.Btn, children=["Probe"]).widget.disabled  # it can be tried again


def test_the_dashboard_has_the_panel_only_for_a_scenario_with_probes():
    page = ScenarioDashboard(SCHELLING, portrayal, model_params, backend="rule")
    _, rc = solara.render(page, handle_error=False)
    click_probe(rc)  # with the page's settings: the rule at its homophily slider, 0.4
    threshold, _ = threshold_shown(rc)
    assert abs(threshold - model_params["homophily"]["value"]) <= 0.05
    assert text(rc, "mesa-llm-probe-settings").startswith("Probed: backend rule, seed 1")

    without = dataclasses.replace(SCHELLING, probes=())
    _, rc = solara.render(
        ScenarioDashboard(without, portrayal, model_params, backend="rule"), handle_error=False
    )
    rc.find(v.Btn, children=["Step"]).assert_single()
    rc.find(v.Btn, children=["Probe"]).assert_empty()
