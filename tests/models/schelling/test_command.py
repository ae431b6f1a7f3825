"""``mesa-llm run schelling``: the scenario's parameters from the command line."""

import gzip
import json

import pandas as pd
from typer.testing import CliRunner

from mesa_llm.cli import app
from mesa_llm_models.schelling import FRAMINGS


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


def test_a_framing_from_the_command_line_with_the_rule_backend_reproduces_the_rule_run(tmp_path):
    small = ["--width", "8", "--height", "8", "--steps", "4", "--seed", "2"]
    _, rule = run(tmp_path / "rule", *small, "--llm-share", "0")
    record, social = run(
        tmp_path / "social", *small, "--backend", "rule", "--llm-share", "0.5", "--param", "framing=social"
    )
    assert record["params"]["framing"] == "social"
    columns = ["happy", "pct_happy", "segregation", "moves"]
    assert social[columns].equals(rule[columns])
    assert social["llm_decisions"].iloc[-1] > 0
    with gzip.open(tmp_path / "social" / "prompts.jsonl.gz", "rt") as lines:
        prompts = [json.loads(line)["messages"] for line in lines]
    assert prompts
    assert all(system["content"] == FRAMINGS["social"].system for system, _ in prompts)


def test_an_unknown_framing_from_the_command_line_names_the_framings(tmp_path):
    result = CliRunner().invoke(
        app, ["run", "schelling", "--quiet", "--out", str(tmp_path), "--param", "framing=sci-fi"]
    )
    assert result.exit_code != 0
    assert "Unknown framing 'sci-fi'; the framings are: neutral, colours, social." in result.output
