"""The sweep: a design that runs, on this machine or a cluster, into a folder it can resume."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from mesa_llm.experiments.design import Design
from mesa_llm.experiments.driver import SweepProgress, execute_sweep
from mesa_llm.experiments.results import SweepResult, gathered

__all__ = ["Sweep"]


class Sweep(Design):
    """Runs of a scenario across the product of its axes, each for every seed.

    Example::

        sweep = Sweep(
            scenario="schelling",
            fixed={"width": 20, "height": 20, "homophily": 0.4},
            axes={"llm_share": [0.0, 1.0], "backend": ["rule", "local"], "framing": ["neutral", "social"]},
            seeds=range(10),
            steps=50,
        )
        result = sweep.run(workers=2, cache="runs/cache.sqlite", out="runs/sweep1")
        result.summary  # one row per run
        result.robustness().write("runs/sweep1")

    The arguments are those of :class:`~mesa_llm.experiments.design.Design`, which checks
    the whole design when the sweep is created.
    """

    def run(
        self,
        *,
        workers: int = 1,
        executor: Executor | None = None,
        cache: str | Path | None = None,
        out: str | Path | None = None,
        on_progress: Callable[[SweepProgress], None] | None = None,
        recycle_after: int | None = 50,
    ) -> SweepResult:
        """Run the sweep (the runs not yet done in ``out``) and return its results.

        Args:
            workers: local worker processes; 1 runs everything in this process.
            executor: any :class:`concurrent.futures.Executor` instead, such as a Dask
                cluster's (``client.get_executor()``); the caller shuts it down.
            cache: a SQLite response cache file: each run reads it as it was when the
                sweep started, and its new answers are added to it as runs finish.
            out: the sweep's folder. Each run is written there as it finishes; rerunning
                the same sweep into it runs only the missing and the failed runs. A
                folder of another sweep is refused.
            on_progress: called with a :class:`~mesa_llm.experiments.driver.SweepProgress`
                when the sweep starts and after each run.
            recycle_after: replace the local worker processes after this many runs each
                (Mesa never frees a model in a process); None never does.

        Raises:
            SweepFolderError: if ``out`` holds another sweep.
            CacheError: if ``cache`` is not a response cache.
            ValueError: before any run, for a value that cannot be pickled (naming it and the
                fix) where it would be: sent to worker processes (``workers`` > 1 or an
                ``executor``; a chat model object is not pickled in this process), or a
                parameter's object recorded in ``out``.
        """
        folder, runs, interrupted = execute_sweep(
            self,
            workers=workers,
            executor=executor,
            cache=cache,
            out=out,
            on_progress=on_progress,
            recycle_after=recycle_after,
        )
        return gathered(self, folder, runs, interrupted)
