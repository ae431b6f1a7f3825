"""The event-loop bridge and the bounds on calls in flight.

Sync callers (a Mesa model's ``step``) run the runtime's coroutines on one event loop in a
daemon thread, shared by every runtime of the process; async callers await them on their
own loop. Either way, :class:`Slots` bounds the calls in flight on a loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["LoopThread", "Slots"]


class Slots:
    """The bounds on calls in flight on one event loop: all calls, and each backend's own.

    A backend that can only run a few calls at once (the local model runs one) says so
    with a ``max_parallel_calls`` attribute; its calls then wait here, not in its worker
    threads, so their latency and timeout measure the call itself, not the queue.

    Args:
        total: most calls in flight at once on the loop.
    """

    def __init__(self, total: int) -> None:
        self.total = asyncio.Semaphore(total)
        self._backends: dict[int, asyncio.Semaphore] = {}

    def of(self, model: object, parallel: int | None) -> contextlib.AbstractAsyncContextManager[Any]:
        """The bound of the backend ``model``, which runs at most ``parallel`` calls (None: no bound)."""
        if parallel is None:
            return contextlib.nullcontext()
        key = id(model)
        if key not in self._backends:
            self._backends[key] = asyncio.Semaphore(parallel)
        return self._backends[key]


class LoopThread:
    """One event loop in a daemon thread, shared by every runtime of the process.

    Running every step on the same loop keeps HTTP clients of backends valid across
    steps, and works whether or not the caller already runs an event loop (Jupyter,
    Solara). It is shared rather than owned by a runtime because Mesa models are rarely
    garbage collected (``Cell.get_neighborhood`` is cached on the class), so a loop per
    runtime would leak a thread per model in a parameter sweep. Its thread pool runs
    backends that only implement the sync API.
    """

    _instance: LoopThread | None = None
    _lock = threading.Lock()

    def __init__(self, workers: int = 64) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(workers, "mesa-llm"))
        self.thread = threading.Thread(target=self.loop.run_forever, name="mesa-llm-loop", daemon=True)
        self.thread.start()

    @classmethod
    def shared(cls) -> LoopThread:
        """The process's loop, started on first use (and again in a forked child)."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def _forget(cls) -> None:
        cls._instance = None

    def run[T](self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result.

        Raises:
            RuntimeError: if called from the loop's own thread (it would wait for itself).
        """
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("LLMRuntime's sync API was called from its event loop; await adecide_many.")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise


os.register_at_fork(after_in_child=LoopThread._forget)
