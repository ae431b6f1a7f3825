"""The sweep's driver: it sends the runs to an executor, writes each as it finishes, and gathers the frames.

Every run reads the sweep's response cache as it was when the sweep started (a
snapshot) and sends back what it added; the driver writes those answers to the cache
file, and each run's files to the sweep's folder, as the run finishes. So the frames are
the same whatever executed the runs and in whatever order they finished, a rerun of the
same sweep with a warm cache makes no backend call, and a sweep stopped by a kill or a
Ctrl-C resumes from its folder with only the missing (and the failed) runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mesa_llm.cache import CachedAnswer, SQLiteCache
from mesa_llm.checks import check_int
from mesa_llm.experiments.design import Design, RunTask
from mesa_llm.experiments.executors import process_pool, submit_all
from mesa_llm.experiments.folder import FinishedRun, SweepFolder, run_record
from mesa_llm.experiments.worker import FAILED, RunOutcome, failed_outcome, run_task

__all__ = ["SweepProgress", "execute_sweep"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class SweepProgress:
    """How far a sweep has come, for progress displays.

    Attributes:
        total: the runs of the design.
        skipped: runs already done in the sweep's folder, not run again.
        done: runs finished in this call (failed ones included).
        failed: runs that failed in this call.
        calls: backend calls made by the finished runs.
        cache_hits: their answers from the response cache.
        started: ``time.perf_counter()`` when the runs began.
    """

    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    calls: int = 0
    cache_hits: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def remaining(self) -> int:
        """Runs still to finish."""
        return self.total - self.skipped - self.done

    @property
    def elapsed_s(self) -> float:
        """Seconds since the runs began."""
        return time.perf_counter() - self.started

    def add(self, outcome: RunOutcome) -> None:
        """Count a finished run."""
        self.done += 1
        self.failed += outcome.status == FAILED
        self.calls += int(outcome.llm.get("calls", 0))
        self.cache_hits += int(outcome.llm.get("cache_hits", 0))


@dataclass(slots=True)
class _Sink:
    """Where finished runs go: the folder, the cache file, and each run's record and frame in memory.

    Only what the sweep's frames are made of is kept (not the call records, nor the
    answers added to the cache); with a folder, as the folder reads them back.
    """

    folder: SweepFolder | None
    cache: SQLiteCache | None
    progress: SweepProgress
    on_progress: Callable[[SweepProgress], None] | None
    runs: dict[int, FinishedRun] = field(default_factory=dict)

    def take(self, task: RunTask, outcome: RunOutcome) -> None:
        if self.folder is not None:
            self.runs[task.index] = self.folder.write(task, outcome)
        else:
            self.runs[task.index] = (run_record(task, outcome), outcome.model_frame)
        if self.cache is not None and outcome.added:
            self.cache.put_many(outcome.added)
        self.progress.add(outcome)
        if self.on_progress is not None:
            self.on_progress(self.progress)


def execute_sweep(
    design: Design,
    *,
    workers: int = 1,
    executor: Executor | None = None,
    cache: str | Path | None = None,
    out: str | Path | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    recycle_after: int | None = 50,
) -> tuple[SweepFolder | None, dict[int, FinishedRun], bool]:
    """Run the design's pending runs; the folder, this call's runs by index, and whether interrupted.

    With a folder, each run is written as it finishes, and the runs returned are as the
    folder reads them back, so that they join the runs it holds from earlier calls.

    Args:
        design: the sweep.
        workers: local worker processes (1 runs in this process); ignored with ``executor``.
        executor: any :class:`concurrent.futures.Executor` to run on instead (not shut
            down here).
        cache: the SQLite response cache file of the sweep (None: each run caches in
            memory only).
        out: the sweep's folder (None: nothing is written, nothing resumed).
        on_progress: called after each finished run.
        recycle_after: replace the local worker processes after this many runs each
            (None: never).

    Ctrl-C stops the sweep: runs that finished are kept (and written), running ones
    are abandoned, and the result says it was interrupted.

    Raises:
        ValueError: before any run, for a design that cannot be sent to worker processes
            (``workers`` > 1 or an ``executor``), or a folder for which a value has no identity.
    """
    check_int("workers", workers, minimum=1)
    if executor is not None or workers > 1:
        design.check_sendable()
    tasks = design.tasks()
    folder = SweepFolder.open(out, design) if out is not None else None
    pending = folder.pending(tasks) if folder is not None else tasks
    progress = SweepProgress(total=len(tasks), skipped=len(tasks) - len(pending))
    interrupted = False
    with ExitStack() as stack:
        store = SQLiteCache(cache) if cache is not None else None
        if store is not None:
            stack.callback(store.close)
        snapshot = store.snapshot() if store is not None else {}
        sink = _Sink(folder, store, progress, on_progress)
        if on_progress is not None:
            on_progress(progress)
        try:
            if executor is None and workers == 1:
                for task in pending:
                    sink.take(task, run_task(task, snapshot))
            elif executor is None:
                _on_own_pools(pending, workers, snapshot, recycle_after, sink)
            else:
                _gather(submit_all(executor, pending, snapshot), sink)
        except KeyboardInterrupt:
            interrupted = True
            logger.info("sweep interrupted after %d of %d runs", progress.done, len(pending))
    return folder, sink.runs, interrupted


def _on_own_pools(
    tasks: list[RunTask],
    workers: int,
    snapshot: Mapping[str, CachedAnswer],
    recycle_after: int | None,
    sink: _Sink,
) -> None:
    """Run ``tasks`` on local worker processes, a new pool for each ``workers * recycle_after`` runs.

    Replacing the whole pool, rather than each worker as it goes, keeps clear of the
    deadlock of ``max_tasks_per_child`` (see :func:`~mesa_llm.experiments.executors.process_pool`);
    the pool's last runs of a batch may leave a worker idle for a moment.
    """
    batch = len(tasks) if recycle_after is None else workers * recycle_after
    for start in range(0, len(tasks), max(batch, 1)):
        pool = process_pool(workers, snapshot)
        try:
            _gather(submit_all(pool, tasks[start : start + batch], None), sink)
        except BaseException:  # Ctrl-C: the running runs are abandoned, not waited for
            _abandon(pool)
            raise
        pool.shutdown()


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: cancel its queued runs and end its workers (their runs are lost)."""
    workers = list(pool._processes.values())  # Python 3.14 has terminate_workers(); 3.12 has not
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()


def _gather(futures: Mapping[Any, RunTask], sink: _Sink) -> None:
    """Take each run's outcome as it finishes; a run whose worker died is a failed run.

    On Ctrl-C the runs not started are cancelled.
    """
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker process died, or the cluster lost it
                outcome = _lost(task, exc)
            sink.take(task, outcome)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise


def _lost(task: RunTask, exc: BaseException) -> RunOutcome:
    """The outcome of a run whose worker never sent one back."""
    error = f"{type(exc).__name__}: {exc} (the worker running it was lost)"
    if isinstance(exc, BrokenProcessPool):
        error += (
            "; a worker process died. If a script starts the sweep, start it under "
            "`if __name__ == '__main__':`, since worker processes import the main script."
        )
    return failed_outcome(task, error, 0.0)
