"""A run's summaries: final metrics, LLM totals, versions and the command line that repeats it.

They are what the command line prints and what ``run.json`` records; the folder itself is
written by :mod:`mesa_llm.lab.journal`.
"""

from __future__ import annotations

import dataclasses
import math
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from mesa_llm.lab.runs import RunConfig
from mesa_llm.populations import ALL, POPULATIONS, column
from mesa_llm.records import CallLog

__all__ = ["RUN_CACHE", "final_metrics", "llm_totals", "parameter_text", "rerun_argv", "versions"]

#: The response cache the command line keeps in a run's folder when given no ``--cache``.
RUN_CACHE = "cache.sqlite"

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


def rerun_argv(config: RunConfig, folder: Path | None = None) -> list[str]:
    """The ``mesa-llm run`` command line that repeats the run (into a new output folder).

    Every parameter is given as ``--param name=value``, defaults included, so the command
    repeats the run even if a default changes. The cache in the run's own ``folder``
    (:data:`RUN_CACHE`, the command line's default) is left out: the repeated run keeps
    its own in its folder. A scenario of the user's own file is named as the user named
    it (:attr:`~mesa_llm.lab.specs.ScenarioSpec.reference`, a path relative to where the
    run was started unless the user gave an absolute one): the command repeats the run
    from there.
    """
    argv = ["mesa-llm", "run", config.scenario.reference, "--steps", str(config.steps)]
    argv += ["--seed", str(config.seed), "--backend", config.backend]
    if config.temperature is not None:
        argv += ["--temperature", str(config.temperature)]
    if config.cache is not None and (folder is None or config.cache != folder / RUN_CACHE):
        argv += ["--cache", str(config.cache)]
    for name, value in config.params.items():
        argv += ["--param", f"{name}={parameter_text(value)}"]
    return argv


def parameter_text(value: Any) -> str:
    """A parameter's value as the command line takes it (``--param name=TEXT``).

    A sequence's items, or a mapping's ``name=value`` pairs, are joined by commas
    (``1.0,0.0,1.6,0.0``); anything else is its ``str``.
    """
    if isinstance(value, Mapping):
        return ",".join(f"{name}={item}" for name, item in value.items())
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _number(value: Any) -> float | None:
    """A frame value as a JSON-safe float (None for NaN)."""
    number = float(value)
    return None if math.isnan(number) else number
