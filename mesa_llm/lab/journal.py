"""A run's folder, written as the run goes: a kill or an interrupt loses no completed step.

:class:`RunJournal` writes the folder of a run while it steps:

- ``run.json``, the run's metadata, written when the run starts (``"complete": false``,
  ``"steps_completed": 0``) and rewritten after every step; always replaced whole
  (written to ``run.json.tmp``, then renamed), so it is never truncated;
- ``model.csv`` and ``agents.csv`` (both with an integer ``step`` column), and
  ``prompts.jsonl.gz`` and ``calls.jsonl.gz``, to which each completed step's rows, new
  prompts and call records are appended (and flushed); ``run.json`` then records the step
  as completed with the length of each file in bytes (``"bytes"``). That is the marker:
  anything beyond those lengths, or beyond ``steps_completed``, is a step a kill cut short;
- ``metrics.png`` and the final ``run.json`` (``"complete": true`` unless interrupted,
  the final metrics and LLM totals) at the end, each written under a temporary name
  and renamed;
- then the scenario's own outputs, where it has them (``ScenarioSpec.outputs``: the
  memories of its agents, say), of a finished or an interrupted run. The scenario writes
  them into a temporary folder, ``.outputs.tmp``, from which each file it names is moved
  into the run's folder, and ``run.json`` is rewritten listing them (``"outputs"``). One
  that fails leaves the standard files as they are: ``run.json`` records its error
  (``"outputs_error"``), and :meth:`RunJournal.finish` raises :class:`OutputsError`.

The call records are compact: each distinct prompt is kept once, in ``prompts.jsonl.gz``
(``{"id": 0, "messages": [...]}``, numbered in order of first appearance), and each record
of ``calls.jsonl.gz`` names its prompt (``"prompt_id"``) instead of holding it. Both are
gzip-compressed JSON lines, one gzip member per step, so that a file cut at a step's end
is whole; ``zcat`` and ``pandas.read_json(path, lines=True)`` read them, and
:func:`~mesa_llm.lab.folders.load_run` gives back the full records. (A thirty-step
cooperation run with half its 2,500 players asking a model wrote 48.7 MB of
``calls.jsonl`` before; these take 1.5 MB.)

:func:`write_outputs` writes the same folder from a finished :class:`RunResult`. Reading
a folder back, and resuming a run from it, is :mod:`mesa_llm.lab.folders`.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import logging
import math
import os
import shlex
import shutil
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from mesa import Model

from mesa_llm.lab.outputs import RUN_CACHE, final_metrics, llm_totals, rerun_argv, versions
from mesa_llm.lab.plots import agreement_figure, metrics_figure, populations_of
from mesa_llm.lab.runs import AGENT_INDEX, RunConfig, RunResult, agent_rows
from mesa_llm.populations import POPULATIONS, column
from mesa_llm.records import CallLog, CallRecord, PromptBook

__all__ = [
    "AGREEMENT_FILE",
    "APPENDED",
    "CALLS_FILE",
    "OUTPUTS_FOLDER",
    "PROMPTS_FILE",
    "RUN_FILE",
    "OutputsError",
    "RunJournal",
    "replacing",
    "write_outputs",
]

#: The metadata file of a run folder.
RUN_FILE = "run.json"
#: Rule-shadow agreement by observation (``runtime.agreement.frame()``), written at the end
#: of a run whose LLM agents had a rule to compare with; ``agreement.png`` plots it.
AGREEMENT_FILE = "agreement.csv"
#: The distinct prompts of a run's call records (compressed JSON lines).
PROMPTS_FILE = "prompts.jsonl.gz"
#: A run's call records, each naming its prompt in :data:`PROMPTS_FILE` (compressed JSON lines).
CALLS_FILE = "calls.jsonl.gz"
#: The files a run appends to after each step, in the order they are written.
APPENDED = ("model.csv", "agents.csv", PROMPTS_FILE, CALLS_FILE)
#: The temporary folder a scenario writes its own outputs into, before they are moved into the run's.
OUTPUTS_FOLDER = ".outputs.tmp"
# The standard files of a run's folder, which a scenario's own outputs may not replace.
_STANDARD = frozenset({*APPENDED, RUN_FILE, "metrics.png", AGREEMENT_FILE, "agreement.png", RUN_CACHE})

logger = logging.getLogger(__name__)


class OutputsError(RuntimeError):
    """A scenario's own outputs failed; the run's standard files are written, and ``run.json`` says so."""


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
        self._prompts = PromptBook()  # the prompts of the records written (and of a step being written)
        self._prompts_written = 0
        self._elapsed_before = record["elapsed_s"]
        self._started = time.perf_counter()

    @classmethod
    def start(cls, folder: Path, config: RunConfig, model: Model, backend_name: str | None) -> RunJournal:
        """Write the folder of a run about to step: ``run.json`` (no step completed) and step 0's rows.

        Args:
            folder: the run's folder, created if missing.
            config: the run.
            model: its model, as built (its data collected once).
            backend_name: the short name of its LLM agents' chat model (None without any:
                ``run.json`` then records no backend).
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
        """Write any step not yet written, ``metrics.png``, the final ``run.json``, then the scenario's own.

        Returns:
            the final metadata (also in ``run.json``).

        Raises:
            OutputsError: if the scenario's own outputs failed (after the standard files
                and ``run.json``, which records the error, are written).
        """
        while self.steps < result.steps_completed:  # an interrupt cut the last step's writing short
            self.step(result.model)
        self.close()
        metrics = self.config.scenario.metrics
        populations = populations_of(result.model)
        self.record.update(
            complete=not result.interrupted,
            interrupted=result.interrupted,
            backend=_backend(self.config, result.backend_name),
            backend_name=result.backend_name,
            elapsed_s=round(self._elapsed_before + result.elapsed_s, 3),
            final_metrics=final_metrics(_of_populations(result.model_frame, metrics, populations), metrics),
            llm_totals=llm_totals(self._totals),
        )
        title = _title(self.config, self.record)
        figure = metrics_figure(result.model_frame, metrics, title, populations)
        with replacing(self.folder / "metrics.png") as path:
            figure.savefig(path, format="png", dpi=100)
        self._write_agreement(result.model, title)
        self._write_record()
        self._write_own_outputs(result.model)
        return self.record

    def _write_own_outputs(self, model: Model) -> None:
        """The scenario's own outputs, moved into the folder from :data:`OUTPUTS_FOLDER`, listed in run.json.

        Raises:
            OutputsError: for outputs that failed or named a file they did not write, or a
                standard file; ``run.json`` then records the error instead of the files.
        """
        write = self.config.scenario.outputs
        if write is None:
            return
        self.record.pop("outputs", None)  # a resumed run's record lists what its last attempt wrote
        self.record.pop("outputs_error", None)
        staging = self.folder / OUTPUTS_FOLDER
        shutil.rmtree(staging, ignore_errors=True)  # what a kill left of an earlier attempt
        try:
            staging.mkdir()
            names = [str(name) for name in write(model, staging)]
            for name in names:
                _check_output(staging, name)
            for name in names:
                os.replace(staging / name, self.folder / name)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.error("The outputs of %s failed: %s", self.config.scenario.name, error, exc_info=exc)
            self.record["outputs_error"] = error
            self._write_record()
            raise OutputsError(
                f"The scenario's own outputs failed ({error}); the run's standard files are in "
                f"{str(self.folder)!r}, and its run.json records the error."
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.record["outputs"] = names
        self._write_record()

    def _write_agreement(self, model: Model, title: str) -> None:
        """``agreement.csv`` and ``agreement.png``: rule-shadow agreement by observation, if any."""
        if not len(model.llm.agreement):
            return
        frame = model.llm.agreement.frame()
        with replacing(self.folder / AGREEMENT_FILE) as path:
            frame.to_csv(path, index=False)
        with replacing(self.folder / "agreement.png") as path:
            agreement_figure(frame, f"LLM decisions against the rule. {title}").savefig(
                path, format="png", dpi=100
            )

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
        return _csv([model_header]), _csv([[*AGENT_INDEX, *model.datacollector.agent_reporters]])

    def _render(self, model: Model, step: int) -> tuple[str, str]:
        """The model's row and its agents' rows after ``step``, as the files hold them."""
        values = [values[step] for values in model.datacollector.model_vars.values()]
        return _csv([[step, *values]]), _csv(agent_rows(model, (step,)))

    def _new_records(self, model: Model, step: int) -> list[CallRecord]:
        """The model's call records up to ``step`` not yet written (none if it keeps none)."""
        log: CallLog = model.llm.log
        return list(itertools.takewhile(lambda r: r.step <= step, log.records[self._seen :]))

    def _append(self, step: int, model_rows: str, agent_rows: str, records: Sequence[CallRecord]) -> None:
        """Append ``step``'s rows, new prompts and call records to the files; it then counts as written.

        ``run.json`` says so once rewritten. Nothing counts as written before every file
        is: a write an interrupt cut short is redone whole by the next call for the step.
        """
        book, written = self._prompts, self._prompts_written
        ids = [book.number(record.messages) for record in records]  # the same ids when redone
        texts = {
            "model.csv": model_rows,
            "agents.csv": agent_rows,
            PROMPTS_FILE: "".join(map(book.line, range(written, len(book)))),
            CALLS_FILE: "".join(record.to_json(i) for record, i in zip(records, ids, strict=True)),
        }
        sizes = dict(self._sizes)
        for name, text in texts.items():
            data = text.encode("utf-8")
            if name.endswith(".gz") and data:  # one gzip member per step; no bytes for a step without any
                data = gzip.compress(data, compresslevel=6, mtime=0)
            file = self._files[name]
            file.truncate(self._sizes[name])  # a write an interrupt cut short is redone from its start
            file.write(data)
            file.flush()
            sizes[name] += len(data)
        self.steps, self._sizes, self._prompts_written = step, sizes, len(book)
        self._seen += len(records)
        for record in records:
            self._totals.add(record)

    def _write_record(self) -> None:
        """Rewrite ``run.json`` with the steps written so far, atomically."""
        self.record.update(steps_completed=self.steps, bytes=dict(self._sizes))
        if not self.record["complete"]:
            self.record["elapsed_s"] = round(self._elapsed_before + time.perf_counter() - self._started, 3)
        with replacing(self.folder / RUN_FILE) as path:
            path.write_text(json.dumps(self.record, indent=2) + "\n", encoding="utf-8")


def write_outputs(folder: Path, config: RunConfig, result: RunResult) -> dict[str, Any]:
    """Write a finished run's folder at once and return its metadata (the Python API's way).

    The folder is the one :class:`RunJournal` writes as a run goes: ``model.csv`` (the
    model frame), ``agents.csv`` (the agent frame), ``prompts.jsonl.gz`` and
    ``calls.jsonl.gz`` (each distinct prompt, and one call record per line naming its
    prompt), ``run.json`` (scenario, parameters, seed, steps, backend (none without LLM
    agents), cache, whether it completed, timing, the command line to rerun it, final
    metrics, LLM totals, versions; no environment values) and ``metrics.png``, then the
    scenario's own outputs, if it has any (listed in ``run.json`` as ``"outputs"``).

    Raises:
        OutputsError: if the scenario's own outputs failed (the other files are written).
    """
    model = result.model
    by_step = itertools.groupby(result.log.records, key=lambda r: r.step)
    records: dict[int, list[CallRecord]] = {step: list(group) for step, group in by_step}
    with RunJournal.start(folder, config, model, result.backend_name) as journal:
        for n in range(1, result.steps_completed + 1):
            journal._append(n, *journal._render(model, n), records.get(n, []))
        return journal.finish(result)


def _new_record(folder: Path, config: RunConfig, backend_name: str | None) -> dict[str, Any]:
    """The metadata of a run about to step."""
    argv = rerun_argv(config, folder)
    return {
        "scenario": config.scenario.reference,
        "params": dict(config.params),
        "seed": config.seed,
        "steps_requested": config.steps,
        "steps_completed": 0,
        "complete": False,
        "interrupted": False,
        "backend": _backend(config, backend_name),
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


def _check_output(staging: Path, name: str) -> None:
    """Check that a scenario's output ``name`` is a file it wrote into ``staging``, not a standard one.

    Raises:
        ValueError: for a name that is no file of ``staging`` or names a standard file.
    """
    if Path(name).name != name or name in {"", ".", ".."}:
        raise ValueError(f"the outputs named {name!r}, not the name of a file in the run's folder")
    if name in _STANDARD:
        raise ValueError(f"the outputs named {name!r}, a standard file of the run's folder")
    if not (staging / name).is_file():
        raise ValueError(f"the outputs named {name!r} but wrote no such file")


def _backend(config: RunConfig, backend_name: str | None) -> str | None:
    """The backend a run records: the one it was given, or None when no LLM agent asked one.

    (The command line in ``run.json`` still says what was given.)
    """
    return config.backend if backend_name is not None else None


def _of_populations(
    frame: pd.DataFrame, metrics: tuple[str, ...], populations: Collection[str]
) -> pd.DataFrame:
    """The frame without the metrics' columns of the populations the model has no agents of."""
    absent = [
        column(metric, group) for metric in metrics for group in POPULATIONS if group not in populations
    ]
    return frame.drop(columns=absent, errors="ignore")


def _csv(rows: Iterable[Sequence[Any]]) -> str:
    """``rows`` as CSV text; missing values (None, NaN) are empty, as pandas writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
    return out.getvalue()


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path for ``path``'s new content: renamed to ``path`` on success, else removed.

    So a reader never sees a file half written, even after a kill.
    """
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
