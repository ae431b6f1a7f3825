"""The ``mesa-llm`` command as the tests run it: the installed console script, and in process."""

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from mesa_llm.cli import app

MESA_LLM = shutil.which("mesa-llm", path=str(Path(sys.executable).parent))
SMALL = ["--width", "10", "--height", "10", "--seed", "1"]
OUTPUTS = {
    "model.csv",
    "agents.csv",
    "calls.jsonl.gz",
    "prompts.jsonl.gz",
    "run.json",
    "metrics.png",
    "cache.sqlite",
    "agreement.csv",
    "agreement.png",
}
"""What a run with LLM agents writes (their rule-shadow agreement included)."""
RULE_ONLY_OUTPUTS = OUTPUTS - {"agreement.csv", "agreement.png"}
"""What a run without LLM agents writes."""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def run_in_process(out, *args):
    """``mesa-llm run schelling`` on a small grid; the frame and metadata it wrote."""
    result = invoke("run", "schelling", *SMALL, "--out", out, *args)
    assert result.exit_code == 0, result.output
    return pd.read_csv(out / "model.csv", index_col="step"), json.loads((out / "run.json").read_text())
