"""A sweep's results: its tidy frames, of the runs it just made and those its folder held before.

- ``steps``: one row per run and step: ``run``, the axes' labels, ``seed``, ``step``,
  then every model reporter of the scenario;
- ``summary``: one row per run: ``run``, the axes' labels, ``seed``, ``status``
  (``"ok"`` or ``"failed"``), ``error``, ``llm_agents`` (0 for a rule-only run), each
  outcome metric's summary, the LLM accounting (``llm_calls``, ``llm_cache_hits``,
  ``llm_fallbacks``, tokens, ``llm_mean_latency_s``, ...) and ``elapsed_s``.

Both are in design order, whatever executed the runs and whether they were read back
from a folder; only the timing columns (:data:`TIMING_COLUMNS`) differ between two
executions of the same sweep.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from mesa_llm.experiments.design import Design
from mesa_llm.experiments.folder import FinishedRun, SweepFolder
from mesa_llm.experiments.worker import FAILED
from mesa_llm.lab import Outcome, find_scenario

if TYPE_CHECKING:
    from mesa_llm.experiments.robustness import RobustnessReport

__all__ = ["TIMING_COLUMNS", "SweepResult", "frames", "gathered", "load_sweep"]

TIMING_COLUMNS: Final = ("elapsed_s", "llm_latency_s", "llm_mean_latency_s")
"""Columns that measure time: they differ between two executions of the same sweep."""


def frames(
    runs: Iterable[tuple[Mapping[str, Any], pd.DataFrame | None]], axes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The steps and summary frames of runs given as (record, model frame), in design order."""
    summary_rows, heads, model_frames = [], [], []
    for record, model_frame in runs:
        head = {"run": record["run"], **{axis: record["conditions"][axis] for axis in axes}}
        head["seed"] = record["seed"]
        summary_rows.append({**head, **record["summary"]})
        if model_frame is not None:
            heads.append(head)
            model_frames.append(model_frame)
    summary = pd.DataFrame(summary_rows, columns=_summary_columns(summary_rows, axes))
    if not model_frames:
        return pd.DataFrame(columns=["run", *axes]), summary
    # each run's head repeated for its steps, beside all the model frames joined once
    by_run = pd.DataFrame(heads)
    repeated = by_run.loc[by_run.index.repeat([len(frame) for frame in model_frames])]
    by_step = pd.concat(model_frames).reset_index()
    return pd.concat([repeated.reset_index(drop=True), by_step], axis=1), summary


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

    def __repr__(self) -> str:
        failed = len(self.failures)
        state = ", interrupted" if self.interrupted else ""
        where = f" in {self.folder}" if self.folder is not None else ""
        return (
            f"<SweepResult of {len(self.summary)} runs ({failed} failed{state}), "
            f"{len(self.steps)} step rows, factors: {', '.join(self.factors) or 'none'}{where}>"
        )

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
                (``alpha``, ``n_boot``, ``rng``, ``paired``).

        Raises:
            ValueError: if the scenario declares no outcome metrics.
        """
        # the statistics (scipy, statsmodels) are imported when asked for, not where runs execute
        from mesa_llm.experiments.robustness import robustness

        if not self.outcomes:
            raise ValueError(
                "The scenario declares no outcome metrics (ScenarioSpec(outcomes=...)), so there is "
                "nothing to give a verdict on."
            )
        return robustness(
            self.summary, self.outcomes, self.factors, steps=self.steps, margins=margins, **options
        )


def gathered(
    design: Design, folder: SweepFolder | None, runs: Mapping[int, FinishedRun], interrupted: bool
) -> SweepResult:
    """The result of a sweep just run: its runs, with those its folder holds from earlier calls.

    Args:
        design: the sweep.
        folder: its folder, or None.
        runs: the runs of this call by index, as the folder reads them back (see
            :meth:`~mesa_llm.experiments.folder.SweepFolder.write`).
        interrupted: whether Ctrl-C stopped it.
    """
    axes = [axis.name for axis in design.axis_list]
    every = dict(runs)
    if folder is not None:
        done = {record["run"] for record, _ in runs.values()}
        every.update((record["index"], (record, frame)) for record, frame in folder.records(skip=done))
    steps, summary = frames((every[index] for index in sorted(every)), axes)
    if folder is not None:
        folder.write_frames(steps, summary)
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
