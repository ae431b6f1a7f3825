"""Helpers shared by the benchmarks: the environment, timing, tables and result files."""

from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import langchain_core
import mesa
import pandas as pd

import mesa_llm

# Where result files go: benchmarks/results, or another folder (compare_revisions.py's runs).
RESULTS = Path(os.environ.get("MESA_LLM_BENCH_RESULTS", Path(__file__).parent / "results"))


def environment() -> dict[str, Any]:
    """Versions, machine and commit, recorded with every result.

    The commit is the one of the ``mesa_llm`` measured (a worktree on ``PYTHONPATH`` for a
    "before" run), not of this script's checkout.
    """
    root = Path(mesa_llm.__file__).parent
    git = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, check=False
    )
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "langchain_core": langchain_core.__version__,
        "mesa_llm": mesa_llm.__version__,
        "commit": git.stdout.strip() or None,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """CPU seconds (``process_time``, all threads) and wall seconds (``perf_counter``) of ``fn()``.

    A full garbage collection runs first (untimed), so that ``fn`` pays for the full
    collections its own garbage triggers and not for the garbage of earlier measurements.
    """
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print ``rows`` as an aligned text table of ``columns``."""
    frame = pd.DataFrame(list(rows), columns=list(columns))
    print(frame.to_string(index=False, na_rep="", float_format="{:.4g}".format))


def write_results(
    name: str, parameters: dict[str, Any], rows: Sequence[dict[str, Any]], **extra: Any
) -> Path:
    """Write ``benchmarks/results/NAME.json`` and return its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "environment": environment(),
        "parameters": parameters,
        "rows": rows,
        **extra,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")
    return path
