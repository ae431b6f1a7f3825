"""A sweep's results: its tidy frames, read back from its folder or gathered in memory.

- ``steps``: one row per run and step: ``run``, the axes' labels, ``seed``, ``step``,
  then every model reporter of the scenario;
- ``summary``: one row per run: ``run``, the axes' labels, ``seed``, ``status``
  (``"ok"`` or ``"failed"``), ``error``, ``llm_agents`` (0 for a rule-only run), each
  outcome metric's summary, the LLM accounting (``llm_calls``, ``llm_cache_hits``,
  ``llm_fallbacks``, tokens, ``llm_mean_latency_s``, ...) and ``elapsed_s``.

Both are in design order, whatever executed the runs; only the timing columns
(:data:`TIMING_COLUMNS`) differ between two executions of the same sweep.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from mesa_llm.experiments.design import Design, RunTask
from mesa_llm.experiments.folder import SweepFolder, run_record
from mesa_llm.experiments.robustness import RobustnessReport, robustness
from mesa_llm.experiments.worker import FAILED, RunOutcome
from mesa_llm.lab import Outcome, find_scenario

__all__ = ["TIMING_COLUMNS", "SweepResult", "frames", "gathered", "load_sweep"]

TIMING_COLUMNS: Final = ("elapsed_s", "llm_latency_s", "llm_mean_latency_s")
"""Columns that measure time: they differ between two executions of the same sweep."""


def frames(
    runs: Iterable[tuple[Mapping[str, Any], pd.DataFrame | None]], axes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The steps and summary frames of runs given as (record, model frame), in design order."""
    summary_rows, step_frames = [], []
    for record, model_frame in runs:
        head = {"run": record["run"], **{axis: record["conditions"][axis] for axis in axes}}
        head["seed"] = record["seed"]
        summary_rows.append({**head, **record["summary"]})
        if model_frame is not None:
            by_step = model_frame.reset_index()
            step_frames.append(by_step.assign(**head)[[*head, *by_step]])
    summary = pd.DataFrame(summary_rows, columns=_summary_columns(summary_rows, axes))
    steps = pd.concat(step_frames, ignore_index=True) if step_frames else pd.DataFrame(columns=["run", *axes])
    return steps, summary


def _summary_columns(rows: Sequence[Mapping[str, Any]], axes: Sequence[str]) -> list[str]:
    columns = ["run", *axes, "seed"]
    for row in rows:
        columns += [name for name in row if name not in columns]
    return columns


@dataclass(frozen=True)
class SweepResult:
    """What a sweep computed.

    Attributes:
        steps: one row per run and step (see the module's description).
        summary: one row per run.
        outcomes: the scenario's outcome metrics.
        factors: the axes with more than one level.
        folder: the sweep's folder, where it was written; None in memory only.
        interrupted: whether Ctrl-C stopped it before every run finished.
    """

    steps: pd.DataFrame
    summary: pd.DataFrame
    outcomes: tuple[Outcome, ...]
    factors: tuple[str, ...]
    folder: Path | None = None
    interrupted: bool = False

    @property
    def failures(self) -> pd.DataFrame:
        """The summary's rows of the runs that failed, with their errors."""
        return self.summary[self.summary["status"] == FAILED]

    @property
    def complete(self) -> bool:
        """Whether every run of the design completed (none missing, none failed)."""
        return not self.interrupted and self.failures.empty

    def robustness(self, margins: Mapping[str, float] | None = None, **options: Any) -> RobustnessReport:
        """The robustness verdict of each outcome metric (see :mod:`mesa_llm.experiments.robustness`).

        Args:
            margins: equivalence margins δ by metric, replacing the scenario's.
            **options: further options of :func:`~mesa_llm.experiments.robustness.robustness`
                (``alpha``, ``n_boot``, ``rng``).

        Raises:
            ValueError: if the scenario declares no outcome metrics.
        """
        if not self.outcomes:
            raise ValueError(
                "The scenario declares no outcome metrics (ScenarioSpec(outcomes=...)), so there is "
                "nothing to give a verdict on."
            )
        return robustness(
            self.summary, self.outcomes, self.factors, steps=self.steps, margins=margins, **options
        )


def gathered(
    design: Design,
    folder: SweepFolder | None,
    outcomes: Mapping[int, tuple[RunTask, RunOutcome]],
    interrupted: bool,
) -> SweepResult:
    """The result of a sweep just run: read back from its folder, or from the outcomes in memory."""
    axes = [axis.name for axis in design.axis_list]
    if folder is not None:
        steps, summary = frames(folder.records(), axes)
        folder.write_frames(steps, summary)
    else:
        runs = [(run_record(*outcomes[i]), outcomes[i][1].model_frame) for i in sorted(outcomes)]
        steps, summary = frames(runs, axes)
    path = folder.path if folder is not None else None
    return SweepResult(steps, summary, design.spec.outcomes, design.factors, path, interrupted)


def load_sweep(path: str | os.PathLike[str]) -> SweepResult:
    """The results of a sweep from its folder (as written so far).

    Raises:
        SweepFolderError: for a folder that holds no sweep.
        ValueError: if its scenario can no longer be found (for its outcome metrics).
    """
    folder = SweepFolder.load(path)
    design = folder.manifest["design"]
    axes = list(design["axes"])
    steps, summary = frames(folder.records(), axes)
    spec = find_scenario(design["scenario"])
    factors = tuple(name for name, levels in design["axes"].items() if len(levels) > 1)
    complete = len(summary) == folder.manifest["runs"]
    return SweepResult(steps, summary, spec.outcomes, factors, folder.path, not complete)
