"""Reading a run's folder back, and resuming a killed or interrupted run from it.

:func:`load_run` reads what :class:`~mesa_llm.lab.journal.RunJournal` wrote, trusting only
the first ``steps_completed`` steps (the lengths ``run.json`` records) of a run that a
kill cut short. :class:`ResumedJournal` continues such a run in its folder::

    stored = load_run("runs/demo")
    config = stored.config()
    with open_cache(config.cache) as cache:
        run = Run.build(config, cache)
        with ResumedJournal(stored, config) as journal:
            journal.finish(run.advance(config.steps, journal.step))

The model is rebuilt with the run's seed and steps through the completed steps again,
answered by the response cache; each replayed step must give the stored rows and actions
(else :class:`ResumeError`: the cache did not hold the run's answers). The stored rows and
records stay as they are, and the remaining steps are appended, so the folder ends as the
uninterrupted run's would.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mesa import Model

from mesa_llm.lab.journal import APPENDED, CALLS_FILE, PROMPTS_FILE, RUN_FILE, RunJournal
from mesa_llm.lab.outputs import RUN_CACHE, parameter_text
from mesa_llm.lab.runs import AGENT_INDEX, RunConfig, RunResult
from mesa_llm.lab.specs import find_scenario, model_parameters
from mesa_llm.records import CallLog, CallRecord, PromptBook

__all__ = ["ResumeError", "ResumedJournal", "RunFolderError", "StoredRun", "load_run"]

# Totals a replay from the cache reproduces; the other LLM counts (calls, cache hits,
# tokens, latency, failures) say what the answers cost, which differs.
_REPLAYED_TOTALS = ("decisions", "shared")


class RunFolderError(ValueError):
    """A folder that holds no readable run; the message says what is wrong."""


class ResumeError(ValueError):
    """A run that cannot be resumed from its folder; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class StoredRun:
    """A run read back from its folder: its metadata and its completed steps.

    Attributes:
        folder: the folder.
        record: the metadata of ``run.json``.
        model_frame: the model reporters of the completed steps, indexed by ``step``.
        agent_frame: the agent reporters of the completed steps, indexed by ``step`` and ``AgentID``.
        log: the call records of the completed steps (with their prompts), and their totals.
    """

    folder: Path
    record: dict[str, Any]
    model_frame: pd.DataFrame
    agent_frame: pd.DataFrame
    log: CallLog

    @property
    def complete(self) -> bool:
        """Whether the run ended as asked (all its steps, or its model stopped), not cut short."""
        return self.record["complete"]

    @property
    def steps_completed(self) -> int:
        """The steps the folder holds."""
        return self.record["steps_completed"]

    def config(self) -> RunConfig:
        """The run to resume: the recorded scenario, parameters, steps, seed, backend and temperature.

        Its cache is the recorded ``--cache`` file, or the folder's own ``cache.sqlite``
        (the command line's default; also for a run that kept its answers in memory). A run
        without LLM agents records no backend; it gets the one its command line was given.

        Raises:
            ValueError: for a scenario that is not installed, or parameters it rejects.
        """
        record = self.record
        spec = find_scenario(record["scenario"])
        cache = record["cache"]
        in_folder = record["cache_in_folder"] or cache is None
        # JSON made lists and mappings of values such as payoffs; they go back as the command line's text
        settings = {
            k: parameter_text(v) if isinstance(v, list | dict) else v for k, v in record["params"].items()
        }
        return RunConfig(
            scenario=spec,
            params=model_parameters(spec, settings),
            steps=record["steps_requested"],
            seed=record["seed"],
            backend=record["backend"] or _given_backend(record["argv"]),
            temperature=record["temperature"],
            cache=self.folder / RUN_CACHE if in_folder else Path(cache),
        )


def load_run(folder: str | os.PathLike[str]) -> StoredRun:
    """Read a run's folder: its metadata, frames and call records of the completed steps.

    The records are whole again: each has its prompt (``messages``) from the folder's
    prompts file, shared by the records of one prompt.

    Raises:
        RunFolderError: for a folder without ``run.json``, of another version, or whose
            files are unreadable or shorter than ``run.json`` records.
    """
    folder = Path(folder)
    record = _read_record(folder)
    data = _trusted(folder, record)
    try:
        model_frame = pd.read_csv(io.BytesIO(data["model.csv"]), index_col="step")
        agent_frame = pd.read_csv(io.BytesIO(data["agents.csv"]), index_col=list(AGENT_INDEX))
        prompts = PromptBook()
        for line in _lines(data[PROMPTS_FILE]):
            prompts.read(line)
        log = CallLog()
        for line in _lines(data[CALLS_FILE]):
            log.add(CallRecord.from_dict(json.loads(line), prompts.prompts))
    except (ValueError, TypeError, KeyError, OSError, EOFError, zlib.error) as exc:
        raise RunFolderError(f"The run in {str(folder)!r} cannot be read: {exc}.") from exc
    return StoredRun(folder, record, model_frame, agent_frame, log)


class ResumedJournal(RunJournal):
    """The journal of a run resumed from its folder: checks the replayed steps, then writes on.

    Give its :meth:`step` to ``Run.advance`` of the rebuilt run, for all its steps: the
    first ``stored.steps_completed`` are checked against the folder (nothing is written),
    after which the model's call log is set to the stored records (so its totals go on
    as in the uninterrupted run) and the remaining steps are appended.

    Args:
        stored: the run's folder, read back.
        config: the run (``stored.config()``).
    """

    def __init__(self, stored: StoredRun, config: RunConfig) -> None:
        record = stored.record | {"complete": False, "interrupted": False}
        record["resumed_after"] = [*stored.record.get("resumed_after", []), stored.steps_completed]
        super().__init__(stored.folder, config, record)
        self.stored = stored
        for call in stored.log.records:
            self._totals.add(call)
            self._prompts.number(call.messages)  # numbered as the folder numbers them: by first appearance
        self._prompts_written = len(self._prompts)
        data = _trusted(stored.folder, stored.record)
        lines = data["model.csv"].decode("utf-8").splitlines(keepends=True)
        self._header, *self._model_rows = csv.reader(lines)
        self._agents = data["agents.csv"]
        self._agents_read = self._agents.index(b"\n") + 1  # past the header
        self._stored_headers = lines[0], self._agents[: self._agents_read].decode("utf-8")
        self._decisions: dict[int, list[tuple[int, str]]] = {}
        for call in stored.log.records:
            self._decisions.setdefault(call.step, []).append((call.agent_id, call.action))
        self._replayed = 0  # steps checked
        self._built_checked = False  # the rows of the model as built (step 0)

    def step(self, model: Model, _completed: int | None = None) -> None:
        """Check a replayed step against the folder, or append a new one (see :class:`RunJournal`).

        Raises:
            ResumeError: for a replayed step that differs from the stored one.
        """
        if not self._built_checked:
            self._check_headers(model)
            self._check(model, 0)
            self._built_checked = True
        stored = self.stored.steps_completed
        if self._replayed >= stored:
            super().step(model)
            return
        self._check(model, self._replayed + 1)
        self._replayed += 1
        if self._replayed == stored:
            self._restore(model)

    def finish(self, result: RunResult) -> dict[str, Any]:
        """Finish as :meth:`RunJournal.finish`; a run stopped while replaying leaves the folder as it was.

        Raises:
            ResumeError: if the replayed model stopped running before the stored steps.
        """
        stored = self.stored.steps_completed
        while self._replayed < min(result.steps_completed, stored):  # an interrupted check
            self.step(result.model)
        if result.steps_completed >= stored:
            return super().finish(result)
        self.close()
        if not result.interrupted:
            raise self._error(result.steps_completed + 1, "the model stopped running before it")
        return self.stored.record

    def _check_headers(self, model: Model) -> None:
        """Check that the model reports the folder's columns (as one of another version may not)."""
        if self._headers(model) != self._stored_headers:
            raise ResumeError(
                f"The run in {str(self.folder)!r} cannot be resumed: its model now reports other columns "
                f"than the folder holds (a change of version?). Rerun it from the start: "
                f"{self.stored.record['command']}"
            )

    def _check(self, model: Model, n: int) -> None:
        """Compare step ``n`` of the model with the folder's."""
        model_row, agent_rows = self._render(model, n)
        (replayed,) = csv.reader([model_row])
        skip = {name for name in model.llm.reporters() if not name.endswith(_REPLAYED_TOTALS)}
        for name, was, now in zip(self._header, self._model_rows[n], replayed, strict=True):
            if name not in skip and was != now:
                raise self._error(n, f"{name} is {now or 'missing'}, the run had {was or 'missing'}")
        agents = agent_rows.encode("utf-8")
        if self._agents[self._agents_read : self._agents_read + len(agents)] != agents:
            raise self._error(n, "its agents' rows differ")
        self._agents_read += len(agents)
        replayed_records = self._new_records(model, n)
        self._seen += len(replayed_records)
        decisions = [(call.agent_id, call.action) for call in replayed_records]
        had = self._decisions.get(n, [])
        for now, was in zip(decisions, had, strict=False):
            if now != was:
                raise self._error(
                    n, f"agent {now[0]} chose {now[1]!r}, the run had agent {was[0]} choose {was[1]!r}"
                )
        if len(decisions) != len(had):
            raise self._error(n, f"{len(decisions)} LLM decisions, the run had {len(had)}")

    def _restore(self, model: Model) -> None:
        """Give the model's call log the stored records and their totals in place of the replayed ones."""
        log: CallLog = model.llm.log
        log.restore(self.stored.log.records)
        self._seen = len(log.records)

    def _error(self, n: int, detail: str) -> ResumeError:
        return ResumeError(
            f"The run in {str(self.folder)!r} cannot be resumed: replaying its step {n} gave another "
            f"result ({detail}), so its response cache {str(self.config.cache)!r} does not hold the "
            f"run's answers. Rerun it from the start: {self.stored.record['command']}"
        )


def _read_record(folder: Path) -> dict[str, Any]:
    path = folder / RUN_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{str(folder)!r} holds no run: it has no {RUN_FILE}.") from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{str(path)!r} cannot be read: {exc}.") from exc
    if not isinstance(record, dict) or not {"steps_completed", "complete", "bytes"} <= set(record):
        raise RunFolderError(
            f"{str(path)!r} is not the run.json of a run folder of this version of mesa_llm."
        )
    if set(record["bytes"]) != set(APPENDED):
        raise RunFolderError(
            f"The run in {str(folder)!r} was written by another version of mesa_llm (its files are "
            f"{', '.join(record['bytes'])}; this version writes {', '.join(APPENDED)}) and cannot be "
            f"read or resumed by this one. Rerun it: {record.get('command', 'mesa-llm run ...')}"
        )
    return record


def _given_backend(argv: list[str]) -> str:
    """The ``--backend`` of a recorded command line."""
    return argv[argv.index("--backend") + 1]


def _lines(data: bytes) -> list[str]:
    """The lines of a gzip-compressed text file's bytes (as many members as steps written)."""
    return gzip.decompress(data).decode("utf-8").splitlines()


def _trusted(folder: Path, record: dict[str, Any]) -> dict[str, bytes]:
    """The appended files' first bytes, as many as ``run.json`` records for its completed steps."""
    data = {}
    for name in APPENDED:
        size = record["bytes"][name]
        try:
            with (folder / name).open("rb") as file:
                data[name] = file.read(size)
        except OSError as exc:
            raise RunFolderError(f"The run in {str(folder)!r} cannot be read: {exc}.") from exc
        if len(data[name]) < size:
            raise RunFolderError(
                f"{str(folder / name)!r} holds {len(data[name])} bytes, fewer than the {size} its "
                f"{RUN_FILE} records: the folder was changed after the run."
            )
    return data
