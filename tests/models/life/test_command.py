"""``mesa-llm run life``: the scenario from the installed command, its parameters from the command line."""

import gzip
import json
import subprocess

import pandas as pd
from typer.testing import CliRunner

from mesa_llm.cli import app
from mesa_llm.experiments import Sweep
from mesa_llm_models.life import FRAMINGS
from tests.cli.commands import MESA_LLM

SMALL = ["--width", "12", "--height", "12", "--seed", "3"]
CONWAY_TABLE = "B:0,0,0,1,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0"


def outputs(out):
    return json.loads((out / "run.json").read_text()), pd.read_csv(out / "model.csv", index_col="step")


def command(out, *args):
    """The installed ``mesa-llm run life``, in a process of its own."""
    result = subprocess.run(
        [MESA_LLM, "run", "life", "--quiet", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return outputs(out)


def run(out, *args):
    """``mesa-llm run life`` in this process."""
    result = CliRunner().invoke(app, ["run", "life", "--quiet", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return outputs(out)


def test_the_installed_command_runs_half_llm_cells_with_the_rule_backend_as_the_rule_run(tmp_path):
    record, mixed = command(
        tmp_path / "mixed", "--steps", "10", "--backend", "rule", "--llm-share", "0.5", *SMALL
    )
    _, rule = run(tmp_path / "rule", "--steps", "10", "--llm-share", "0", *SMALL)
    assert record["steps_completed"] == 10
    assert (record["params"]["llm_share"], record["params"]["rule"]) == (0.5, "B3/S23")
    assert mixed["alive"].equals(rule["alive"])
    assert (mixed["cells_llm"] == 72).all()
    assert mixed["llm_decisions"].iloc[-1] == 10 * 72
    assert mixed["llm_rule_agreement"].iloc[1:].eq(1.0).all()


def test_a_glider_in_highlife_and_a_rule_table_from_the_command_line(tmp_path):
    glider = ["--start", "glider", "--rule", "B36/S23", "--width", "8", "--height", "8", "--steps", "12"]
    record, frame = run(tmp_path / "glider", *glider)
    assert record["params"]["start"] == "glider"
    assert frame["glider"].eq(1.0).all()
    assert (frame["alive"] == 5 / 64).all()
    table_record, table = run(tmp_path / "table", "--rule-table", CONWAY_TABLE, "--steps", "6", *SMALL)
    assert table_record["params"]["rule_table"] == CONWAY_TABLE
    _, rule = run(tmp_path / "rule", "--steps", "6", *SMALL)
    assert table["alive"].equals(rule["alive"])


def test_the_rule_in_a_framing_from_the_command_line_reaches_the_prompts(tmp_path):
    args = ["--backend", "rule", "--llm-share", "0.5", "--rule-in-prompt", "--param", "framing=conway"]
    record, frame = run(tmp_path / "conway", *args, "--steps", "3", *SMALL)
    assert (record["params"]["framing"], record["params"]["rule_in_prompt"]) == ("conway", True)
    assert frame["llm_fallbacks"].iloc[-1] == 0
    with gzip.open(tmp_path / "conway" / "prompts.jsonl.gz", "rt") as lines:
        prompts = [json.loads(line)["messages"] for line in lines]
    assert prompts
    for system, user in prompts:
        assert system["content"] == FRAMINGS["conway"].system
        assert "The rule: if you are dead and exactly 3 of your 8 neighbours are alive" in user["content"]


def test_a_bad_rule_from_the_command_line_names_the_notation(tmp_path):
    result = CliRunner().invoke(app, ["run", "life", "--quiet", "--out", str(tmp_path), "--rule", "conway"])
    assert result.exit_code != 0
    assert "rule 'conway' is not in B/S notation: a rule is written B<digits>/S<digits>" in result.output


def test_a_rule_table_and_the_rule_are_sweep_axes():
    noisy = "B:0,0,0,0.9,0,0,0,0,0/S:0,0,0.8,0.95,0,0,0,0,0"
    sweep = Sweep(
        scenario="life",
        fixed={"width": 10, "height": 10},
        axes={"rule_table": [CONWAY_TABLE, noisy], "rule": ["B3/S23", "B36/S23"]},
        seeds=range(2),
        steps=5,
        backend="rule",
    )
    summary = sweep.run(workers=1).summary
    assert len(summary) == 8
    assert (summary["status"] == "ok").all()
    assert set(summary["rule_table"]) == {CONWAY_TABLE, noisy}
    by_table = summary.set_index(["rule_table", "rule", "seed"])["alive"]
    for seed in range(2):  # the table decides, whatever the rule
        assert by_table[(CONWAY_TABLE, "B3/S23", seed)] == by_table[(CONWAY_TABLE, "B36/S23", seed)]
    assert summary["glider"].isna().all()  # undefined with a random start
