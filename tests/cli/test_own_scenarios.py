"""``mesa-llm run path/to/file.py:SPEC`` and ``module:SPEC``: a user's own scenario, unpackaged."""

import json
import subprocess

import pandas as pd
import pytest

from tests.cli.commands import MESA_LLM, invoke
from tests.lab.own_scenario import imports_undone, write


def mesa_llm(cwd, *args):
    proc = subprocess.run([MESA_LLM, *args], cwd=cwd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc


def frames(folder):
    model = pd.read_csv(folder / "model.csv", index_col="step").drop(columns="llm_mean_latency_s")
    return model, pd.read_csv(folder / "agents.csv")


def test_a_scenario_file_runs_and_the_command_its_run_records_repeats_it(tmp_path):
    write(tmp_path / "my")
    args = ["my/walk.py:SCENARIO", "--steps", "3", "--seed", "2", "--backend", "rule", "--walkers", "8"]
    mesa_llm(tmp_path, "run", *args, "--out", "first")
    text = (tmp_path / "first" / "run.json").read_text()
    record = json.loads(text)
    assert record["argv"][:3] == ["mesa-llm", "run", "my/walk.py:SCENARIO"]  # as the user wrote it
    assert record["params"] == {"walkers": 8, "rain": 0.5, "llm_share": 0.5}
    assert str(tmp_path) not in text  # no path of this machine in the record
    model, agents = frames(tmp_path / "first")
    assert model["llm_decisions"].iloc[-1] == 4 * 3
    assert set(model["umbrellas"].iloc[1:]) <= {0, 8}  # LLM walkers answer by the rule: all alike
    assert set(model["umbrellas"].iloc[1:]) == {0, 8}  # it rained in some step and not in another

    mesa_llm(tmp_path, *record["argv"][1:], "--out", "again")
    again_model, again_agents = frames(tmp_path / "again")
    pd.testing.assert_frame_equal(again_model, model)
    pd.testing.assert_frame_equal(again_agents, agents)


def test_a_module_of_a_package_in_the_working_directory_runs(tmp_path):
    write(tmp_path / "mypkg", "__init__.py", "")
    write(tmp_path / "mypkg")
    mesa_llm(tmp_path, "run", "mypkg.walk:SCENARIO", "--steps", "2", "--llm-share", "0", "--out", "out")
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["argv"][2] == "mypkg.walk:SCENARIO"
    assert record["steps_completed"] == 2


@pytest.fixture
def own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with imports_undone(tmp_path):
        yield tmp_path


def test_the_help_and_models_show_the_parameters_of_a_scenario_file(own):
    write(own / "my")
    for args in (["run", "my/walk.py:SCENARIO", "--help"], ["models", "my/walk.py"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        for shown in ("my/walk.py:SCENARIO", "--walkers", "--rain", "--llm-share", "umbrellas"):
            assert shown in result.stdout, (args, shown)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nowhere/walk.py:SCENARIO"], "There is no file 'nowhere/walk.py'"),
        (["run", "my/walk.py:NOPE"], "my/walk.py has no 'NOPE'; the ScenarioSpec objects it defines"),
        (["models", "my/walk.py:Walk"], "my/walk.py:Walk is a type, not a mesa_llm.lab.ScenarioSpec"),
    ],
)
def test_a_bad_reference_exits_2_naming_the_fix(own, args, message):
    write(own / "my")
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
