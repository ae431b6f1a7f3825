"""``mesa-llm models``, ``mesa-llm viz`` and the help: the scenarios the command finds."""

from importlib.metadata import EntryPoint

import pytest

from mesa_llm.lab import specs as specs_module
from mesa_llm.lab.specs import ENTRY_POINT_GROUP
from tests.cli.commands import invoke


def test_models_lists_scenarios_with_their_parameters():
    result = invoke("models")
    assert result.exit_code == 0
    assert "schelling" in result.stdout
    homophily = next(line for line in result.stdout.splitlines() if "--homophily" in line)
    assert "float" in homophily
    assert "0.4" in homophily
    assert "--llm-share" in result.stdout


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "run" in result.stdout
    assert "models" in result.stdout
    result = invoke("run", "--help")
    assert result.exit_code == 0
    for option in ("--llm-share", "--backend", "--steps", "--seed", "--cache", "--param", "--out", "--quiet"):
        assert option in result.stdout
    assert "mesa-llm models" in result.stdout


def test_a_bad_scenario_entry_point_is_reported_cleanly(monkeypatch):
    bad = EntryPoint(name="bad", value="tests.cli.commands:SMALL", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(specs_module, "entry_points", lambda group: [bad])
    for args in (["models"], ["run", "bad"]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert "The entry point 'bad'" in result.stderr
        assert "must name a mesa_llm.lab.ScenarioSpec" in " ".join(result.stderr.split())


NO_DASHBOARD = specs_module.ScenarioSpec(
    name="nodash", model=specs_module.find_scenario("schelling").model, summary="", metrics=()
)
MISSING_DASHBOARD = specs_module.ScenarioSpec(
    name="lostdash", model=NO_DASHBOARD.model, summary="", metrics=(), app="nowhere.app"
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("NO_DASHBOARD", "has no dashboard"),
        ("MISSING_DASHBOARD", "'nowhere.app' of lostdash cannot be found"),
    ],
)
def test_viz_names_a_scenario_without_a_dashboard(monkeypatch, spec, message):
    entry = EntryPoint(name="broken", value=f"tests.cli.test_scenarios:{spec}", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(specs_module, "entry_points", lambda group: [entry])
    result = invoke("viz", "broken")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_viz_of_an_unknown_scenario_lists_the_known_ones():
    result = invoke("viz", "nosuch")
    assert result.exit_code == 2
    assert "available: cooperation, schelling" in " ".join(result.output.split())
