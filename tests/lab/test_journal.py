"""A run's folder written as the run goes: the marker in run.json, atomic files, and write_outputs."""

import json

import pandas as pd
import pytest
from matplotlib.image import imread

from mesa_llm.lab import journal
from mesa_llm.lab.journal import APPENDED, RunJournal, write_outputs
from mesa_llm.lab.runs import Run
from tests.lab.small import config, execute

FILES = {*APPENDED, "run.json", "metrics.png"}


def record(folder):
    return json.loads((folder / "run.json").read_text())


def test_write_outputs(tmp_path):
    cfg = config(steps=3, llm_share=0.5, temperature=0.2, cache=tmp_path / "c.db")
    result = execute(cfg)
    written = write_outputs(tmp_path / "out", cfg, result)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == FILES
    assert record(out) == written
    assert written["params"] == dict(cfg.params)
    assert (written["steps_requested"], written["steps_completed"]) == (3, 3)
    assert (written["complete"], written["interrupted"]) == (True, False)
    assert (written["backend"], written["backend_name"]) == ("rule", "schelling-rule-0.4")
    assert (written["temperature"], written["cache"], written["cache_in_folder"]) == (
        0.2,
        str(tmp_path / "c.db"),
        False,
    )
    assert written["llm_totals"]["decisions"] == result.log.totals.decisions > 0
    assert written["bytes"] == {name: (out / name).stat().st_size for name in APPENDED}
    assert {"python", "platform", "mesa", "mesa-llm-lab", "langchain-core", "numpy"} <= set(
        written["versions"]
    )
    model = pd.read_csv(out / "model.csv", index_col="step")
    pd.testing.assert_frame_equal(model, result.model_frame, check_dtype=False)
    agents = pd.read_csv(out / "agents.csv", index_col=["Step", "AgentID"])
    pd.testing.assert_frame_equal(agents, result.agent_frame, check_dtype=False)
    calls = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines()]
    assert [c["action"] for c in calls] == [r.action for r in result.log.records]
    height, width, channels = imread(out / "metrics.png").shape
    assert (height, width) == (400, 1350)
    assert channels in (3, 4)


def test_the_journal_records_every_step_as_it_completes(tmp_path):
    cfg = config(steps=4, llm_share=0.5, homophily=0.9)
    run = Run.build(cfg)
    folder = tmp_path / "run"
    seen = []

    def look(model, completed):
        on_disk = record(folder)
        model_rows = (folder / "model.csv").read_text().splitlines()
        calls = (folder / "calls.jsonl").read_text().splitlines()
        seen.append(
            (completed, on_disk["steps_completed"], on_disk["complete"], len(model_rows) - 1, len(calls))
        )
        assert on_disk["bytes"] == {name: (folder / name).stat().st_size for name in APPENDED}
        assert not (folder / "metrics.png").exists()

    with RunJournal.start(folder, cfg, run.model, run.backend.name) as writer:
        started = record(folder)
        assert (started["steps_completed"], started["complete"], started["final_metrics"]) == (0, False, None)
        assert started["argv"][:3] == ["mesa-llm", "run", "schelling"]
        result = run.advance(cfg.steps, lambda m, n: (writer.step(m), look(m, n)))
        final = writer.finish(result)
    decided = [len([r for r in result.log.records if r.step <= n]) for n in range(1, 5)]
    assert seen == [(n, n, False, n + 1, decided[n - 1]) for n in range(1, 5)]
    assert (final["complete"], final["steps_completed"]) == (True, 4)
    assert final["final_metrics"]["pct_happy"]["all"] == result.model_frame["pct_happy"].iloc[-1]
    assert final["llm_totals"]["decisions"] == result.log.totals.decisions
    assert {p.name for p in folder.iterdir()} == FILES  # no temporary file left


def test_written_as_it_goes_equals_written_at_once(tmp_path):
    cfg = config(steps=3, llm_share=0.5)
    run = Run.build(cfg)
    with RunJournal.start(tmp_path / "live", cfg, run.model, run.backend.name) as writer:
        result = run.advance(cfg.steps, writer.step)
        live = writer.finish(result)
    at_once = write_outputs(tmp_path / "at-once", cfg, result)
    for name in APPENDED:
        assert (tmp_path / "live" / name).read_bytes() == (tmp_path / "at-once" / name).read_bytes(), name
    assert {k: v for k, v in live.items() if k != "elapsed_s"} == {
        k: v for k, v in at_once.items() if k != "elapsed_s"
    }


def test_an_interrupt_before_a_step_is_written_is_caught_up_by_finish(tmp_path):
    """Ctrl-C between a step's end and its writing: advance counts the step, finish writes it."""
    cfg = config(steps=6, llm_share=0.5, homophily=0.9)
    run = Run.build(cfg)

    def interrupted_at_3(model, completed):
        if completed == 3:
            raise KeyboardInterrupt
        writer.step(model)

    with RunJournal.start(tmp_path / "run", cfg, run.model, run.backend.name) as writer:
        result = run.advance(cfg.steps, interrupted_at_3)
        assert (result.steps_completed, writer.steps) == (3, 2)
        final = writer.finish(result)
    assert (final["steps_completed"], final["complete"], final["interrupted"]) == (3, False, True)
    model = pd.read_csv(tmp_path / "run" / "model.csv", index_col="step")
    assert list(model.index) == [0, 1, 2, 3]
    calls = (tmp_path / "run" / "calls.jsonl").read_text().splitlines()
    assert [json.loads(c)["step"] for c in calls] == [r.step for r in result.log.records]
    assert final["llm_totals"]["decisions"] == len(calls)


def test_a_failed_replacement_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old")

    def write_half_then_fail():
        with journal._replacing(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted while writing")

    with pytest.raises(RuntimeError):
        write_half_then_fail()
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
