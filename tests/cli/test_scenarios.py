"""``mesa-llm models``, ``mesa-llm viz`` and the help: the scenarios the command finds."""

import os
import subprocess
from importlib.metadata import EntryPoint, EntryPoints

import pytest

from mesa_llm.lab import specs as specs_module
from mesa_llm.lab.specs import ENTRY_POINT_GROUP
from tests.cli.commands import MESA_LLM, invoke


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
    assert "mesa-llm run SCENARIO --help" in " ".join(result.stdout.split())


def test_a_bad_scenario_entry_point_is_reported_cleanly(monkeypatch):
    bad = EntryPoint(name="bad", value="tests.cli.commands:SMALL", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(specs_module, "entry_points", EntryPoints([bad]).select)
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
    monkeypatch.setattr(specs_module, "entry_points", EntryPoints([entry]).select)
    result = invoke("viz", "broken")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_viz_of_an_unknown_scenario_lists_the_known_ones():
    result = invoke("viz", "nosuch")
    assert result.exit_code == 2
    assert "available: cooperation, diffusion, life, schelling" in " ".join(result.output.split())


@pytest.mark.parametrize(("scenario", "option"), [("schelling", "--homophily"), ("cooperation", "--payoffs")])
def test_the_help_of_a_scenario_lists_its_parameters_in_plain_text(scenario, option):
    env = {**os.environ, "COLUMNS": "250"}
    proc = subprocess.run(
        [MESA_LLM, "run", scenario, "--help"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert "--llm-share" in proc.stdout  # the options of every run
    assert option in proc.stdout  # and the scenario's own
    assert "grid width." in proc.stdout
    for markup in (":class:", "``", "graph"):  # the CLI has no graph option
        assert markup not in proc.stdout, markup
    listed = invoke("models", scenario)
    assert listed.exit_code == 0
    assert option in listed.stdout
    for markup in (":class:", "``", "graph"):
        assert markup not in listed.stdout, markup


def test_the_help_of_the_cooperation_scenario_names_classes_by_their_name():
    result = invoke("models", "cooperation")
    assert "(LLMPlayer)" in result.stdout
    assert "mesa_llm_models.cooperation.agents" not in result.stdout


def test_the_help_of_an_unknown_scenario_says_so_after_the_options():
    result = invoke("run", "nosuch", "--help")
    assert result.exit_code == 0
    assert "--backend" in result.stdout
    assert "No parameters to show: Unknown scenario 'nosuch'" in " ".join(result.stdout.split())
