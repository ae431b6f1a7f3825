"""``mesa-llm sweep`` and ``mesa-llm report``: the console script a user runs."""

import signal
import subprocess
import time

import pandas as pd
from matplotlib.image import imread

from tests.cli.commands import MESA_LLM, invoke
from tests.processes import interruptible

SWEEP = """
scenario = "schelling"
steps = 4
seeds = 3

[fixed]
width = 8
height = 8

[axes]
llm_share = [0.0, 0.5]

[axes.backend]
a = "rule"
b = "rule"
"""


def sweep_file(tmp_path, text=SWEEP):
    path = tmp_path / "design.toml"
    path.write_text(text)
    return path


def test_a_sweep_writes_its_frames_and_report_and_prints_the_verdicts(tmp_path):
    out = tmp_path / "out"
    result = invoke("sweep", sweep_file(tmp_path), "--out", out, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "Robustness" in result.output
    assert "segregation" in result.output
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 12
    assert summary["status"].eq("ok").all()
    assert set(summary["backend"]) == {"a", "b"}
    assert len(pd.read_csv(out / "steps.csv")) == 12 * 5
    report = (out / "report.md").read_text()
    assert "segregation" in report
    for plot in out.glob("*.png"):
        assert imread(plot).ndim == 3
    assert (out / "cache.sqlite").is_file()


def test_report_renders_the_report_again_with_other_margins(tmp_path):
    out = tmp_path / "out"
    assert invoke("sweep", sweep_file(tmp_path), "--out", out, "-q").exit_code == 0
    (out / "report.md").unlink()
    result = invoke("report", out, "--margin", "segregation=0.01")
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file()
    assert "0.01" in (out / "report.md").read_text()
    bad = invoke("report", out, "--margin", "segregation")
    assert bad.exit_code == 2
    assert "METRIC=DELTA" in bad.output
    assert invoke("report", tmp_path).exit_code == 2


def test_a_paired_report_shows_two_backends_that_answer_alike_equivalent_where_unpaired_cannot(tmp_path):
    """Backends a and b are both the rule-following model: every seed gives both the same run."""
    out = tmp_path / "out"
    assert invoke("sweep", sweep_file(tmp_path), "--out", out, "-q").exit_code == 0
    row = "| segregation | backend | "
    unpaired = invoke("report", out, "--margin", "segregation=0.001")
    assert unpaired.exit_code == 0, unpaired.output
    text = (out / "report.md").read_text()
    assert f"{row}inconclusive across language models" in text
    paired = invoke("report", out, "--margin", "segregation=0.001", "--paired")
    assert paired.exit_code == 0, paired.output
    text = (out / "report.md").read_text()
    assert f"{row}stable across language models | 0 | 1.000 | 0 [0, 0] |" in text
    assert "Friedman χ² / Wilcoxon W" in text


def test_bad_input_is_refused_before_any_run_with_exit_code_2(tmp_path):
    bad = sweep_file(tmp_path, SWEEP.replace("llm_share = [0.0, 0.5]", "llm_share = [0.0, 5.0]"))
    result = invoke("sweep", bad, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "llm_share=5.0, backend='a' is refused by schelling" in result.output
    assert not (tmp_path / "out").exists()
    both = invoke("sweep", sweep_file(tmp_path), "--dask", "tcp://127.0.0.1:1", "--dask-local", "2")
    assert both.exit_code == 2
    assert "one of --dask" in both.output


def test_an_unknown_framing_is_refused_with_the_table_that_would_add_it(tmp_path):
    framed = SWEEP.replace('a = "rule"\nb = "rule"', 'a = "rule"') + '\n[axes.framing]\nplain = "plain"\n'
    result = invoke("sweep", sweep_file(tmp_path, framed), "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "Unknown framing 'plain'" in result.output
    assert "in a sweep file a [framings.plain] table with system and user" in " ".join(result.output.split())
    table = """
[framings.plain]
system = "You live in a town."
user = "{same} like you, {other} not. {instructions}"
"""
    added = invoke("sweep", sweep_file(tmp_path, framed + table), "--out", tmp_path / "out")
    assert added.exit_code == 0, added.output


def test_failed_runs_give_exit_code_3_and_name_the_error(tmp_path):
    failing = sweep_file(tmp_path, SWEEP.replace('b = "rule"', 'b = "local:missing.gguf"'))
    result = invoke("sweep", failing, "--out", tmp_path / "out")
    assert result.exit_code == 3, result.output
    assert "3 runs failed" in result.output
    assert "is not a file" in result.output
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["status"].value_counts().to_dict() == {"ok": 9, "failed": 3}


def test_ctrl_c_keeps_the_finished_runs_and_exits_130(tmp_path):
    slow = SWEEP.replace("seeds = 3", "seeds = 40").replace("steps = 4", "steps = 30")
    out = tmp_path / "out"
    argv = [MESA_LLM, "sweep", str(sweep_file(tmp_path, slow)), "--out", str(out)]
    process = subprocess.Popen(interruptible(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(out.glob("runs/*/run.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Interrupted" in err
    assert "run the same command again to resume" in err
    kept = pd.read_csv(out / "summary.csv")
    assert 2 <= len(kept) < 160
    assert kept["status"].eq("ok").all()


def test_ctrl_c_stops_worker_processes_at_once_without_waiting_for_their_runs(tmp_path):
    slow = SWEEP.replace("seeds = 3", "seeds = 6").replace("steps = 4", "steps = 400")
    slow = slow.replace("llm_share = [0.0, 0.5]", "llm_share = [0.5]")
    slow = slow.replace("width = 8\nheight = 8", "width = 30\nheight = 30\nhomophily = 0.9")  # runs of ~10 s
    out = tmp_path / "out"
    argv = [MESA_LLM, "sweep", str(sweep_file(tmp_path, slow)), "--out", str(out), "--workers", "2", "-q"]
    process = subprocess.Popen(interruptible(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(out.glob("runs/*/run.json"))) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the next runs are under way in both workers
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert time.monotonic() - interrupted < 5, "it waited for the running runs"
    assert "Interrupted" in err
    assert len(list(out.glob("runs/*/run.json"))) < 6
