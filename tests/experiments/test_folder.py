import json
import signal
import subprocess
import time

import pytest

from mesa_llm.experiments import SweepFolderError, load_sweep
from mesa_llm.experiments.files import load_sweep_file
from tests.cli.commands import MESA_LLM
from tests.experiments.sweeps import assert_same_results, mixed_sweep

SWEEP_FILE = """
scenario = "schelling"
steps = 6
seeds = 4
backend = "rule"

[fixed]
width = 12
height = 12

[axes]
llm_share = [0.0, 0.5]
homophily = [0.3, 0.6]
"""


def test_a_sweep_killed_midway_resumes_to_the_frames_of_an_uninterrupted_one(tmp_path):
    file = tmp_path / "sweep.toml"
    file.write_text(SWEEP_FILE)
    out = tmp_path / "killed"
    process = subprocess.Popen([MESA_LLM, "sweep", str(file), "--out", str(out), "--quiet"])
    deadline = time.monotonic() + 120
    while (
        len(list(out.glob("runs/*/run.json"))) < 3 and process.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(list(out.glob("runs/*/run.json")))
    assert 3 <= written < 16, "the sweep should have been killed midway"
    sweep = load_sweep_file(file)
    resumed = sweep.run(out=out)
    whole = sweep.run(out=tmp_path / "whole")
    assert resumed.complete
    assert len(resumed.summary) == 16
    assert_same_results(resumed, whole)
    assert_same_results(load_sweep(out), whole)  # and as read back from the folder
    assert (out / "summary.csv").is_file()
    assert (out / "steps.csv").is_file()


def test_another_design_is_refused_in_a_sweeps_folder(tmp_path):
    mixed_sweep().run(out=tmp_path)
    with pytest.raises(SweepFolderError, match=r"another sweep \(its steps differ.*another output folder"):
        mixed_sweep(steps=3).run(out=tmp_path)


def test_a_folder_of_something_else_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SweepFolderError, match="not empty and holds no sweep"):
        mixed_sweep().run(out=tmp_path)
    with pytest.raises(SweepFolderError, match="not a sweep's folder"):
        load_sweep(tmp_path)


def test_the_folder_keeps_each_runs_records_and_a_manifest(tmp_path):
    result = mixed_sweep().run(out=tmp_path)
    manifest = json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["runs"] == 8
    assert manifest["digest"] == mixed_sweep().digest()
    assert "mesa" in manifest["versions"]
    llm_run = result.summary.loc[result.summary["llm_share"] == 0.5, "run"].iloc[0]
    assert (tmp_path / "runs" / llm_run / "calls.jsonl.gz").is_file()
    rule_run = result.summary.loc[result.summary["llm_share"] == 0.0, "run"].iloc[0]
    assert not (tmp_path / "runs" / rule_run / "calls.jsonl.gz").exists()
    assert_same_results(load_sweep(tmp_path), result)
