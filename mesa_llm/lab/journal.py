"""A run's folder, written as the run goes: a kill or an interrupt loses no completed step.

:class:`RunJournal` writes the folder of a run while it steps:

- ``run.json``, the run's metadata, written when the run starts (``"complete": false``,
  ``"steps_completed": 0``) and rewritten after every step; always replaced whole
  (written to ``run.json.tmp``, then renamed), so it is never truncated;
- ``model.csv``, ``agents.csv`` and ``calls.jsonl``, to which each completed step's
  rows and call records are appended (and flushed); ``run.json`` then records the step
  as completed with the length of each file in bytes (``"bytes"``). That is the marker:
  anything beyond those lengths, or beyond ``steps_completed``, is a step a kill cut short;
- ``metrics.png`` and the final ``run.json`` (``"complete": true`` unless interrupted,
  the final metrics and LLM totals) at the end, each written under a temporary name
  and renamed.

:func:`write_outputs` writes the same folder from a finished :class:`RunResult`. Reading
a folder back, and resuming a run from it, is :mod:`mesa_llm.lab.folders`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import shlex
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mesa import Model

from mesa_llm.lab.outputs import RUN_CACHE, final_metrics, llm_totals, rerun_argv, versions
from mesa_llm.lab.plots import metrics_figure
from mesa_llm.lab.runs import RunConfig, RunResult
from mesa_llm.records import CallLog, CallRecord

__all__ = ["APPENDED", "RUN_FILE", "RunJournal", "write_outputs"]

#: The metadata file of a run folder.
RUN_FILE = "run.json"
#: The files a run appends to after each step, in the order they are written.
APPENDED = ("model.csv", "agents.csv", "calls.jsonl")


class RunJournal:
    """The writer of a run's folder, one step at a time.

    Start it with :meth:`start` once the run is built (a run continued from its folder
    has a :class:`~mesa_llm.lab.folders.ResumedJournal` instead), call :meth:`step` after
    every step (it is a ``Run.advance`` step callback), and end with :meth:`finish`. It
    keeps the appended files open: use it as a context manager, or call :meth:`close`.

    Args:
        folder: the run's folder.
        config: the run.
        record: the ``run.json`` metadata so far.
    """

    def __init__(self, folder: Path, config: RunConfig, record: dict[str, Any]) -> None:
        self.folder = folder
        self.config = config
        self.record = record
        self.steps: int = record["steps_completed"]
        self._sizes: dict[str, int] = dict(record["bytes"])
        self._files = {name: (folder / name).open("ab") for name in APPENDED}
        for name, file in self._files.items():
            file.truncate(self._sizes[name])  # drop what a kill left of an incomplete step
        self._seen = 0  # call records of the model already written (or checked)
        self._totals = CallLog(keep=False)  # the totals of the records written
        self._elapsed_before = record["elapsed_s"]
        self._started = time.perf_counter()

    @classmethod
    def start(cls, folder: Path, config: RunConfig, model: Model, backend_name: str | None) -> RunJournal:
        """Write the folder of a run about to step: ``run.json`` (no step completed) and step 0's rows.

        Args:
            folder: the run's folder, created if missing.
            config: the run.
            model: its model, as built (its data collected once).
            backend_name: the short name of its LLM agents' chat model (None without any).
        """
        folder.mkdir(parents=True, exist_ok=True)
        journal = cls(folder, config, _new_record(folder, config, backend_name))
        model_header, agent_header = journal._headers(model)
        model_row, agent_rows = journal._render(model, 0)
        journal._append(0, model_header + model_row, agent_header + agent_rows, [])
        journal._write_record()
        return journal

    def step(self, model: Model, _completed: int | None = None) -> None:
        """Append the model's next completed step to the files, then record it in ``run.json``.

        A ``Run.advance`` step callback (the count it passes is not needed).
        """
        n = self.steps + 1
        self._append(n, *self._render(model, n), self._new_records(model, n))
        self._write_record()

    def finish(self, result: RunResult) -> dict[str, Any]:
        """Write any completed step not yet written, ``metrics.png`` and the final ``run.json``.

        Returns:
            the final metadata (also in ``run.json``).
        """
        while self.steps < result.steps_completed:  # an interrupt cut the last step's writing short
            self.step(result.model)
        self.close()
        metrics = self.config.scenario.metrics
        self.record.update(
            complete=not result.interrupted,
            interrupted=result.interrupted,
            backend_name=result.backend_name,
            elapsed_s=round(self._elapsed_before + result.elapsed_s, 3),
            final_metrics=final_metrics(result.model_frame, metrics),
            llm_totals=llm_totals(self._totals),
        )
        figure = metrics_figure(result.model_frame, metrics, _title(self.config, self.record))
        with _replacing(self.folder / "metrics.png") as path:
            figure.savefig(path, format="png", dpi=100)
        self._write_record()
        return self.record

    def close(self) -> None:
        """Close the appended files."""
        for file in self._files.values():
            file.close()

    def __enter__(self) -> RunJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, model: Model) -> tuple[str, str]:
        """The header lines of the model's and the agents' rows."""
        model_header = ["step", *model.datacollector.model_vars]
        return _csv([model_header]), _csv([["Step", "AgentID", *model.datacollector.agent_reporters]])

    def _render(self, model: Model, step: int) -> tuple[str, str]:
        """The model's row and its agents' rows after ``step``, as the files hold them."""
        return _csv([[step, *_model_values(model, step)]]), _csv(_collection(model, step))

    def _new_records(self, model: Model, step: int) -> list[CallRecord]:
        """The model's call records up to ``step`` not yet taken (none if it keeps none)."""
        log: CallLog = model.llm.log
        new = list(itertools.takewhile(lambda r: r.step <= step, log.records[self._seen :]))
        self._seen += len(new)
        return new

    def _append(self, step: int, model_rows: str, agent_rows: str, records: Sequence[CallRecord]) -> None:
        """Append ``step``'s rows and call records to the files; it then counts as written.

        ``run.json`` says so once rewritten.
        """
        texts = {
            "model.csv": model_rows,
            "agents.csv": agent_rows,
            "calls.jsonl": "".join(record.to_json() for record in records),
        }
        sizes = dict(self._sizes)
        for name, text in texts.items():
            data = text.encode("utf-8")
            file = self._files[name]
            file.truncate(self._sizes[name])  # a write an interrupt cut short is redone from its start
            file.write(data)
            file.flush()
            sizes[name] += len(data)
        self.steps, self._sizes = step, sizes
        for record in records:
            self._totals.add(record)

    def _write_record(self) -> None:
        """Rewrite ``run.json`` with the steps written so far, atomically."""
        self.record.update(steps_completed=self.steps, bytes=dict(self._sizes))
        if not self.record["complete"]:
            self.record["elapsed_s"] = round(self._elapsed_before + time.perf_counter() - self._started, 3)
        with _replacing(self.folder / RUN_FILE) as path:
            path.write_text(json.dumps(self.record, indent=2) + "\n", encoding="utf-8")


def write_outputs(folder: Path, config: RunConfig, result: RunResult) -> dict[str, Any]:
    """Write a finished run's folder at once and return its metadata (the Python API's way).

    The folder is the one :class:`RunJournal` writes as a run goes: ``model.csv`` (the
    model frame), ``agents.csv`` (the agent frame), ``calls.jsonl`` (one call record per
    line), ``run.json`` (scenario, parameters, seed, steps, backend, cache, whether it
    completed, timing, the command line to rerun it, final metrics, LLM totals, versions;
    no environment values) and ``metrics.png``.
    """
    model = result.model
    by_step = itertools.groupby(result.log.records, key=lambda r: r.step)
    records: dict[int, list[CallRecord]] = {step: list(group) for step, group in by_step}
    collections = _collections(model)
    with RunJournal.start(folder, config, model, result.backend_name) as journal:
        next(collections)  # step 0's, written by start
        for n in range(1, result.steps_completed + 1):
            model_row = _csv([[n, *_model_values(model, n)]])
            journal._append(n, model_row, _csv(next(collections)), records.get(n, []))
        return journal.finish(result)


def _new_record(folder: Path, config: RunConfig, backend_name: str | None) -> dict[str, Any]:
    """The metadata of a run about to step."""
    argv = rerun_argv(config, folder)
    return {
        "scenario": config.scenario.name,
        "params": dict(config.params),
        "seed": config.seed,
        "steps_requested": config.steps,
        "steps_completed": 0,
        "complete": False,
        "interrupted": False,
        "backend": config.backend,
        "backend_name": backend_name,
        "temperature": config.temperature,
        "cache": str(config.cache) if config.cache is not None else None,
        "cache_in_folder": config.cache == folder / RUN_CACHE,
        "elapsed_s": 0.0,
        "argv": argv,
        "command": shlex.join(argv),
        "final_metrics": None,
        "llm_totals": None,
        "versions": versions(),
        "bytes": dict.fromkeys(APPENDED, 0),
    }


def _model_values(model: Model, step: int) -> list[Any]:
    """The model reporters' values after ``step`` (row ``step`` of the collection)."""
    return [values[step] for values in model.datacollector.model_vars.values()]


def _collection(model: Model, step: int) -> Sequence[Sequence[Any]]:
    """The agent rows collected after ``step`` (none without agent reporters).

    Read from the end of Mesa's collections, where a running model's latest one is.
    """
    collected = model.datacollector._agent_records  # Mesa keeps no public per-step view
    if not model.datacollector.agent_reporters:
        return []
    return next(itertools.islice(reversed(collected.values()), len(collected) - 1 - step, None))


def _collections(model: Model) -> Iterator[Sequence[Sequence[Any]]]:
    """The agent rows of every collection, from step 0 (endless empty ones without agent reporters)."""
    if not model.datacollector.agent_reporters:
        return itertools.repeat([])
    return iter(model.datacollector._agent_records.values())


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    """``rows`` as CSV text; missing values (None, NaN) are empty, as pandas writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
    return out.getvalue()


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary path for ``path``'s new content: renamed to ``path`` on success, else removed."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _title(config: RunConfig, record: dict[str, Any]) -> str:
    name = record["backend_name"]
    if name is None:
        backend = "no LLM backend"
    elif name in config.backend:
        backend = f"backend {config.backend}"
    else:
        backend = f"backend {config.backend} ({name})"
    share = config.params.get("llm_share")
    return f"{config.scenario.name}: {backend}, llm_share {share}, seed {config.seed}"
