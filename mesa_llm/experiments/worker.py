"""One run of a sweep, as a worker executes it: a pure function of its task and a cache snapshot.

:func:`run_task` builds and steps the scenario's model where it is called (in the
sweep's process, a worker process or a cluster's worker) and returns a
:class:`RunOutcome`: the run's model frame, its summary, its call records (compressed,
each distinct prompt once) and the answers it added to the cache. It writes no file and
needs no shared filesystem; the sweep's driver writes everything. A run that fails (its
model's constructor raises, its backend cannot be created) is an outcome too, with the
error, so that one failure never stops a sweep.
"""

from __future__ import annotations

import gzip
import logging
import signal
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from mesa_llm.cache import CachedAnswer, SnapshotCache
from mesa_llm.experiments.design import RunTask
from mesa_llm.lab import Run, llm_totals
from mesa_llm.populations import LLM, population
from mesa_llm.records import CallLog, PromptBook

__all__ = ["FAILED", "OK", "RunOutcome", "failed_outcome", "ignore_interrupts", "outcome_summary", "run_task"]

logger = logging.getLogger(__name__)

OK: Final = "ok"
"""The status of a run that completed."""
FAILED: Final = "failed"
"""The status of a run that raised: its error is recorded, the sweep goes on."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a run sends back to the sweep's driver.

    Attributes:
        index: the run's position in the design.
        run: the run's identity.
        status: :data:`OK` or :data:`FAILED`.
        error: the error of a failed run (its type, message and the last frames of its
            traceback); empty when it completed.
        model_frame: the model reporters, one row per step from step 0; None for a failed run.
        outcomes: each outcome metric's summary of the run (NaN for a failed one).
        llm: the run's LLM totals (decisions, calls, cache hits, tokens, failures, latency).
        llm_agents: how many LLM agents its model had (0 for a rule-only run).
        backend_name: the short name of the chat model its LLM agents asked; None without.
        elapsed_s: wall time of the run, building included.
        prompts: its distinct prompts as gzip-compressed JSON lines (empty without calls).
        calls: its call records as gzip-compressed JSON lines, naming their prompts.
        added: the answers it added to the response cache, by key.
    """

    index: int
    run: str
    status: str
    error: str
    model_frame: pd.DataFrame | None
    outcomes: Mapping[str, float]
    llm: Mapping[str, float]
    llm_agents: int
    backend_name: str | None
    elapsed_s: float
    prompts: bytes = b""
    calls: bytes = b""
    added: Mapping[str, CachedAnswer] = field(default_factory=dict)


def run_task(task: RunTask, snapshot: Mapping[str, CachedAnswer] | None = None) -> RunOutcome:
    """Run ``task`` against a snapshot of the sweep's cache and return its outcome (never raising).

    Args:
        task: the run.
        snapshot: the sweep's cache as it was when the sweep started; the run reads it
            and adds to a copy of its own, so every run sees the same answers wherever
            and in whatever order it runs.
    """
    cache = SnapshotCache(snapshot)
    started = time.perf_counter()
    spec = task.config.scenario
    try:
        run = Run.build(task.config, cache, task.backends)
        result = run.advance(task.config.steps)
        if result.interrupted:
            raise KeyboardInterrupt
    except Exception as exc:
        logger.warning("run %s failed: %s", task.run, exc)
        return failed_outcome(task, _error_text(exc), time.perf_counter() - started, cache.added)
    frame = result.model_frame
    prompts, calls = _compressed_records(result.log)
    return RunOutcome(
        index=task.index,
        run=task.run,
        status=OK,
        error="",
        model_frame=frame,
        outcomes={outcome.metric: outcome.summarise(frame) for outcome in spec.outcomes},
        llm=llm_totals(result.log),
        llm_agents=sum(1 for agent in result.model.agents if population(agent) == LLM),
        backend_name=result.backend_name,
        elapsed_s=time.perf_counter() - started,
        prompts=prompts,
        calls=calls,
        added=cache.added,
    )


def failed_outcome(
    task: RunTask, error: str, elapsed_s: float, added: Mapping[str, CachedAnswer] | None = None
) -> RunOutcome:
    """The outcome of a run that failed with ``error``: no frame, NaN outcomes, no LLM totals."""
    return RunOutcome(
        index=task.index,
        run=task.run,
        status=FAILED,
        error=error,
        model_frame=None,
        outcomes={outcome.metric: float("nan") for outcome in task.config.scenario.outcomes},
        llm=llm_totals(CallLog()),
        llm_agents=0,
        backend_name=None,
        elapsed_s=elapsed_s,
        added=added or {},
    )


def ignore_interrupts() -> None:
    """Let worker processes ignore Ctrl-C: the sweep's driver stops them (a pool's initializer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _compressed_records(log: CallLog) -> tuple[bytes, bytes]:
    """The log's prompts and call records, as the run folders of the lab write them (compressed)."""
    if not log.records:
        return b"", b""
    book = PromptBook()
    calls = "".join(record.to_json(book.number(record.messages)) for record in log.records)
    prompts = "".join(map(book.line, range(len(book))))
    return (
        gzip.compress(prompts.encode("utf-8"), compresslevel=6, mtime=0),
        gzip.compress(calls.encode("utf-8"), compresslevel=6, mtime=0),
    )


def _error_text(exc: BaseException) -> str:
    """A failed run's error: its type and message, then where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "".join(traceback.format_list(frames)).rstrip()
    return f"{type(exc).__name__}: {exc}" + (f"\n{where}" if where else "")


def outcome_summary(outcome: RunOutcome) -> dict[str, Any]:
    """The run's row of a sweep's summary, less its conditions (see :mod:`mesa_llm.experiments.folder`)."""
    return {
        "status": outcome.status,
        "error": outcome.error,
        "llm_agents": outcome.llm_agents,
        **outcome.outcomes,
        **{f"llm_{name}": value for name, value in outcome.llm.items()},
        "elapsed_s": outcome.elapsed_s,
    }
