import dataclasses
import json
import math
import signal
import subprocess
import time

import pandas as pd
import pytest

from mesa_llm.experiments import SweepFolder, SweepFolderError, load_sweep, run_task
from mesa_llm.experiments import folder as folder_module
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


def test_a_runs_model_frame_reads_back_exactly_as_the_sweep_keeps_it(tmp_path):
    sweep = mixed_sweep()
    task = sweep.tasks()[0]
    outcome = run_task(task)
    folder = SweepFolder.open(tmp_path, sweep)
    numbers = pd.DataFrame(
        {
            "count": [0, 2**62, -5],
            "share": [0.1 + 0.2, 1 / 3, 66.0],
            "tiny": [5e-324, 1e-300, -0.0],
            "wide": [math.inf, -math.inf, 1.7976931348623157e308],
            "gap": [math.nan, 2.5, math.nan],
            "none": [math.nan] * 3,
            "flag": [True, False, True],
        }
    ).rename_axis("step")
    words = numbers.assign(word=["a", "b,c", 'say "hi"'], mixed=[1, "x", None])  # not plain numbers
    for frame in (numbers, words, outcome.model_frame):
        record, kept = folder.write(task, dataclasses.replace(outcome, model_frame=frame))
        ((read_record, read),) = folder.records()
        assert read_record == record
        pd.testing.assert_frame_equal(read, kept, check_exact=True)
    assert folder.write(task, dataclasses.replace(outcome, model_frame=numbers))[1] is numbers


def test_a_sweep_gives_the_same_frames_with_a_folder_and_without(tmp_path):
    assert_same_results(mixed_sweep().run(out=tmp_path), mixed_sweep().run())


def test_a_resumed_sweep_reads_back_only_the_runs_done_before(tmp_path, monkeypatch):
    whole = mixed_sweep().run(out=tmp_path)
    for run in ("1", "6"):
        (tmp_path / "runs" / run / "run.json").unlink()  # as if killed before these two were written
    read = []

    def reading(source):
        read.append(source.parent.name)
        return read_model(source)

    read_model = folder_module._read_model
    monkeypatch.setattr(folder_module, "_read_model", reading)
    resumed = mixed_sweep().run(out=tmp_path)
    assert sorted(read) == ["0", "2", "3", "4", "5", "7"]
    assert_same_results(resumed, whole)
