"""A run's folder written as the run goes: the marker in run.json, atomic files, and write_outputs."""

import dataclasses
import gzip
import json

import pandas as pd
import pytest
from matplotlib.image import imread

from mesa_llm.lab import journal
from mesa_llm.lab.folders import load_run
from mesa_llm.lab.journal import AGREEMENT_FILE, APPENDED, CALLS_FILE, PROMPTS_FILE, RunJournal, write_outputs
from mesa_llm.lab.runs import Run
from tests.lab import outputs_scenario
from tests.lab.small import config, execute

FILES = {*APPENDED, "run.json", "metrics.png", AGREEMENT_FILE, "agreement.png"}


def record(folder):
    return json.loads((folder / "run.json").read_text())


def lines(path):
    """The JSON lines of a compressed file."""
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]


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
    agents = pd.read_csv(out / "agents.csv", index_col=["step", "AgentID"])
    pd.testing.assert_frame_equal(agents, result.agent_frame)  # one step column, of one type
    calls, prompts = lines(out / CALLS_FILE), lines(out / PROMPTS_FILE)
    assert [c["action"] for c in calls] == [r.action for r in result.log.records]
    assert "messages" not in calls[0]
    assert [prompts[c["prompt_id"]]["messages"] for c in calls] == [
        [{"role": role, "content": content} for role, content in r.messages] for r in result.log.records
    ]
    height, width, channels = imread(out / "metrics.png").shape
    assert (height, width) == (400, 1350)
    assert channels in (3, 4)
    agreement = pd.read_csv(out / AGREEMENT_FILE)  # the rule-following backend always agrees
    assert agreement["decisions"].sum() == len(result.log.records)
    assert set(agreement["share"]) == {1.0}
    assert {"same", "other", "empty"} <= set(agreement.columns)
    assert imread(out / "agreement.png").ndim == 3


def test_the_journal_records_every_step_as_it_completes(tmp_path):
    cfg = config(steps=4, llm_share=0.5, homophily=0.9)
    run = Run.build(cfg)
    folder = tmp_path / "run"
    seen = []

    def look(model, completed):
        on_disk = record(folder)
        model_rows = (folder / "model.csv").read_text().splitlines()
        calls = lines(folder / CALLS_FILE)
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
    calls = lines(tmp_path / "run" / CALLS_FILE)
    assert [c["step"] for c in calls] == [r.step for r in result.log.records]
    assert final["llm_totals"]["decisions"] == len(calls)


def test_a_failed_replacement_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("old")

    def write_half_then_fail():
        with journal.replacing(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted while writing")

    with pytest.raises(RuntimeError):
        write_half_then_fail()
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_each_distinct_prompt_is_written_once(tmp_path):
    """Schelling's residents ask about a few dozen neighbourhoods, step after step."""
    cfg = config(steps=4, llm_share=0.5, homophily=0.9)
    result = execute(cfg)
    write_outputs(tmp_path / "run", cfg, result)
    prompts = lines(tmp_path / "run" / PROMPTS_FILE)
    distinct = {r.messages for r in result.log.records}
    assert [p["id"] for p in prompts] == list(range(len(distinct)))
    assert len(distinct) < len(result.log.records) / 2  # prompts are repeated, and kept once
    assert {tuple((m["role"], m["content"]) for m in p["messages"]) for p in prompts} == distinct
    assert load_run(tmp_path / "run").log.records == result.log.records


class _InterruptedWrite:
    """A journal's file whose next write is cut short by Ctrl-C: half the bytes, then KeyboardInterrupt."""

    def __init__(self, file):
        self.file = file
        self.interrupt = True

    def write(self, data):
        if self.interrupt:
            self.interrupt = False
            self.file.write(data[: len(data) // 2])
            raise KeyboardInterrupt
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


@pytest.mark.parametrize("cut", [PROMPTS_FILE, CALLS_FILE])
def test_a_step_interrupted_while_written_is_written_whole_by_finish(tmp_path, cut):
    """Ctrl-C in the middle of a step's writing: nothing of it counts until finish writes it whole again."""
    cfg = config(steps=5, llm_share=0.5, homophily=0.9)
    run = Run.build(cfg)

    def interrupted_while_writing_3(model, completed):
        if completed == 3:
            writer._files[cut] = _InterruptedWrite(writer._files[cut])
        writer.step(model)

    with RunJournal.start(tmp_path / "run", cfg, run.model, run.backend.name) as writer:
        result = run.advance(cfg.steps, interrupted_while_writing_3)
        assert (result.steps_completed, writer.steps, record(tmp_path / "run")["steps_completed"]) == (
            3,
            2,
            2,
        )
        final = writer.finish(result)
    assert (final["steps_completed"], final["interrupted"]) == (3, True)
    stored = load_run(tmp_path / "run")
    assert stored.log.records == result.log.records
    assert {r.step for r in stored.log.records} == {1, 2, 3}
    assert final["bytes"] == {name: (tmp_path / "run" / name).stat().st_size for name in APPENDED}
    whole = tmp_path / "whole"
    write_outputs(whole, cfg, result)
    for name in APPENDED:
        assert (tmp_path / "run" / name).read_bytes() == (whole / name).read_bytes(), name


def test_a_run_without_llm_agents_records_no_backend_and_no_llm_results(tmp_path):
    cfg = config(steps=3, llm_share=0, backend="local")
    written = write_outputs(tmp_path / "run", cfg, execute(cfg))
    assert (written["backend"], written["backend_name"]) == (None, None)
    assert written["argv"][written["argv"].index("--backend") + 1] == "local"  # what it was given
    assert all(set(values) == {"all", "rule"} for values in written["final_metrics"].values())
    assert (tmp_path / "run" / CALLS_FILE).read_bytes() == b""
    assert not (tmp_path / "run" / AGREEMENT_FILE).exists()  # nothing to compare
    assert load_run(tmp_path / "run").config().backend == "local"  # a resumed run is given it again
    mixed_config = config(steps=3, llm_share=0.5)
    mixed = write_outputs(tmp_path / "mixed", mixed_config, execute(mixed_config))
    assert mixed["backend"] == "rule"
    assert set(mixed["final_metrics"]["moves"]) == {"all", "rule", "llm"}


def with_outputs(spec, **settings):
    """A small Schelling run of ``spec``, a Schelling scenario with hooks of its own."""
    return dataclasses.replace(config(**settings), scenario=spec)


def test_a_scenarios_own_outputs_are_written_after_the_standard_files_and_listed(tmp_path):
    cfg = with_outputs(outputs_scenario.SCENARIO, steps=3, llm_share=0.5)
    result = execute(cfg)
    written = write_outputs(tmp_path / "out", cfg, result)
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == FILES | {outputs_scenario.SUMMARY}  # nothing temporary left
    assert written["outputs"] == [outputs_scenario.SUMMARY] == record(out)["outputs"]
    assert "outputs_error" not in written
    summary = json.loads((out / outputs_scenario.SUMMARY).read_text())
    assert summary == {"steps": result.steps_completed, "agents": len(result.model.agents)}


def test_an_interrupted_run_keeps_the_scenarios_own_outputs(tmp_path):
    cfg = with_outputs(outputs_scenario.SCENARIO, steps=6, llm_share=0.5, homophily=0.9)
    run = Run.build(cfg)

    def interrupted_at_2(model, completed):
        writer.step(model)
        if completed == 2:
            raise KeyboardInterrupt

    with RunJournal.start(tmp_path / "run", cfg, run.model, run.backend.name) as writer:
        result = run.advance(cfg.steps, interrupted_at_2)
        final = writer.finish(result)
    assert (final["interrupted"], final["steps_completed"], final["outputs"]) == (
        True,
        2,
        [outputs_scenario.SUMMARY],
    )
    assert json.loads((tmp_path / "run" / outputs_scenario.SUMMARY).read_text())["steps"] == 2


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (outputs_scenario.failing, "RuntimeError: the summary failed"),
        (outputs_scenario.unwritten, "the outputs named 'missing.txt' but wrote no such file"),
        (outputs_scenario.standard, "the outputs named 'model.csv', a standard file of the run's folder"),
    ],
)
def test_outputs_that_fail_keep_the_standard_files_and_record_the_error(tmp_path, caplog, hook, message):
    cfg = with_outputs(dataclasses.replace(outputs_scenario.SCENARIO, outputs=hook), steps=3, llm_share=0.5)
    result = execute(cfg)
    out = tmp_path / "out"
    with pytest.raises(journal.OutputsError, match="the run's standard files are in") as raised:
        write_outputs(out, cfg, result)
    assert message in str(raised.value)
    assert {p.name for p in out.iterdir()} == FILES  # no half-written outputs, nothing temporary
    stored = record(out)
    assert message in stored["outputs_error"]
    assert "outputs" not in stored
    assert (stored["complete"], stored["steps_completed"]) == (True, result.steps_completed)
    pd.testing.assert_frame_equal(load_run(out).model_frame, result.model_frame, check_dtype=False)
    assert message in caplog.text
