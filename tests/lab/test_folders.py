"""Reading a run folder back, and resuming a run cut short: the folder ends as the uninterrupted run's."""

import gzip
import json
import shutil

import pandas as pd
import pytest

from mesa_llm import FunctionChatModel
from mesa_llm.lab import RUN_CACHE, open_cache
from mesa_llm.lab.folders import ResumedJournal, ResumeError, RunFolderError, load_run
from mesa_llm.lab.journal import APPENDED, CALLS_FILE, PROMPTS_FILE, RunJournal
from mesa_llm.lab.runs import Run, RunConfig
from mesa_llm.lab.specs import model_parameters
from mesa_llm_models.cooperation import SCENARIO as COOPERATION
from mesa_llm_models.schelling import SCENARIO as SCHELLING

SCHELLING_SETTINGS = {"width": 8, "height": 8, "llm_share": 0.5, "homophily": 0.9}
COOPERATION_SETTINGS = {"width": 6, "height": 6, "llm_share": 0.5}


def configuration(folder, spec=SCHELLING, settings=None, steps=6, backend="rule"):
    params = model_parameters(spec, settings or SCHELLING_SETTINGS)
    return RunConfig(spec, params, steps=steps, seed=3, backend=backend, cache=folder / RUN_CACHE)


def run_to(folder, config, killed_after=None, backends=None):
    """Run ``config`` with a journal in ``folder``; with ``killed_after``, stop there as a kill would.

    A copy of the folder taken after that step is what a SIGKILL leaves: the journal flushes
    each step's files before it rewrites run.json. A partial line (in the compressed files, a
    partial gzip member) is added beyond the marker, as a kill in the middle of the next
    step's writing leaves one.
    """
    with open_cache(config.cache) as cache:
        run = Run.build(config, cache, backends)
        with RunJournal.start(folder, config, run.model, run.backend.name) as journal:

            def on_step(model, completed):
                journal.step(model)
                if completed == killed_after:
                    shutil.copytree(folder, folder.with_name("killed"))
                    raise SystemExit

            try:
                return journal.finish(run.advance(config.steps, on_step))
            except SystemExit:
                killed = folder.with_name("killed")
                for name in APPENDED:
                    with (killed / name).open("ab") as file:
                        cut = (
                            b'{"step": 7, "agent_id": 1, "cut sh'
                            if name.endswith(".gz")
                            else b'7,0.5,"cut sh'
                        )
                        file.write(gzip.compress(cut)[:20] if name.endswith(".gz") else cut)
                return None


def resume(folder, backends=None):
    stored = load_run(folder)
    config = stored.config()
    with open_cache(config.cache) as cache:
        run = Run.build(config, cache, backends)
        with ResumedJournal(stored, config) as journal:
            return journal.finish(run.advance(config.steps, journal.step))


def actions(folder):
    lines = gzip.decompress((folder / CALLS_FILE).read_bytes()).decode().splitlines()
    return [(c["step"], c["agent_id"], c["action"]) for c in map(json.loads, lines)]


def without_latency(folder):
    return pd.read_csv(folder / "model.csv", index_col="step").drop(columns="llm_mean_latency_s")


def test_load_run_reads_a_complete_folder(tmp_path):
    config = configuration(tmp_path / "run")
    final = run_to(tmp_path / "run", config)
    stored = load_run(tmp_path / "run")
    assert (stored.complete, stored.steps_completed, stored.record) == (True, 6, final)
    assert list(stored.model_frame.index) == list(range(7))
    assert stored.agent_frame.index.names == ["step", "AgentID"]
    assert (
        stored.agent_frame.index.get_level_values("step").dtype == stored.model_frame.index.dtype == "int64"
    )
    assert len(stored.log.records) == final["llm_totals"]["decisions"] > 0
    assert stored.log.records[0].messages[0][0] == "system"
    assert stored.config() == config


@pytest.mark.parametrize("killed_after", [1, 4])
def test_a_killed_run_is_read_up_to_its_last_completed_step(tmp_path, killed_after):
    run_to(tmp_path / "run", configuration(tmp_path / "run"), killed_after=killed_after)
    whole = tmp_path / "whole"
    run_to(whole, configuration(whole))
    stored = load_run(tmp_path / "killed")
    assert (stored.complete, stored.steps_completed) == (False, killed_after)
    assert list(stored.model_frame.index) == list(range(killed_after + 1))
    expected = without_latency(whole).loc[:killed_after]
    pd.testing.assert_frame_equal(stored.model_frame.drop(columns="llm_mean_latency_s"), expected)
    assert stored.agent_frame.index.get_level_values("step").max() == killed_after
    assert [(r.step, r.agent_id, r.action) for r in stored.log.records] == [
        a for a in actions(whole) if a[0] <= killed_after
    ]


@pytest.mark.parametrize(
    ("spec", "settings"),
    [(SCHELLING, SCHELLING_SETTINGS), (COOPERATION, COOPERATION_SETTINGS)],
    ids=["schelling", "cooperation"],
)
def test_a_resumed_run_ends_as_the_uninterrupted_run(tmp_path, spec, settings):
    whole, cut = tmp_path / "whole", tmp_path / "run"
    uninterrupted = run_to(whole, configuration(whole, spec, settings))
    run_to(cut, configuration(cut, spec, settings), killed_after=2)
    killed = tmp_path / "killed"
    final = resume(killed)
    assert (final["complete"], final["steps_completed"], final["resumed_after"]) == (True, 6, [2])
    pd.testing.assert_frame_equal(without_latency(killed), without_latency(whole))
    assert (killed / "agents.csv").read_bytes() == (whole / "agents.csv").read_bytes()
    assert actions(killed) == actions(whole)
    same = {k: v for k, v in uninterrupted["llm_totals"].items() if "latency" not in k}
    assert {k: final["llm_totals"][k] for k in same} == same
    assert final["final_metrics"] == uninterrupted["final_metrics"]
    assert final["argv"] == uninterrupted["argv"]
    assert final["bytes"] == {name: (killed / name).stat().st_size for name in APPENDED}
    assert (killed / "metrics.png").exists()


def test_a_run_killed_before_its_first_step_resumes_from_the_start(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run_to(whole, configuration(whole))
    config = configuration(cut)
    with open_cache(config.cache) as cache:
        run = Run.build(config, cache)
        RunJournal.start(cut, config, run.model, run.backend.name).close()  # killed here
    assert (load_run(cut).steps_completed, load_run(cut).complete) == (0, False)
    assert resume(cut)["resumed_after"] == [0]
    pd.testing.assert_frame_equal(without_latency(cut), without_latency(whole))
    assert (cut / "agents.csv").read_bytes() == (whole / "agents.csv").read_bytes()
    assert actions(cut) == actions(whole)


def test_a_replay_that_differs_from_the_folder_stops_with_the_fix(tmp_path):
    """Without the answers in the cache, a backend that now answers otherwise cannot resume the run."""
    config = configuration(tmp_path / "run", backend="fickle")
    run_to(tmp_path / "run", config, killed_after=3, backends={"fickle": _answering("stay")})
    (tmp_path / "killed" / RUN_CACHE).unlink()
    before = {name: (tmp_path / "killed" / name).read_bytes() for name in ("run.json", "model.csv")}
    with pytest.raises(ResumeError, match="replaying its step 1 gave another result") as info:
        resume(tmp_path / "killed", backends={"fickle": _answering("move")})
    assert "does not hold the run's answers. Rerun it from the start: mesa-llm run schelling" in str(
        info.value
    )
    assert (tmp_path / "killed" / "run.json").read_bytes() == before["run.json"]
    assert (tmp_path / "killed" / "model.csv").read_bytes().startswith(before["model.csv"][:100])


def test_a_folder_of_other_columns_is_not_resumed(tmp_path):
    """A model that now reports other columns (another version, say) cannot continue the folder's files."""
    run_to(tmp_path / "run", configuration(tmp_path / "run"), killed_after=2)
    model_csv = tmp_path / "killed" / "model.csv"
    model_csv.write_bytes(model_csv.read_bytes().replace(b"step,happy,", b"step,HAPPY,", 1))  # same length
    with pytest.raises(ResumeError, match="its model now reports other columns than the folder holds"):
        resume(tmp_path / "killed")


def test_an_interrupt_while_replaying_leaves_the_folder_as_it_was(tmp_path):
    run_to(tmp_path / "run", configuration(tmp_path / "run"), killed_after=4)
    killed = tmp_path / "killed"
    record = (killed / "run.json").read_bytes()
    stored = load_run(killed)
    config = stored.config()
    with open_cache(config.cache) as cache:
        run = Run.build(config, cache)
        with ResumedJournal(stored, config) as journal:

            def interrupted_at_2(model, completed):
                journal.step(model)
                if completed == 2:
                    raise KeyboardInterrupt

            result = run.advance(config.steps, interrupted_at_2)
            assert journal.finish(result) == stored.record
    assert (killed / "run.json").read_bytes() == record
    assert load_run(killed).steps_completed == 4
    assert not (killed / "metrics.png").exists()


def test_load_run_refuses_what_is_not_a_run_folder(tmp_path):
    with pytest.raises(RunFolderError, match=r"holds no run: it has no run\.json"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(RunFolderError, match=r"run\.json' cannot be read"):
        load_run(tmp_path)


def test_load_run_refuses_files_shorter_than_run_json_records(tmp_path):
    run_to(tmp_path / "run", configuration(tmp_path / "run", steps=2))
    calls = tmp_path / "run" / CALLS_FILE
    calls.write_bytes(calls.read_bytes()[:-10])
    with pytest.raises(RunFolderError, match=r"fewer than the \d+ its run\.json records: the folder was"):
        load_run(tmp_path / "run")


def _answering(action):
    return FunctionChatModel(fn=lambda _messages: action, model_name=f"always-{action}")


def test_load_run_gives_back_the_records_with_their_prompts(tmp_path):
    config = configuration(tmp_path / "run", COOPERATION, COOPERATION_SETTINGS, steps=4)
    with open_cache(config.cache) as cache:
        run = Run.build(config, cache)
        with RunJournal.start(tmp_path / "run", config, run.model, run.backend.name) as journal:
            result = run.advance(config.steps, journal.step)
            journal.finish(result)
    stored = load_run(tmp_path / "run")
    assert stored.log.records == result.log.records  # every field, the messages included
    assert stored.log.totals == result.log.totals
    by_prompt = {}
    for call in stored.log.records:
        assert by_prompt.setdefault(call.messages, call.messages) is call.messages  # one tuple per prompt


def test_a_calls_file_naming_prompts_the_folder_lacks_is_refused(tmp_path):
    run_to(tmp_path / "run", configuration(tmp_path / "run", steps=2))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / PROMPTS_FILE).write_bytes(b"")
    record["bytes"][PROMPTS_FILE] = 0
    (tmp_path / "run" / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunFolderError, match=r"names the prompt 0, which is not among the 0 prompts given"):
        load_run(tmp_path / "run")


def test_a_folder_of_an_earlier_version_is_refused_with_the_command_to_rerun_it(tmp_path):
    run_to(tmp_path / "run", configuration(tmp_path / "run", steps=1))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    record["bytes"] = {"model.csv": 1, "agents.csv": 1, "calls.jsonl": 1}
    (tmp_path / "run" / "run.json").write_text(json.dumps(record))
    with pytest.raises(
        RunFolderError,
        match=r"another version of mesa_llm \(its files are model.csv, agents.csv, calls.jsonl;",
    ) as info:
        load_run(tmp_path / "run")
    assert str(info.value).endswith(f"Rerun it: {record['command']}")


def test_a_run_without_llm_agents_resumes_with_the_backend_it_was_given(tmp_path):
    settings = SCHELLING_SETTINGS | {"llm_share": 0.0}
    whole, cut = tmp_path / "whole", tmp_path / "run"
    run_to(whole, configuration(whole, settings=settings, backend="local"))
    run_to(cut, configuration(cut, settings=settings, backend="local"), killed_after=2)
    stored = load_run(tmp_path / "killed")
    assert (stored.record["backend"], stored.config().backend) == (None, "local")
    final = resume(tmp_path / "killed")
    assert (final["complete"], final["backend"], final["backend_name"]) == (True, None, None)
    pd.testing.assert_frame_equal(without_latency(tmp_path / "killed"), without_latency(whole))
