"""Where a sweep's runs execute: in the sweep's process, in local worker processes, or on any Executor.

- In-process (``workers=1``, no executor): the runs one after the other, in design order.
- :func:`process_pool`: local worker processes started with ``forkserver`` (or
  ``spawn``), never ``fork``: llama.cpp and the embedding model hang in a child forked
  after its parent used them. A sweep replaces its pool after a number of runs per
  worker (``recycle_after``), because Mesa never frees a model in a process.
- Any :class:`concurrent.futures.Executor`, such as a Dask ``distributed`` cluster's
  (:func:`dask_executor`, ``client.get_executor()``). Runs are sent as a pickled task
  with the sweep's ``sys.path`` (so a scenario in a user's file unpickles where the file
  is importable) and the cache snapshot; they send back their outcome. A Dask cluster
  gets the snapshot once, on every worker (``scatter``), and each run a reference to it.
  Nothing needs a shared filesystem.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Final

from mesa_llm.cache import CachedAnswer
from mesa_llm.checks import check_int
from mesa_llm.experiments.design import RunTask
from mesa_llm.experiments.worker import RunOutcome, ignore_interrupts, run_task

__all__ = ["START_METHODS", "dask_executor", "pack", "process_pool", "run_packed"]

START_METHODS = ("forkserver", "spawn")
"""The start methods of :func:`process_pool`'s workers (``fork`` is not safe, see above)."""

# The cache snapshot a process pool's worker got once, when it started (see process_pool).
_worker_snapshot: Mapping[str, CachedAnswer] | None = None

# What a LocalCluster without a dashboard need not do (see dask_executor).
_LOCAL_CLUSTER_CONFIG: Final = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
}


def pack(task: RunTask) -> tuple[list[str], bytes]:
    """A task as a worker receives it: the sweep's ``sys.path`` and the pickled task."""
    return list(sys.path), pickle.dumps(task, protocol=5)


def run_packed(
    packed: tuple[list[str], bytes], snapshot: Mapping[str, CachedAnswer] | None = None
) -> RunOutcome:
    """Run a :func:`pack`-ed task where this is called (a worker), with the snapshot given or installed.

    The sweep's ``sys.path`` entries missing here are appended before the task is
    unpickled, so that a scenario defined in a user's file is found.
    """
    path, data = packed
    sys.path.extend(entry for entry in path if entry not in sys.path)
    task = pickle.loads(data)
    return run_task(task, snapshot if snapshot is not None else _worker_snapshot)


def _start_worker(snapshot: Mapping[str, CachedAnswer]) -> None:
    """A process pool worker's initializer: ignore Ctrl-C, keep the sweep's cache snapshot, freeze the heap.

    What the worker holds when it starts (the modules it inherited or imported, and the
    snapshot) lives as long as it does. ``gc.freeze()`` moves it out of the garbage
    collector's reach, so the worker's first full collection does not walk some 100,000
    inherited objects (58 ms of a first 20x20 Schelling run of 90 ms, and copies of the
    forkserver's pages it touches).
    """
    global _worker_snapshot
    ignore_interrupts()
    _worker_snapshot = snapshot
    gc.freeze()


def process_pool(
    workers: int, snapshot: Mapping[str, CachedAnswer] | None = None, *, start_method: str = "forkserver"
) -> ProcessPoolExecutor:
    """Local worker processes for a sweep's runs, each given the cache snapshot once.

    Workers are not replaced as they go (``max_tasks_per_child``): on Python 3.11 and 3.12
    a pool that replaces a worker while tasks are queued can deadlock (CPython issue
    115634). A sweep replaces its own pools instead (``recycle_after``).

    Args:
        workers: the number of worker processes (>= 1).
        snapshot: the sweep's cache snapshot, sent to each worker when it starts, so that
            :func:`run_packed` need not carry it with every run.
        start_method: ``"forkserver"`` (workers forked from a clean server process that
            imported the worker's modules once: cheap to start and replace) or
            ``"spawn"`` (each worker a fresh interpreter).

    Raises:
        ValueError: for fewer than one worker or an unknown start method.
    """
    check_int("workers", workers, minimum=1)
    if start_method not in START_METHODS:
        raise ValueError(
            f"start_method must be one of {', '.join(START_METHODS)}, got {start_method!r} (fork is not "
            "safe once the embedded model has run)."
        )
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(["mesa_llm.experiments.executors"])
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(snapshot or {},),
    )


@contextmanager
def dask_executor(address: str | None = None, workers: int = 2) -> Iterator[Executor]:
    """A Dask ``distributed`` cluster's executor: the scheduler at ``address``, or a local cluster.

    The local cluster has no dashboard, so it is spared what only feeds one, which would
    take CPU from the runs: its workers' statistical profiler (a sample of the running
    run's stack every 10 ms) and the event-loop health ticks every 20 ms (every 500 ms
    instead, as in Dask's own test clusters). A cluster at ``address`` keeps its own
    configuration: ``distributed.worker.profile.enabled: false`` does the same there.

    Args:
        address: a scheduler's address (``"tcp://10.0.0.5:8786"``); None starts a
            ``LocalCluster`` of ``workers`` processes (one thread each) on 127.0.0.1.
        workers: the local cluster's worker processes.

    Raises:
        ImportError: without Dask installed, naming the extra to install.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("Sweeps on Dask need the dask extra: pip install 'mesa-llm-lab[dask]'.") from exc
    if address is not None:
        with Client(address) as client:
            yield client.get_executor(pure=False)
        return
    check_int("workers", workers, minimum=1)
    with dask.config.set(_LOCAL_CLUSTER_CONFIG):  # read as the cluster starts (its nannies keep it)
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        )
    with cluster, Client(cluster) as client:
        yield client.get_executor(pure=False)


def submit_all(
    executor: Executor, tasks: Sequence[RunTask], snapshot: Mapping[str, CachedAnswer] | None
) -> dict[Any, RunTask]:
    """Submit ``tasks`` to ``executor``: each future, with its task.

    The snapshot goes with every run, unless it is None (a :func:`process_pool`, whose
    workers got it when they started) or the executor is a Dask client's: then it is
    scattered to every worker once, and each run is given a reference to it.
    """
    shared: Any = snapshot
    client = _dask_client(executor)
    if client is not None and snapshot:
        (shared,) = client.scatter([snapshot], broadcast=True, hash=False)  # a Future, resolved on the worker
    return {executor.submit(run_packed, pack(task), shared): task for task in tasks}


def _dask_client(executor: Executor) -> Any:
    """The Dask client whose executor ``executor`` is (``client.get_executor()``), or None."""
    if "distributed" not in sys.modules:  # no Dask executor can exist
        return None
    from distributed.cfexecutor import ClientExecutor

    return executor._client if isinstance(executor, ClientExecutor) else None  # it has no public one
