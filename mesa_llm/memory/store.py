"""The columns of a memory stream: storing memories, reading them back, inspecting and writing them.

Each memory has a text, a kind (:data:`KINDS`), its creation and last-access times (model
time, ``model.time``: game hours in the diffusion scenario), an importance (1-10), an
embedding, and, for a reflection, the ids of the memories it cites. Ids are stable ints,
0, 1, 2, ... in the order memories were added (nothing is forgotten). The numeric columns
are numpy arrays grown geometrically and the embeddings one float32 matrix of unit rows,
so that a retrieval scores every candidate at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mesa_llm.checks import check_int

__all__ = ["KINDS", "Memory", "MemoryStore", "check_entry", "kind_codes"]

#: The kinds of memory.
KINDS = ("observation", "conversation", "plan", "reflection")
_CODES = {kind: code for code, kind in enumerate(KINDS)}
_REFLECTION = _CODES["reflection"]
_FORMATS = (".jsonl", ".jsonl.gz", ".parquet")
_COLUMNS = ("_kinds", "_created", "_last_access", "_importance", "_vectors")


@dataclass(frozen=True, slots=True)
class Memory:
    """One memory, as read from a stream (``stream[memory_id]``)."""

    id: int
    kind: str
    text: str
    created: float
    last_access: float
    importance: float
    cites: tuple[int, ...] = ()


class MemoryStore:
    """An agent's memories in columns (the base of :class:`~mesa_llm.memory.MemoryStream`).

    Args:
        agent: the agent whose memories these are: its ``unique_id`` goes into
            :meth:`frame`, its ``model``'s ``time`` dates every memory.
    """

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        #: The summed importance of the memories (not reflections) added since the last reflection.
        self.importance_since_reflection = 0.0
        self._size = 0
        self._texts: list[str] = []
        self._cites: dict[int, tuple[int, ...]] = {}
        self._kinds = np.zeros(0, dtype=np.int8)
        self._created = np.zeros(0)
        self._last_access = np.zeros(0)
        self._importance = np.zeros(0)
        self._vectors = np.zeros((0, 0), dtype=np.float32)

    @property
    def now(self) -> float:
        """The model's time."""
        return float(self.agent.model.time)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, memory_id: int) -> Memory:
        """The memory ``memory_id``.

        Raises:
            KeyError: for an id the stream does not have.
        """
        valid = isinstance(memory_id, int | np.integer) and not isinstance(memory_id, bool)
        if not valid or not 0 <= memory_id < self._size:
            raise KeyError(f"no memory {memory_id!r}: this stream's ids are 0..{self._size - 1}.")
        i = int(memory_id)
        return Memory(
            i,
            KINDS[self._kinds[i]],
            self._texts[i],
            float(self._created[i]),
            float(self._last_access[i]),
            float(self._importance[i]),
            self._cites.get(i, ()),
        )

    def recent(self, n: int) -> list[Memory]:
        """The ``n`` most recently added memories, oldest first."""
        check_int("n", n, minimum=0)
        return [self[i] for i in range(max(self._size - n, 0), self._size)]

    def frame(self, *, embeddings: bool = False) -> pd.DataFrame:
        """One row per memory: agent_id, id, kind, text, created, last_access, importance, cites.

        Args:
            embeddings: add an ``embedding`` column (each a list of floats).
        """
        n = self._size
        columns: dict[str, Any] = {
            "agent_id": np.full(n, self.agent.unique_id, dtype=np.int64),
            "id": np.arange(n, dtype=np.int64),
            "kind": pd.Series([KINDS[c] for c in self._kinds[:n]], dtype="str"),
            "text": pd.Series(self._texts, dtype="str"),
            "created": self._created[:n].copy(),
            "last_access": self._last_access[:n].copy(),
            "importance": self._importance[:n].copy(),
            "cites": pd.Series([list(self._cites.get(i, ())) for i in range(n)], dtype=object),
        }
        if embeddings:
            columns["embedding"] = [row.tolist() for row in self._vectors[:n]]
        return pd.DataFrame(columns)

    def write(self, path: str | Path, *, embeddings: bool = False) -> Path:
        """Write :meth:`frame` to ``path``: JSON lines (``.jsonl``, ``.jsonl.gz``) or ``.parquet``.

        Raises:
            ValueError: for a path with another ending.
        """
        path = Path(path)
        frame = self.frame(embeddings=embeddings)
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        elif path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        else:
            raise ValueError(f"write memories to a file ending in one of {_FORMATS}, got {path.name!r}.")
        return path

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle, the columns cut to the memories (no spare capacity)."""
        state = self.__dict__.copy()
        for name in _COLUMNS:
            state[name] = state[name][: self._size].copy()
        return state

    def unit(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (rows) scaled to unit length (zero rows stay zero), checked against the memories'.

        Raises:
            ValueError: for rows of another length than the stored embeddings.
        """
        width = self._vectors.shape[1]
        if vectors.ndim != 2 or (self._size and vectors.shape[1] != width):
            raise ValueError(
                f"embeddings of length {vectors.shape[-1]} do not match this stream's ({width}): "
                "embed queries and memories with the same model."
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def append(
        self, text: str, kind: str, importance: float, vector: np.ndarray, cites: tuple[int, ...]
    ) -> int:
        """Store one memory (checked by the caller), created and last accessed now; its id."""
        i = self._size
        if i == len(self._created):
            self._grow(vector.shape[0])
        code = _CODES[kind]
        self._texts.append(text)
        self._kinds[i] = code
        self._created[i] = self._last_access[i] = self.now
        self._importance[i] = importance
        self._vectors[i] = vector
        if cites:
            self._cites[i] = cites
        if code != _REFLECTION:
            self.importance_since_reflection += importance
        self._size = i + 1
        return i

    def _grow(self, width: int) -> None:
        """Double the capacity of the columns (at least 16 rows)."""
        capacity = max(16, 2 * len(self._created))
        n = self._size
        for name in _COLUMNS:
            old = getattr(self, name)
            shape = (capacity, width) if old.ndim == 2 else (capacity,)
            column = np.zeros(shape, dtype=old.dtype)
            if n:
                column[:n] = old[:n]
            setattr(self, name, column)


def check_entry(text: Any, kind: Any) -> None:
    """Refuse a memory's text or kind, naming the fix.

    Raises:
        TypeError: for a text that is not a string.
        ValueError: for an empty text or an unknown kind.
    """
    if not isinstance(text, str):
        raise TypeError(f"a memory's text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError("a memory's text must not be empty.")
    kind_codes([kind])


def kind_codes(kinds: Iterable[str]) -> list[int]:
    """The codes of ``kinds`` in the kind column.

    Raises:
        ValueError: for an unknown kind, naming the kinds.
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [kind for kind in kinds if kind not in _CODES]
    if unknown:
        raise ValueError(f"unknown memory kind {unknown[0]!r}: use one of {KINDS}.")
    return [_CODES[kind] for kind in kinds]
