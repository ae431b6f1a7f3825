"""The event-loop bridge and the bounds on calls in flight.

Sync callers (a Mesa model's ``step``) run the runtime's coroutines on one event loop in a
daemon thread, shared by every runtime of the process; async callers await them on their
own loop. Either way, :class:`Slots` bounds the calls in flight on a loop, and runs the
calls of backends that only have a sync API on that backend's own :class:`Workers`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["LoopThread", "Slots", "Workers", "WorkersExhaustedError"]

#: Most threads of a backend's :class:`Workers` that may still be busy with abandoned
#: (timed-out) calls; past it, new calls of that backend fail at once instead of piling up.
MAX_ABANDONED_CALLS = 256


class WorkersExhaustedError(RuntimeError):
    """A sync backend's threads are all still busy with calls that were abandoned."""


class Workers:
    """Daemon threads that run one sync-only backend's calls, so a hung call harms only that backend.

    A call the runtime abandons on its timeout keeps its thread until the backend returns
    (Python cannot stop a thread), so the pool starts a new thread whenever none is idle:
    abandoned calls never delay later ones. The threads are daemons, so a hung call never
    holds up the end of the process. The number of threads is bounded by the calls in
    flight (bounded by :class:`Slots`) plus :data:`MAX_ABANDONED_CALLS`.

    Args:
        name: the threads' name prefix.
        limit: most threads at once; a call past it raises :class:`WorkersExhaustedError`.
    """

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    @property
    def threads(self) -> int:
        """The threads started and not yet ended (idle ones included)."""
        return self._threads

    def run[T](self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``fn`` on a worker thread; its result (or error) comes as a future of the running loop.

        Raises:
            WorkersExhaustedError: if every thread is busy and the pool is at its limit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # abandoned: the caller timed out and cancelled it
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        def job() -> None:
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the awaiting coroutine
                result, error = None, exc
            with self._lock:  # idle before the caller can resume and ask for the next call
                self._idle += 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(settle, result, error)

        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._threads < self.limit:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self.name}-{self._threads}", daemon=True).start()
            else:
                raise WorkersExhaustedError(
                    f"all {self.limit} threads of {self.name} are still busy with calls that timed "
                    "out; the backend hangs: check it, or give it a timeout of its own"
                )
        self._jobs.put(job)
        return future

    def _work(self) -> None:
        while True:
            self._jobs.get()()


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
        self._limit = total
        self._backends: dict[int, asyncio.Semaphore] = {}
        self._workers: dict[int, Workers] = {}
        self._resume_at: dict[int, float] = {}

    def of(self, model: object, parallel: int | None) -> contextlib.AbstractAsyncContextManager[Any]:
        """The bound of the backend ``model``, which runs at most ``parallel`` calls (None: no bound)."""
        if parallel is None:
            return contextlib.nullcontext()
        key = id(model)
        if key not in self._backends:
            self._backends[key] = asyncio.Semaphore(parallel)
        return self._backends[key]

    def pause(self, model: object, seconds: float) -> None:
        """Send no call to the backend ``model`` for ``seconds`` (its rate limit asked to wait)."""
        resume_at = asyncio.get_running_loop().time() + seconds
        self._resume_at[id(model)] = max(self._resume_at.get(id(model), 0.0), resume_at)

    def paused(self, model: object) -> bool:
        """Whether the backend ``model`` is paused now."""
        resume_at = self._resume_at.get(id(model))
        return resume_at is not None and resume_at > asyncio.get_running_loop().time()

    async def ready(self, model: object, spread: float) -> None:
        """Wait until the backend ``model`` is no longer paused, then ``spread`` of the pause more.

        ``spread`` (a fraction, 0 to 1) staggers the calls that waited, so they do not all
        meet the rate limit again at the same instant.
        """
        loop = asyncio.get_running_loop()
        while (left := self._resume_at.get(id(model), 0.0) - loop.time()) > 0:
            await asyncio.sleep(left * (1.0 + spread))

    def workers(self, model: object, name: str) -> Workers:
        """The threads that run the sync calls of the backend ``model``, started on first use."""
        key = id(model)
        if key not in self._workers:
            self._workers[key] = Workers(f"mesa-llm-{name}", self._limit + MAX_ABANDONED_CALLS)
        return self._workers[key]


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
