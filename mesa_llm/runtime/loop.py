"""The event-loop bridge and the bounds on calls in flight.

Sync callers (a Mesa model's ``step``) run the runtime's coroutines on one event loop in a
daemon thread, shared by every runtime of the process; async callers await them on their
own loop. Either way, :class:`Slots` bounds the calls in flight on a loop, runs the calls
of backends that only have a sync API on that backend's own :class:`Workers`, and gathers
the scorings of a backend that scores several prompts at once into batches
(:class:`Scorings`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import queue
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from mesa_llm.backends.scoring import OptionScorer, OptionScores

__all__ = ["LoopThread", "Scorings", "Slots", "Workers", "WorkersExhaustedError"]

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


type _Waiting = tuple[list[BaseMessage], asyncio.Future[OptionScores]]  # a prompt and who awaits its scores


class Scorings:
    """The option scorings of one backend on one loop, sent to it in batches.

    For a backend that scores several prompts at once (one that overrides
    :meth:`~mesa_llm.backends.scoring.OptionScorer.score_options_many`, as the embedded
    model does on its lanes), the scorings asked for while the loop is busy starting
    calls (the calls a decision phase starts at once, up to the runtime's
    ``max_concurrency``) go to it as one ``score_options_many`` call per option set, on
    the backend's :class:`Workers`. The batch is sent once a turn of the loop has passed
    with no scoring added, and each prompt gets the scores the backend gives it alone.

    A caller that stops waiting (its timeout) leaves the batch: a batch not yet sent
    goes without its prompt, one already sent keeps scoring it, as an abandoned sync
    call does. A batch that fails fails each of its prompts with the same error.

    Args:
        scorer: the backend.
        workers: the threads its batches run on.
    """

    def __init__(self, scorer: OptionScorer, workers: Workers) -> None:
        self._scorer = scorer
        self._workers = workers
        self._waiting: dict[tuple[str, ...], list[_Waiting]] = {}
        self._count = 0  # scorings added since the last batch was sent

    def score(self, messages: list[BaseMessage], options: Sequence[str]) -> asyncio.Future[OptionScores]:
        """The scores of ``options`` after ``messages``, to come with the next batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[OptionScores] = loop.create_future()
        due = not self._waiting  # the first of a batch: the loop looks for more next turn
        self._waiting.setdefault(tuple(options), []).append((messages, future))
        self._count += 1
        if due:
            loop.call_soon(self._send, self._count)
        return future

    def _send(self, seen: int) -> None:
        """Send the waiting scorings once a turn of the loop has added none to the ``seen`` ones."""
        if self._count != seen:
            asyncio.get_running_loop().call_soon(self._send, self._count)
            return
        waiting, self._waiting, self._count = self._waiting, {}, 0
        for options, batch in waiting.items():
            live = [(messages, future) for messages, future in batch if not future.done()]
            if not live:
                continue
            prompts, futures = [messages for messages, _ in live], [future for _, future in live]
            score = functools.partial(self._scorer.score_options_many, prompts, list(options))
            try:
                done = self._workers.run(score)
            except WorkersExhaustedError as exc:
                _hand_out(futures, None, exc)
                continue
            done.add_done_callback(lambda d, f=futures: _hand_out(f, d, None))


def _hand_out(
    futures: Sequence[asyncio.Future[OptionScores]],
    done: asyncio.Future[list[OptionScores]] | None,
    error: BaseException | None,
) -> None:
    """Give each prompt of a batch its scores, or the batch's error (to those still waiting)."""
    scores: list[OptionScores] = []
    if error is None and done is not None:
        error = done.exception()
        if error is None:
            scores = done.result()
            if len(scores) != len(futures):
                error = RuntimeError(
                    f"score_options_many returned {len(scores)} scores for {len(futures)} prompts: "
                    "it must return one per prompt, in their order."
                )
    for i, future in enumerate(futures):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(scores[i])


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
        self._scorings: dict[int, Scorings] = {}
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

    def scorings(self, model: OptionScorer, name: str) -> Scorings:
        """The batches of the backend ``model``'s scorings (see :class:`Scorings`), made on first use."""
        key = id(model)
        if key not in self._scorings:
            self._scorings[key] = Scorings(model, self.workers(model, name))
        return self._scorings[key]


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
