"""``mesa-llm run schelling``: the scenario's parameters from the command line."""

import json

import pandas as pd
from typer.testing import CliRunner

from mesa_llm.cli import app


def run(out, *args):
    result = CliRunner().invoke(app, ["run", "schelling", "--quiet", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "run.json").read_text()), pd.read_csv(out / "model.csv", index_col="step")


def test_flags_given_as_text_reach_the_model_as_bools(tmp_path):
    small = ["--width", "6", "--height", "6", "--steps", "2"]
    off, _ = run(tmp_path / "off", *small, "--sequential", "false", "--torus", "no")
    on, _ = run(tmp_path / "on", *small, "--sequential", "--torus=yes")
    assert (off["params"]["sequential"], off["params"]["torus"]) == (False, False)
    assert (on["params"]["sequential"], on["params"]["torus"]) == (True, True)


def test_a_density_that_fills_a_tiny_town_runs(tmp_path):
    args = ["--backend", "rule", "--llm-share", "0", "--width", "2", "--height", "2"]
    record, frame = run(tmp_path / "full", *args, "--density", "0.95", "--seed", "0", "--steps", "3")
    assert record["steps_completed"] == 3
    assert (frame["residents_rule"] == 3).all()  # the draw filled all 4 cells; one is left empty
    assert frame["moves"].sum() > 0
