"""A sweep's folder: each completed run written as it finishes, so that a sweep resumes where it stopped.

The folder holds:

- ``sweep.json``, the manifest: the design (:meth:`~mesa_llm.experiments.Sweep.describe`),
  its digest, the number of runs and the versions of the packages it ran with;
- ``runs/<run>/``, one folder per run: ``model.csv`` (its model frame, with an integer
  ``step`` column, floats written to read back exactly), ``prompts.jsonl.gz`` and
  ``calls.jsonl.gz`` (its call records, each distinct prompt once, as a run folder of
  ``mesa-llm run`` keeps them) and ``run.json`` (its conditions, seed and summary row),
  written last and atomically: a run counts as done once its ``run.json`` exists, so a
  kill mid-write leaves a run that is simply run again;
- ``steps.csv`` and ``summary.csv``, the sweep's tidy frames, written when it ends (or
  is interrupted), and the robustness report (``report.md`` and its plots).

A folder is resumed only by the same design: another design pointed at it is refused,
naming what differs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from mesa_llm.experiments.design import Design, RunTask
from mesa_llm.experiments.worker import FAILED, OK, RunOutcome, outcome_summary
from mesa_llm.lab import CALLS_FILE, PROMPTS_FILE, replacing, versions

__all__ = [
    "MANIFEST",
    "RUNS",
    "STEPS_FILE",
    "SUMMARY_FILE",
    "FinishedRun",
    "SweepFolder",
    "SweepFolderError",
    "run_record",
]

MANIFEST: Final = "sweep.json"
"""The manifest of a sweep's folder."""
RUNS: Final = "runs"
"""The subfolder of a sweep's runs, one folder each."""
STEPS_FILE: Final = "steps.csv"
"""The sweep's steps frame: one row per run and step."""
SUMMARY_FILE: Final = "summary.csv"
"""The sweep's summary frame: one row per run."""
_RUN_FILE: Final = "run.json"
_MODEL_FILE: Final = "model.csv"
_STEP: Final = "step"
# The dtypes of model frame columns written directly, and read back exactly (see _model_csv).
_EXACT = frozenset(map(np.dtype, ("int64", "float64", "bool")))
# pandas parses floats exactly from 3.1 on (and deprecates asking); before, only when asked
_EXACT_FLOATS = (
    {} if tuple(map(int, pd.__version__.split(".")[:2])) >= (3, 1) else {"float_precision": "round_trip"}
)

type FinishedRun = tuple[dict[str, Any], pd.DataFrame | None]
"""A finished run as a sweep's frames are made of it: its record (``run.json``) and its
model frame (None for a failed run)."""


class SweepFolderError(ValueError):
    """A folder that holds another sweep, or no sweep; the message says how to proceed."""


@dataclass(frozen=True, slots=True)
class SweepFolder:
    """The folder of one sweep.

    Attributes:
        path: the folder.
        manifest: its ``sweep.json``.
    """

    path: Path
    manifest: Mapping[str, Any]

    @classmethod
    def open(cls, path: str | os.PathLike[str], sweep: Design) -> SweepFolder:
        """The folder of ``sweep`` at ``path``: created, or an earlier start of the same sweep.

        Raises:
            SweepFolderError: if the folder holds another sweep (naming what differs), or
                is a folder of something else.
        """
        path = Path(path)
        design, digest = sweep.describe(), sweep.digest()
        manifest_path = path / MANIFEST
        if manifest_path.is_file():
            manifest = _read_json(manifest_path)
            if manifest.get("digest") != digest:
                differs = [key for key in design if manifest.get("design", {}).get(key) != design[key]]
                raise SweepFolderError(
                    f"The folder {str(path)!r} holds another sweep (its {', '.join(differs) or 'design'} "
                    "differ from this one's): choose another output folder, or delete this one to start "
                    "over. Rerunning the same sweep into it resumes it."
                )
            return cls(path, manifest)
        if path.exists() and any(path.iterdir()):
            raise SweepFolderError(
                f"The folder {str(path)!r} is not empty and holds no sweep ({MANIFEST} is missing): "
                "choose an empty or new output folder."
            )
        manifest = {"design": design, "digest": digest, "runs": len(sweep), "versions": versions()}
        path.mkdir(parents=True, exist_ok=True)
        with replacing(manifest_path) as temporary:
            temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return cls(path, manifest)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SweepFolder:
        """A sweep's folder, to read (``mesa-llm report``).

        Raises:
            SweepFolderError: for a folder without a sweep's manifest.
        """
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise SweepFolderError(
                f"{str(path)!r} is not a sweep's folder ({MANIFEST} is missing): give the --out folder "
                "of a `mesa-llm sweep`."
            )
        return cls(path, _read_json(path / MANIFEST))

    def done(self) -> dict[str, str]:
        """The status of each run written so far (``"ok"`` or ``"failed"``), by run."""
        found = {}
        for run_file in sorted((self.path / RUNS).glob(f"*/{_RUN_FILE}")):
            found[run_file.parent.name] = _read_json(run_file)["summary"]["status"]
        return found

    def pending(self, tasks: Iterable[RunTask]) -> list[RunTask]:
        """The tasks still to run: those never completed, and those that failed (run again)."""
        done = self.done()
        return [task for task in tasks if done.get(task.run) != OK]

    def write(self, task: RunTask, outcome: RunOutcome) -> FinishedRun:
        """Write a finished run's files, its ``run.json`` last (which marks it done).

        Returns:
            the run's record and model frame, equal to what :meth:`records` reads back, so
            that a sweep need not read back the runs it wrote.
        """
        folder = self.path / RUNS / task.run
        if folder.exists():  # a run cut short, or one that failed before
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        frame = None
        if outcome.model_frame is not None:
            text, frame = _model_csv(outcome.model_frame)
            (folder / _MODEL_FILE).write_text(text, encoding="utf-8")
        for name, data in ((PROMPTS_FILE, outcome.prompts), (CALLS_FILE, outcome.calls)):
            if data:
                (folder / name).write_bytes(data)
        record = json.dumps(run_record(task, outcome), indent=2) + "\n"
        with replacing(folder / _RUN_FILE) as temporary:
            temporary.write_text(record, encoding="utf-8")
        return json.loads(record), frame

    def records(self, skip: Collection[str] = ()) -> Iterator[FinishedRun]:
        """Each written run's ``run.json`` and model frame (None for a failed run), in design order.

        Args:
            skip: runs not to read (those a sweep holds already).
        """
        files = (path for path in (self.path / RUNS).glob(f"*/{_RUN_FILE}") if path.parent.name not in skip)
        for row in sorted(map(_read_json, files), key=lambda r: r["index"]):
            frame = None
            model_file = self.path / RUNS / row["run"] / _MODEL_FILE
            if row["summary"]["status"] != FAILED and model_file.is_file():
                frame = _read_model(model_file)
            yield row, frame

    def write_frames(self, steps: pd.DataFrame, summary: pd.DataFrame) -> None:
        """Write the sweep's tidy frames (``steps.csv``, ``summary.csv``)."""
        for name, frame in ((STEPS_FILE, steps), (SUMMARY_FILE, summary)):
            with replacing(self.path / name) as temporary:
                frame.to_csv(temporary, index=False)


def run_record(task: RunTask, outcome: RunOutcome) -> dict[str, Any]:
    """A run's record: its identity, conditions, seed and summary row (its ``run.json``)."""
    return {
        "run": task.run,
        "index": task.index,
        "conditions": dict(task.conditions),
        "seed": task.config.seed,
        "backend_name": outcome.backend_name,
        "summary": outcome_summary(outcome),
    }


def _model_csv(frame: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """A model frame's ``model.csv``, and the frame as :func:`_read_model` reads it back.

    A frame of int, float and bool columns (the model reporters of most scenarios) is
    written directly, floats as their shortest repr (which reads back exactly): it is its
    own read-back. Any other frame is written by pandas and read back from the text.
    """
    columns = frame.columns.tolist()
    plain = (
        len(frame) > 0
        and frame.index.name == _STEP
        and frame.index.dtype == np.int64
        and all(dtype in _EXACT for dtype in frame.dtypes)
        and all(isinstance(name, str) and name and name != _STEP for name in columns)
        and len(set(columns)) == len(columns)
    )
    if not plain:
        text = frame.to_csv(lineterminator="\n")
        return text, _read_model(io.StringIO(text))
    values = frame.to_numpy(dtype=object)  # Python ints, floats (repr: shortest exact) and bools
    values[frame.isna().to_numpy()] = ""  # NaN, as pandas writes it
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_STEP, *columns])
    writer.writerows([step, *row] for step, row in zip(frame.index.tolist(), values.tolist(), strict=True))
    return buffer.getvalue(), frame


def _read_model(source: Path | io.StringIO) -> pd.DataFrame:
    """A run's model frame from its ``model.csv`` (floats parsed exactly, as Python does)."""
    return pd.read_csv(source, index_col=_STEP, **_EXACT_FLOATS)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SweepFolderError(
            f"{str(path)!r} cannot be read ({exc}); delete it to run that part again."
        ) from exc
