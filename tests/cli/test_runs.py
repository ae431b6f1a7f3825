"""``mesa-llm run``: the installed console script in subprocesses, and in process."""

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import time
from contextlib import closing

import pandas as pd
import pytest
from matplotlib.image import imread

from mesa_llm.cli.runs import DEFAULT_STEPS
from mesa_llm.lab import (
    RUN_CACHE,
    Run,
    RunConfig,
    RunJournal,
    find_scenario,
    load_run,
    model_parameters,
    open_cache,
)
from tests.cli.commands import MESA_LLM, OUTPUTS, RULE_ONLY_OUTPUTS, SMALL, invoke, run_in_process
from tests.lab import outputs_scenario
from tests.processes import interruptible

SECRET = "sk-test-secret"
METRIC_COLUMNS = ["pct_happy", "segregation", "moves"]


def test_the_console_script_is_installed():
    assert MESA_LLM is not None


def test_run_writes_every_output_and_no_secret(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    argv = [MESA_LLM, "run", "schelling", "--llm-share", "0.5", "--steps", "4", "--backend", "rule"]
    argv += [*SMALL, "--homophily", "0.9", "--out", "demo"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "demo"
    assert {p.name for p in out.iterdir()} == OUTPUTS
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name

    record = json.loads((out / "run.json").read_text())
    assert record["scenario"] == "schelling"
    assert record["params"]["llm_share"] == 0.5
    assert record["params"]["homophily"] == 0.9
    assert record["params"]["density"] == 0.8  # defaults are recorded too
    assert (record["seed"], record["steps_requested"], record["steps_completed"]) == (1, 4, 4)
    assert (record["backend"], record["backend_name"], record["interrupted"]) == (
        "rule",
        "schelling-rule-0.9",
        False,
    )
    versions = record["versions"]
    expected = {"python", "platform", "mesa", "mesa-llm-lab", "langchain-core", "numpy", "pandas", "networkx"}
    assert expected <= set(versions)
    assert versions["mesa-llm-lab"] == "0.1.0"

    frame = pd.read_csv(out / "model.csv", index_col="step")
    assert list(frame.index) == [0, 1, 2, 3, 4]
    assert frame["llm_decisions"].iloc[-1] == record["llm_totals"]["decisions"] > 0
    calls = load_run(out).log.records
    raw = [json.loads(line) for line in gzip.decompress((out / "calls.jsonl.gz").read_bytes()).splitlines()]
    assert [c["action"] for c in raw] == [c.action for c in calls]
    assert len(calls) == record["llm_totals"]["decisions"]
    assert {c.backend for c in calls} == {"schelling-rule-0.9"}
    image = imread(out / "metrics.png")
    assert image.ndim == 3
    assert image.shape[0] >= 300
    assert image.shape[1] >= 3 * 300  # one panel per metric
    assert image[..., :3].std() > 0  # not blank

    assert "pct_happy" in proc.stdout
    assert "fallbacks" in proc.stdout
    assert "backend calls" in proc.stdout  # the words of the records
    assert "step 4/4 · LLM decisions " in proc.stderr  # progress, as a line where stderr is no terminal
    assert "Outputs in demo" in proc.stderr

    # The recorded command line repeats the run.
    again = invoke(*record["argv"][1:], "--out", tmp_path / "again")
    assert again.exit_code == 0, again.output
    repeated = pd.read_csv(tmp_path / "again" / "model.csv", index_col="step")
    pd.testing.assert_frame_equal(
        repeated.drop(columns="llm_mean_latency_s"), frame.drop(columns="llm_mean_latency_s")
    )


def test_ctrl_c_stops_cleanly_and_keeps_the_completed_steps(tmp_path):
    argv = [MESA_LLM, "run", "schelling", "--llm-share", "0", "--steps", "100000", "--width", "60"]
    argv += ["--height", "60", "--homophily", "0.9", "--seed", "2", "--out", "long"]
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(interruptible(argv), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 30
            while "Running schelling" not in stderr_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # into the steps
            proc.send_signal(signal.SIGINT)
            returncode = proc.wait(timeout=60)
        finally:
            proc.kill()
    messages = stderr_path.read_text()
    assert returncode == 130, messages
    assert "Traceback" not in messages
    assert "Interrupted after" in messages
    out = tmp_path / "long"
    assert {p.name for p in out.iterdir()} == RULE_ONLY_OUTPUTS
    record = json.loads((out / "run.json").read_text())
    assert record["interrupted"] is True
    assert 0 < record["steps_completed"] < 100000
    rows = (out / "model.csv").read_text().splitlines()[1:]
    assert record["steps_completed"] == len(rows) - 1
    agents = pd.read_csv(out / "agents.csv")
    assert agents["step"].max() == record["steps_completed"]


def test_a_bad_backend_fails_at_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    expected = {
        "openai:gpt-4o-mini": "OPENAI_API_KEY",
        "nosuchprovider:x": "Unknown backend 'nosuchprovider:x'",
    }
    started = {  # both at once: most of their time is starting Python
        backend: subprocess.Popen(  # each its own folder: one discarding it must not race the other
            [MESA_LLM, "run", "schelling", "--llm-share", "0.5", "--backend", backend, "--out", f"never-{i}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, backend in enumerate(expected)
    }
    finished = {backend: (proc, proc.communicate(timeout=120)[1]) for backend, proc in started.items()}
    for backend, (proc, stderr) in finished.items():
        assert proc.returncode == 2, stderr
        assert expected[backend] in stderr
        assert stderr.startswith("Error:")
        assert "Traceback" not in stderr
    assert not any(tmp_path.glob("never-*"))  # a run that never started leaves no folder


def test_rule_following_llm_residents_run_like_rule_residents(tmp_path):
    mixed, record = run_in_process(
        tmp_path / "mixed", "--llm-share", "0.5", "--backend", "rule", "--steps", 5
    )
    rule, _ = run_in_process(tmp_path / "rule", "--llm-share", "0", "--steps", 5)
    assert record["llm_totals"]["decisions"] > 0
    assert mixed["residents_llm"].iloc[0] > 0
    pd.testing.assert_frame_equal(mixed[METRIC_COLUMNS], rule[METRIC_COLUMNS])


def test_a_rerun_with_the_same_cache_makes_no_calls(tmp_path):
    args = ("--llm-share", "0.5", "--backend", "rule", "--steps", 4, "--cache", tmp_path / "cache.db")
    first, _ = run_in_process(tmp_path / "first", *args)
    second, second_record = run_in_process(tmp_path / "second", *args)
    assert first["llm_calls"].iloc[-1] > 0
    assert second["llm_calls"].iloc[-1] == 0
    assert second["llm_cache_hits"].iloc[-1] > 0
    assert second_record["llm_totals"]["calls"] == 0
    assert second_record["cache"] == str(tmp_path / "cache.db")
    same = [c for c in first if not c.startswith("llm_")] + ["llm_decisions", "llm_shared"]
    pd.testing.assert_frame_equal(first[same], second[same])


def test_a_run_without_llm_agents_loads_no_backend(tmp_path):
    frame, record = run_in_process(tmp_path / "out", "--backend", "nosuchprovider:x", "--steps", 2)
    assert record["backend"] is None  # no agent asked a model: none is recorded
    assert record["backend_name"] is None
    assert "nosuchprovider:x" in record["argv"]  # the command as given still repeats it
    assert frame["llm_decisions"].iloc[-1] == 0


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return run_in_process(tmp_path_factory.mktemp("default"), "--steps", 3)


@pytest.mark.parametrize("form", [["--param", "homophily=0.3"], ["--homophily", "0.3"], ["--homophily=0.3"]])
def test_scenario_parameters_reach_the_model(tmp_path, form, default_run):
    frame, record = run_in_process(tmp_path, "--steps", 3, *form)
    default, default_record = default_run
    assert record["params"]["homophily"] == 0.3
    assert default_record["params"]["homophily"] == 0.4
    assert not frame[METRIC_COLUMNS].equals(default[METRIC_COLUMNS])


def test_hyphenated_and_flag_parameters(tmp_path):
    _, record = run_in_process(tmp_path / "out", "--steps", 1, "--minority-pc", "0.2", "--torus")
    assert record["params"]["minority_pc"] == 0.2
    assert record["params"]["torus"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--colour", "red"], "schelling has no parameter 'colour'; its parameters are: width, height"),
        (["--param", "colour=red"], "its parameters are: width, height, density, minority_pc, homophily"),
        (["--homophily", "high"], "homophily takes a float value (default 0.4), got 'high'"),
        (["--param", "homophily"], "--param takes name=value, got 'homophily'"),
        (["--homophily", "0.3", "--param", "homophily=0.2"], "The parameter homophily is given twice"),
        (["--radius"], "The option --radius needs a value"),
        (["stray"], "Unexpected argument 'stray'"),
        (["--density", "1.5"], "density must be in [0, 1), got 1.5"),
    ],
)
def test_bad_parameters_exit_2_with_a_message(tmp_path, args, message):
    result = invoke("run", "schelling", "--steps", 1, "--out", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "out").exists()


def test_unknown_scenario_exits_2():
    result = invoke("run", "nope")
    assert result.exit_code == 2
    assert "Unknown scenario 'nope'; available: cooperation, diffusion, life, schelling" in result.stderr


def test_default_output_folder_and_quiet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "schelling", *SMALL, "--steps", 1, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.output == ""
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("schelling-20")
    assert {p.name for p in folder.iterdir()} == RULE_ONLY_OUTPUTS  # llm_share 0 by default


def test_a_seed_is_drawn_and_recorded_when_none_is_given(tmp_path):
    result = invoke("run", "schelling", "--width", 10, "--height", 10, "--steps", 1, "-q", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run.json").read_text())
    assert isinstance(record["seed"], int)
    assert record["argv"][record["argv"].index("--seed") + 1] == str(record["seed"])


def test_the_demo_command_runs_the_local_model_and_replays_from_its_cache(tmp_path):
    """What ``bash scripts/demo.sh`` runs, smaller: mixed residents asking the embedded model."""
    argv = [MESA_LLM, "run", "schelling", "--llm-share", "0.5", "--steps", "3", "--width", "8"]
    argv += ["--height", "8", "--seed", "2", "--cache", "answers.sqlite"]
    runs = []
    for out in ("first", "second"):
        proc = subprocess.run(
            [*argv, "--out", out], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        record = json.loads((tmp_path / out / "run.json").read_text())
        assert record["backend"] == "local"
        assert record["backend_name"] == "SmolLM2-135M-Instruct.Q4_1"
        assert "llama-cpp-python" in record["versions"]
        calls = pd.read_json(tmp_path / out / "calls.jsonl.gz", lines=True)
        assert set(calls["action"]) <= {"stay", "move"}
        assert all(abs(sum(p.values()) - 1) < 1e-9 for p in calls["probabilities"])
        runs.append((pd.read_csv(tmp_path / out / "model.csv", index_col="step"), calls))
    (first, first_calls), (second, second_calls) = runs
    assert first_calls["backend_calls"].sum() > 0
    assert second_calls["backend_calls"].sum() == 0
    pd.testing.assert_frame_equal(first[METRIC_COLUMNS], second[METRIC_COLUMNS])
    assert first_calls["action"].tolist() == second_calls["action"].tolist()


def test_an_output_folder_that_cannot_be_written_fails_before_the_run(tmp_path):
    (tmp_path / "file").write_text("a regular file")
    result = invoke("run", "schelling", *SMALL, "--steps", 1, "--out", tmp_path / "file" / "run")
    assert result.exit_code == 2
    assert "Cannot write the output folder" in result.stderr
    assert "Choose another --out folder" in result.stderr
    assert "Running schelling" not in result.stderr  # nothing was built or run
    assert (tmp_path / "file").read_text() == "a regular file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_fails_before_the_run(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    result = invoke("run", "schelling", *SMALL, "--steps", 1, "--out", tmp_path / "locked" / "run")
    assert result.exit_code == 2
    assert "Cannot write the output folder" in result.stderr


def test_an_output_folder_holding_a_run_is_not_overwritten(tmp_path):
    _, record = run_in_process(tmp_path / "out", "--steps", 1)
    again = invoke("run", "schelling", *SMALL, "--steps", 2, "--out", tmp_path / "out")
    assert again.exit_code == 2
    assert f"already holds a run (run.json): continue it with --resume {tmp_path / 'out'}" in again.stderr
    assert json.loads((tmp_path / "out" / "run.json").read_text()) == record


def test_an_empty_backend_exits_2_naming_the_backends(tmp_path):
    result = invoke("run", "schelling", *SMALL, "--llm-share", 0.5, "--backend", "", "--out", tmp_path / "x")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "The backend '' names no chat model; name one: 'rule'" in message
    assert "'local' (the embedded model) or 'provider:model'" in message
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "nan"], "temperature must be a finite number, got nan"),
        (["--temperature", "-1"], "temperature must be at least 0, got -1.0"),
        (["--seed", "-1"], "seed must be at least 0, got -1"),
    ],
)
def test_bad_run_settings_exit_2_before_the_run(tmp_path, args, message):
    result = invoke("run", "schelling", *SMALL[:4], "--steps", 1, "--out", tmp_path / "x", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_cache_file_of_another_program_exits_2_with_the_fix(tmp_path):
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(other)) as conn, conn:
        conn.execute("CREATE TABLE answers (question TEXT, votes INTEGER)")
    args = ("--llm-share", 0.5, "--backend", "rule", "--cache", other, "--out", tmp_path / "x")
    result = invoke("run", "schelling", *SMALL, "--steps", 1, *args)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"The cache file '{other}' is not a mesa_llm response cache" in message
    assert "delete it or choose another --cache file" in message
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_the_help_gives_the_exit_codes_and_the_default_cache():
    text = " ".join(invoke("run", "--help").output.split())
    for code in ("Exit codes: 0 done", "2 an error", "3 LLM decisions fell back", "130 interrupted"):
        assert code in text
    assert "Without --cache the answers are kept in <out>/cache.sqlite" in text
    assert "--fail-on-fallback" in text


@pytest.fixture
def closed_port(monkeypatch):
    """An OpenAI backend on a port where nothing listens: every call fails (in about 4 s a step)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    return ["--llm-share", "0.5", "--backend", "openai:gpt-4o-mini", "--width", "4", "--height", "4"]


def test_a_run_whose_every_decision_fell_back_exits_3_after_writing(tmp_path, closed_port):
    result = invoke("run", "schelling", *closed_port, "--steps", 1, "--seed", 1, "-q", "--out", tmp_path)
    assert result.exit_code == 3, result.output
    record = json.loads((tmp_path / "run.json").read_text())
    decisions = record["llm_totals"]["decisions"]
    assert record["complete"]
    assert record["llm_totals"]["fallbacks"] == decisions > 0
    message = " ".join(result.stderr.split())
    assert f"Warning: {decisions} of {decisions} LLM decisions fell back. Last error: " in message
    assert "Connection error" in message
    assert f"Error: All {decisions} LLM decisions fell back: the backend gave no usable answer." in message


def test_a_run_without_fallbacks_exits_0_whatever_the_policy(tmp_path):
    args = ("--llm-share", 0.5, "--backend", "rule", "--fail-on-fallback", "any", "--steps", 2)
    result = invoke("run", "schelling", *SMALL, *args, "-q", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run.json").read_text())["llm_totals"]["fallbacks"] == 0
    assert result.stderr == ""


def test_the_local_models_settings_go_into_the_record_and_its_rerun(tmp_path):
    args = ["--llm-share", "0.2", "--steps", "1", "--backend", "local,n_threads=1", "--temperature", "0.5"]
    _, record = run_in_process(tmp_path / "first", *args)
    assert (record["backend"], record["temperature"]) == ("local,n_threads=1", 0.5)
    assert record["backend_name"] == "SmolLM2-135M-Instruct.Q4_1"
    argv = record["argv"]
    assert argv[argv.index("--backend") + 1] == "local,n_threads=1"
    assert argv[argv.index("--temperature") + 1] == "0.5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "local,threads=1"], "'threads=1' in the backend 'local,threads=1' is not a setting"),
        (["--backend", "local,n_threads=0"], "n_threads='0': Input should be greater than or equal to 1"),
        (["--backend", "local,temperature=1", "--temperature", "0"], "(--temperature on the command line)"),
    ],
)
def test_bad_local_model_settings_exit_2_naming_the_fix(tmp_path, args, message):
    out = tmp_path / "x"
    result = invoke("run", "schelling", *SMALL, "--llm-share", 0.5, "--steps", 1, "--out", out, *args)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "x").exists()


def test_the_note_on_embedded_models_names_the_model_a_backend_string_runs():
    from mesa_llm.cli.runs import _embedded_title

    assert _embedded_title("local").startswith("SmolLM2")
    assert _embedded_title("local:smollm2,n_threads=1").startswith("SmolLM2")
    assert _embedded_title("local:gemma3").startswith("Gemma 3")
    assert _embedded_title("local:/models/other.gguf") is None
    assert _embedded_title("openai:gpt-4o-mini") is None


OWN_OUTPUTS = "tests.lab.outputs_scenario:SCENARIO"
"""Schelling with outputs of its own and a run length of its height."""


def test_the_scenarios_run_length_is_the_default_steps_and_steps_overrides_it(tmp_path):
    _, default = run_in_process(tmp_path / "default", "--llm-share", "0")  # no run length: the default steps
    assert default["steps_requested"] == DEFAULT_STEPS
    args = ["run", OWN_OUTPUTS, "--width", 10, "--height", 12, "--seed", 1, "--llm-share", 0, "-q"]
    assert invoke(*args, "--out", tmp_path / "own").exit_code == 0
    record = json.loads((tmp_path / "own" / "run.json").read_text())
    assert record["steps_requested"] == outputs_scenario.run_length(record["params"]) == 13
    assert record["argv"][record["argv"].index("--steps") + 1] == "13"
    assert record["outputs"] == [outputs_scenario.SUMMARY]
    summary = json.loads((tmp_path / "own" / outputs_scenario.SUMMARY).read_text())
    assert summary["steps"] == record["steps_completed"]
    again = invoke(*record["argv"][1:], "-q", "--out", tmp_path / "again")  # the rerun: the same length
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "run.json").read_text())["steps_requested"] == 13
    assert invoke(*args, "--steps", 2, "--out", tmp_path / "two").exit_code == 0
    assert json.loads((tmp_path / "two" / "run.json").read_text())["steps_requested"] == 2


def test_a_resumed_run_keeps_its_length_and_writes_the_scenarios_own_outputs(tmp_path):
    folder = tmp_path / "run"
    spec = find_scenario(OWN_OUTPUTS)
    params = model_parameters(spec, {"width": "8", "height": "8", "llm_share": "0.5", "homophily": "0.9"})
    config = RunConfig(spec, params, spec.steps_of(params), 1, "rule", cache=folder / RUN_CACHE)

    def interrupted_at_3(model, completed):
        writer.step(model)
        if completed == 3:
            raise KeyboardInterrupt

    with open_cache(config.cache) as cache:
        run = Run.build(config, cache)
        with RunJournal.start(folder, config, run.model, run.backend.name) as writer:
            writer.finish(run.advance(config.steps, interrupted_at_3))
    assert json.loads((folder / outputs_scenario.SUMMARY).read_text())["steps"] == 3  # kept when interrupted
    result = invoke("run", "--resume", folder, "-q")
    assert result.exit_code == 0, result.output
    record = json.loads((folder / "run.json").read_text())
    assert (record["complete"], record["steps_requested"], record["resumed_after"]) == (True, 9, [3])
    assert record["outputs"] == [outputs_scenario.SUMMARY]
    summary = json.loads((folder / outputs_scenario.SUMMARY).read_text())
    assert summary["steps"] == record["steps_completed"] > 3


def test_outputs_that_fail_exit_2_and_keep_the_standard_files(tmp_path):
    out = tmp_path / "out"
    result = invoke("run", "tests.lab.outputs_scenario:FAILING", *SMALL, "--steps", 2, "-q", "--out", out)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "Error: The scenario's own outputs failed (RuntimeError: the summary failed)" in message
    assert "its run.json records the error" in message
    record = json.loads((out / "run.json").read_text())
    assert record["outputs_error"] == "RuntimeError: the summary failed"
    assert (record["complete"], record["steps_completed"]) == (True, 2)
    assert {p.name for p in out.iterdir()} == RULE_ONLY_OUTPUTS  # no half-written summary
