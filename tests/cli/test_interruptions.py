"""Killed, terminated and twice-interrupted runs of the console script: nothing completed is lost.

Each run writes its folder as it goes; a kill at any point leaves ``run.json`` saying how
many steps completed, the appended files hold those steps in full (anything beyond is the
next step, cut short), and ``mesa-llm run --resume`` ends with the uninterrupted run's files.
"""

import gzip
import io
import json
import random
import signal
import subprocess
import time

import pandas as pd
import pytest
from matplotlib.image import imread

from mesa_llm.lab import load_run
from mesa_llm.lab.journal import APPENDED
from tests.cli.commands import MESA_LLM, invoke
from tests.processes import interruptible

STEPS = 60
SCENARIOS = {
    "schelling": ["schelling", "--width", "12", "--height", "12", "--homophily", "0.9"],
    "cooperation": ["cooperation", "--width", "8", "--height", "8"],
}
COMMON = ["--llm-share", "0.5", "--backend", "rule", "--seed", "3", "--steps", str(STEPS), "-q"]
# What the answers cost: a step cut short may have asked some questions already, and the
# resumed run finds their answers in the cache, so it asks fewer than the uninterrupted run.
COSTS = ("llm_calls", "llm_cache_hits", "llm_tokens_in", "llm_tokens_out", "llm_mean_latency_s")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted run of each scenario, in process."""
    folders = {}
    for name, args in SCENARIOS.items():
        folder = tmp_path_factory.mktemp("uninterrupted") / name
        result = invoke("run", *args, *COMMON, "--out", folder)
        assert result.exit_code == 0, result.output
        folders[name] = folder
    return folders


def start(tmp_path, scenario):
    """The console script running ``scenario`` into ``tmp_path / "run"``, as from a terminal."""
    folder = tmp_path / "run"
    argv = [MESA_LLM, "run", *SCENARIOS[scenario], *COMMON, "--out", str(folder)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen(interruptible(argv), text=True, **pipes), folder


def wait_for_step(proc, folder, step, timeout=60):
    """Poll run.json until it records ``step`` completed steps; the steps it recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done = json.loads((folder / "run.json").read_text())["steps_completed"]
        except FileNotFoundError:
            done = -1
        if done >= step:
            return done
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.002)
    raise AssertionError(f"no step {step} within {timeout} s")


def model_rows(data, costs=("llm_mean_latency_s",)):
    """The model rows in ``data``, without the columns of what answers cost (latency differs in any rerun)."""
    return pd.read_csv(io.BytesIO(data), index_col="step").drop(columns=list(costs))


def text(name, data):
    """A file's text: a gzip file's whole members decompressed (a partial member raises)."""
    return (gzip.decompress(data) if name.endswith(".gz") else data).decode()


def actions(data):
    lines = text("calls.jsonl.gz", data).splitlines()
    return [(c["step"], c["agent_id"], c["action"]) for c in map(json.loads, lines)]


def check_what_a_kill_left(folder, reference):
    """The folder holds its completed steps in full, as the uninterrupted run has them; their number."""
    record = json.loads((folder / "run.json").read_text())
    done = record["steps_completed"]
    for name in APPENDED:
        data = (folder / name).read_bytes()
        trusted = data[: record["bytes"][name]]
        assert len(data) >= len(trusted), name
        assert text(name, trusted)[-1:] in ("", "\n"), (
            f"{name}: a partial line within the {done} completed steps"
        )
        whole = (reference / name).read_bytes()
        if name == "model.csv":
            expected = model_rows(whole).loc[:done]
            pd.testing.assert_frame_equal(model_rows(trusted), expected)
        elif name == "agents.csv":
            assert whole.startswith(trusted)
            assert trusted.splitlines()[-1].startswith(f"{done},".encode())
        elif name.startswith("prompts"):
            assert text(name, whole).startswith(text(name, trusted))
        else:
            assert actions(trusted) == [a for a in actions(whole) if a[0] <= done]
    assert not list(folder.glob("*.tmp"))
    if (folder / "metrics.png").exists():
        assert imread(folder / "metrics.png").ndim == 3  # a whole image, never a truncated one
    assert load_run(folder).steps_completed == done
    return record


def check_resumed(folder, reference):
    result = invoke("run", "--resume", folder, "-q")
    assert result.exit_code == 0, result.output
    record = json.loads((folder / "run.json").read_text())
    assert (record["complete"], record["steps_completed"]) == (True, STEPS)
    resumed, whole = (model_rows((f / "model.csv").read_bytes(), COSTS) for f in (folder, reference))
    pd.testing.assert_frame_equal(resumed, whole)
    assert (folder / "agents.csv").read_bytes() == (reference / "agents.csv").read_bytes()
    calls = "calls.jsonl.gz"
    assert actions((folder / calls).read_bytes()) == actions((reference / calls).read_bytes())
    assert imread(folder / "metrics.png").ndim == 3
    return record


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_run_killed_after_some_steps_keeps_them_and_resumes_to_the_same_files(
    tmp_path, scenario, uninterrupted
):
    target = random.randint(1, 12)
    proc, folder = start(tmp_path, scenario)
    wait_for_step(proc, folder, target)
    proc.kill()
    proc.communicate(timeout=30)
    record = check_what_a_kill_left(folder, uninterrupted[scenario])
    assert record["complete"] is False, f"killed after step {target}"
    assert target <= record["steps_completed"] < STEPS
    resumed = check_resumed(folder, uninterrupted[scenario])
    assert resumed["resumed_after"] == [record["steps_completed"]]


def test_a_run_killed_in_its_final_writing_resumes_to_the_same_files(tmp_path, uninterrupted):
    """The kill comes once run.json records the last step, as metrics.png and run.json are finished."""
    proc, folder = start(tmp_path, "schelling")
    wait_for_step(proc, folder, STEPS)
    proc.kill()
    proc.communicate(timeout=30)
    record = check_what_a_kill_left(folder, uninterrupted["schelling"])
    assert record["steps_completed"] == STEPS
    if not record["complete"]:
        check_resumed(folder, uninterrupted["schelling"])


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes(tmp_path, uninterrupted):
    proc, folder = start(tmp_path, "schelling")
    wait_for_step(proc, folder, 3)
    proc.terminate()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    record = check_what_a_kill_left(folder, uninterrupted["schelling"])
    assert (record["complete"], record["interrupted"]) == (False, True)
    done = record["steps_completed"]
    assert f"Interrupted after {done} of {STEPS} steps; wrote the completed steps to {folder}." in stderr
    assert (folder / "metrics.png").exists()
    check_resumed(folder, uninterrupted["schelling"])


def test_a_second_ctrl_c_during_the_final_writing_leaves_no_partial_file(tmp_path, uninterrupted):
    proc, folder = start(tmp_path, "schelling")
    wait_for_step(proc, folder, 3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)  # the first stops the steps; the second comes while the folder is finished
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    record = check_what_a_kill_left(folder, uninterrupted["schelling"])
    done = record["steps_completed"]
    assert f"Interrupted after {done} of {STEPS} steps; wrote the completed steps to {folder}." in stderr
    check_resumed(folder, uninterrupted["schelling"])


def test_resume_of_a_complete_run_does_nothing(uninterrupted):
    folder = uninterrupted["schelling"]
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    result = invoke("run", "--resume", folder)
    assert result.exit_code == 0
    assert f"The run in {folder} is complete ({STEPS} of {STEPS} steps); nothing to resume." in (
        " ".join(result.stderr.split())
    )
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


@pytest.mark.parametrize("args", [["--steps", "5"], ["schelling"], ["--seed", "2", "--homophily", "0.3"]])
def test_resume_refuses_other_run_options(tmp_path, args):
    result = invoke("run", "--resume", tmp_path, *args)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "--resume continues a run with the settings of its run.json and takes no other run" in message
    named = message.partition("(got ")[2].partition(")")[0].split()
    assert {a for a in args if not a[0].isdigit()} <= set(named)
    assert message.endswith("only --quiet and --fail-on-fallback go with it.")


def test_resume_of_a_folder_without_a_run_exits_2(tmp_path):
    result = invoke("run", "--resume", tmp_path)
    assert result.exit_code == 2
    assert "holds no run: it has no run.json" in result.stderr
