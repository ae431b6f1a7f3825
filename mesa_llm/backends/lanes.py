"""Lanes: llama.cpp contexts over one model's weights, each scoring one prompt while the others score theirs.

A :class:`Lane` evaluates prompts on its context in chunks at fixed positions, so that
their logits depend on the tokens alone; :class:`Lanes` serve waiting prompts, one per
lane, on a thread per lane (llama.cpp runs without Python's lock, so the lanes use the
cores at once).

Prompts are scored side by side rather than together in one llama.cpp batch (several
sequences of one context): a batch of sequences keeps each prompt's bits only where
llama.cpp computes every row of a matrix product alike, which its repacked weights do
not (Gemma 3's Q4_K rows are multiplied four at a time, the rest one by one), and on
these CPUs it evaluated hardly more tokens per second (``benchmarks/local_batch.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mesa_llm.backends.errors import BackendError

__all__ = ["CHUNK", "Lane", "Lanes", "common_prefix"]

CHUNK = 16
"""Tokens evaluated at once, at fixed positions (0-15, 16-31, ...).

llama.cpp's results depend (slightly) on how tokens are batched, so a prompt must be
evaluated the same way whatever the cache held before for its answer to depend on the
prompt alone.
"""
# A lane serves the waiting prompt that shares most with its cache; the oldest one waits
# for at most this many others.
_PATIENCE = 16


class Lane:
    """One llama.cpp context and the tokens its cache holds as whole chunks.

    Tokens are evaluated in chunks of 16 at fixed positions (0-15, 16-31, ...), reusing
    the whole chunks already cached: the logits depend on the tokens alone, whatever the
    cache held, and whichever lane of the same weights and settings evaluates them.

    Args:
        ctx: the llama.cpp context.
        n_vocab: the model's vocabulary size.
        n_ctx: the context window in tokens.
        owned: free the context when the lane is closed.
    """

    def __init__(self, ctx: Any, n_vocab: int, n_ctx: int, owned: bool) -> None:
        from llama_cpp import llama_cpp

        self._lib = llama_cpp
        self.ctx = ctx
        self.n_ctx = n_ctx
        self.cached: list[int] = []
        self._n_vocab = n_vocab
        self._owned = owned
        self._memory = llama_cpp.llama_get_memory(ctx)
        self._batch = llama_cpp.llama_batch_init(CHUNK, 0, 1)

    def logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Next-token logits after ``tokens``.

        Raises:
            ValueError: if the tokens do not fit in the context window.
            BackendError: if llama.cpp fails to evaluate them.
        """
        if len(tokens) >= self.n_ctx:
            raise ValueError(
                f"The prompt needs {len(tokens)} tokens, more than the context window of "
                f"{self.n_ctx}: raise n_ctx or shorten the prompt."
            )
        reuse = min(common_prefix(self.cached, tokens), len(tokens) - 1)
        reuse -= reuse % CHUNK
        self.keep(reuse)
        self._lib.llama_memory_seq_rm(self._memory, -1, reuse, -1)
        batch = self._batch
        for start in range(reuse, len(tokens), CHUNK):
            chunk = tokens[start : start + CHUNK]
            for i, token in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, start + i, 1, False
                batch.seq_id[i][0] = 0
            batch.logits[len(chunk) - 1] = start + CHUNK >= len(tokens)  # the prompt's last token only
            batch.n_tokens = len(chunk)
            if (code := self._lib.llama_decode(self.ctx, batch)) != 0:
                raise BackendError(f"llama.cpp failed to evaluate a prompt (llama_decode returned {code}).")
        self.cached = list(tokens[: len(tokens) - len(tokens) % CHUNK])
        pointer = self._lib.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def keep(self, n: int) -> None:
        """Reuse at most the first ``n`` cached tokens (the cells after them are to be rewritten)."""
        self.cached = self.cached[: n - n % CHUNK]

    def close(self) -> None:
        """Free the lane's batch, and its context if it owns it."""
        self._lib.llama_batch_free(self._batch)
        if self._owned:
            self._lib.llama_free(self.ctx)


@dataclass(eq=False, slots=True)
class _Job:
    prefixes: list[list[int]]
    future: Future[tuple[list[np.ndarray], float]] = field(default_factory=Future)
    passed: int = 0  # times a younger job was served first


class Lanes:
    """Lanes scoring prompts at once, each on a thread of its own.

    A free lane takes the waiting prompt that shares the most whole chunks with its
    cache (so prompts with a common prefix follow each other), or the oldest one once
    it has waited for :data:`_PATIENCE` others. Which lane serves a prompt never changes
    its logits (:class:`Lane`).

    Args:
        lanes: the lanes, closed with this.
    """

    def __init__(self, lanes: list[Lane]) -> None:
        self.lanes = lanes
        self._waiting: list[_Job] = []
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, args=(lane,), name=f"mesa-llm-lane-{i}", daemon=True)
            for i, lane in enumerate(lanes)
        ]
        for thread in self._threads:
            thread.start()

    def evaluate(self, jobs: Sequence[Sequence[list[int]]]) -> list[tuple[list[np.ndarray], float]]:
        """The next-token logits after each token list of each job, and the seconds its lane spent on it.

        One job's lists run on one lane; its seconds are its own evaluation, not its wait
        for a free lane.

        Raises:
            RuntimeError: if the lanes were closed (the process is exiting).
        """
        queued = [_Job(list(prefixes)) for prefixes in jobs]
        with self._ready:
            if self._closed:
                raise RuntimeError("The embedded model was closed: the process is exiting.")
            for job in queued:
                if job.prefixes:
                    self._waiting.append(job)
                else:
                    job.future.set_result(([], 0.0))
            self._ready.notify_all()
        return [job.future.result() for job in queued]

    def _serve(self, lane: Lane) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                job = self._take(lane)
            started = time.perf_counter()
            try:
                rows = [lane.logits(prefix) for prefix in job.prefixes]
                job.future.set_result((rows, time.perf_counter() - started))
            except Exception as exc:  # handed to the caller
                job.future.set_exception(exc)

    def _take(self, lane: Lane) -> _Job:
        oldest = self._waiting[0]
        job = max(self._waiting, key=lambda j: common_prefix(lane.cached, j.prefixes[0]) // CHUNK)
        if job is not oldest:
            oldest.passed += 1
            if oldest.passed > _PATIENCE:
                job = oldest
        self._waiting.remove(job)
        return job

    def close(self) -> None:
        """Stop the threads (a prompt being evaluated finishes first) and free the lanes."""
        with self._ready:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            self._ready.notify_all()
        for job in waiting:
            job.future.cancel()
        for thread in self._threads:
            thread.join()
        for lane in self.lanes:
            lane.close()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
