"""A run's outputs: its frames, call records, metadata and plot in a folder, and their summaries.

:func:`write_outputs` writes ``model.csv``, ``agents.csv``, ``calls.jsonl``, ``run.json``
and ``metrics.png``; :func:`final_metrics` and :func:`llm_totals` are the summaries the
command line prints and ``run.json`` records.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import shlex
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mesa_llm.lab.plots import metrics_figure
from mesa_llm.lab.runs import RunConfig, RunResult
from mesa_llm.populations import ALL, POPULATIONS, column
from mesa_llm.records import CallLog

__all__ = ["final_metrics", "llm_totals", "rerun_argv", "versions", "write_outputs"]

# Distributions whose versions a run records, where installed.
_PACKAGES = (
    "mesa",
    "mesa-llm-lab",
    "langchain-core",
    "langchain",
    "numpy",
    "pandas",
    "networkx",
    "matplotlib",
    "llama-cpp-python",
)


def final_metrics(frame: pd.DataFrame, metrics: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """The last value of each metric for ``all``, ``rule`` and ``llm`` agents, where reported.

    Missing values (NaN, e.g. for a population with no agents) are None.
    """
    last = frame.iloc[-1]
    return {
        metric: {
            group: _number(last[column(metric, group)])
            for group in (ALL, *POPULATIONS)
            if column(metric, group) in frame
        }
        for metric in metrics
    }


def llm_totals(log: CallLog) -> dict[str, float]:
    """The totals of a call log (decisions, calls, cache hits, tokens, failures, latency)."""
    return dataclasses.asdict(log.totals) | {"mean_latency_s": log.mean_latency_s}


def versions() -> dict[str, str]:
    """Python, the platform and the versions of the installed packages a run depends on."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def rerun_argv(config: RunConfig) -> list[str]:
    """The ``mesa-llm run`` command line that repeats the run (into a new output folder).

    Every parameter is given as ``--param name=value``, defaults included, so the command
    repeats the run even if a default changes.
    """
    argv = ["mesa-llm", "run", config.scenario.name, "--steps", str(config.steps)]
    argv += ["--seed", str(config.seed), "--backend", config.backend]
    if config.temperature is not None:
        argv += ["--temperature", str(config.temperature)]
    if config.cache is not None:
        argv += ["--cache", str(config.cache)]
    for name, value in config.params.items():
        argv += ["--param", f"{name}={value}"]
    return argv


def write_outputs(folder: Path, config: RunConfig, result: RunResult) -> dict[str, Any]:
    """Write a run's outputs to ``folder`` (created if missing) and return its metadata.

    The files: ``model.csv`` (model frame), ``agents.csv`` (agent frame), ``calls.jsonl``
    (call records), ``run.json`` (the returned metadata: scenario, parameters, seed,
    steps, backend, cache, interruption, timing, the command line to rerun it, final
    metrics, LLM totals, versions; no environment values) and ``metrics.png``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    result.model_frame.to_csv(folder / "model.csv")
    result.agent_frame.to_csv(folder / "agents.csv")
    result.log.write(folder / "calls.jsonl")
    argv = rerun_argv(config)
    record = {
        "scenario": config.scenario.name,
        "params": dict(config.params),
        "seed": config.seed,
        "steps_requested": config.steps,
        "steps_completed": result.steps_completed,
        "interrupted": result.interrupted,
        "backend": config.backend,
        "backend_name": result.backend_name,
        "temperature": config.temperature,
        "cache": str(config.cache) if config.cache is not None else None,
        "elapsed_s": round(result.elapsed_s, 3),
        "argv": argv,
        "command": shlex.join(argv),
        "final_metrics": final_metrics(result.model_frame, config.scenario.metrics),
        "llm_totals": llm_totals(result.log),
        "versions": versions(),
    }
    (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    figure = metrics_figure(result.model_frame, config.scenario.metrics, _title(config, record))
    figure.savefig(folder / "metrics.png", dpi=100)
    return record


def _title(config: RunConfig, record: Mapping[str, Any]) -> str:
    name = record["backend_name"]
    if name is None:
        backend = "no LLM backend"
    elif name in config.backend:
        backend = f"backend {config.backend}"
    else:
        backend = f"backend {config.backend} ({name})"
    share = config.params.get("llm_share")
    return f"{config.scenario.name}: {backend}, llm_share {share}, seed {config.seed}"


def _number(value: Any) -> float | None:
    """A frame value as a JSON-safe float (None for NaN)."""
    number = float(value)
    return None if math.isnan(number) else number
