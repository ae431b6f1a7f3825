"""The code of docs/ that needs no network runs as written, and prints what the docs show.

docs/your-own-model.md has its own test (tests/test_tutorial.py). Here: the lab's example
in docs/architecture.md, the sweep of docs/experiments.md and the calibration example of
docs/calibration.md, the last with the rule-following model in place of the embedded one
(the same calls; the embedded model's 2-3 minutes are benchmarks/calibration.py's).
"""

import contextlib
import io
import json
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def blocks(name, info="python"):
    return re.findall(rf"^```{info}\n(.*?)^```", (DOCS / name).read_text(encoding="utf-8"), re.M | re.S)


def run(code, name, **namespace):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(code, str(DOCS / name), "exec"), {"__name__": "docs", **namespace})
    return out.getvalue()


def test_the_lab_example_writes_a_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = [b for b in blocks("architecture.md") if "write_outputs" in b]
    run(code, "architecture.md")
    folder = tmp_path / "runs" / "demo"
    assert json.loads((folder / "run.json").read_text())["complete"] is True
    assert len((folder / "model.csv").read_text().splitlines()) > 2


def test_the_sweep_example_prints_the_verdicts_the_docs_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = blocks("experiments.md")[0]
    printed = run(code, "experiments.md", __name__="__main__")
    shown = blocks("experiments.md", "text")[0]
    assert printed.split() == shown.split()
    assert {"report.md", "summary.csv", "steps.csv", "sweep.json"} <= {
        p.name for p in (tmp_path / "runs" / "example").iterdir()
    }
    assert (tmp_path / "runs" / "cache.sqlite").exists()


def test_the_calibration_example_runs_on_the_rule_following_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (code,) = blocks("calibration.md")[:1]
    assert code.count('backend="local"') == 2
    printed = run(code.replace('backend="local"', 'backend="rule"'), "calibration.md")
    lines = printed.splitlines()
    assert lines[0].startswith("threshold t* = 0.")  # the rule's homophily, 0.4
    assert lines[1].startswith("threshold: the implied rule reproduces the LLM population")
    assert lines[2].startswith("tolerance -> t*: not shown monotone")  # the rule ignores the word
    assert {"probe.csv", "fit.json", "probe.png"} <= {p.name for p in (tmp_path / "runs" / "probe").iterdir()}
