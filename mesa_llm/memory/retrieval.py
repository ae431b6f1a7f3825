"""Retrieval: how memories are scored against a query, and the top ones chosen, with numpy.

A memory's score is ``recency_weight * recency + importance_weight * importance +
relevance_weight * relevance``, each component min-max scaled over the candidates
(Park et al. 2023, section 4.1). Two presets:

- ``"paper"``, the paper's description: all weights 1; recency decays by 0.995 per unit of
  model time (a game hour) since the memory was last retrieved; 10 memories retrieved (the
  paper takes as many as fit in the prompt and names no number).
- ``"code"``, the authors' code (``reverie/backend_server/persona/cognitive_modules/
  retrieve.py``, ``new_retrieve``): weights 0.5 (recency), 2 (importance), 3 (relevance);
  recency ``0.99 ** position``, where positions 1, 2, ... number the candidates sorted by
  last access from the *least* recently accessed (``extract_recency`` on the ascending sort
  of ``new_retrieve``), so the code's recency favours the memories retrieved longest ago;
  30 memories retrieved (``n_count=30``). The preset reproduces that, inversion included.

A component that is equal over all candidates is scaled to 0.5 (the authors'
``normalize_dict_floats`` gives ``(target_max - target_min) / 2``): it adds the same amount
to every score, so it changes no ranking, as the paper intends, and a score stays on the
scale of one whose components vary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from mesa_llm.checks import check_int, check_number

__all__ = ["PRESETS", "Retrieval", "Retrieved", "similarities", "top"]


@dataclass(frozen=True, slots=True)
class Retrieval:
    """How memories are scored and how many are retrieved.

    Args:
        recency_weight: the weight of the scaled recency.
        importance_weight: the weight of the scaled importance.
        relevance_weight: the weight of the scaled relevance (cosine similarity to the query).
        decay: the recency factor: per unit of model time since the last access
            (``recency="time"``), or per rank position (``recency="rank"``).
        recency: ``"time"`` (the paper: ``decay ** (now - last_access)``) or ``"rank"``
            (the authors' code: ``decay ** position``, positions counted from the least
            recently accessed candidate; ties of last access counted newest first).
        k: how many memories a retrieval returns (fewer when there are fewer candidates).

    Raises:
        TypeError: for a weight, decay or ``k`` that is not a number.
        ValueError: for a negative weight, a decay outside (0, 1], ``k`` below 1, or an
            unknown ``recency``.
    """

    recency_weight: float = 1.0
    importance_weight: float = 1.0
    relevance_weight: float = 1.0
    decay: float = 0.995
    recency: Literal["time", "rank"] = "time"
    k: int = 10

    def __post_init__(self) -> None:
        for name in ("recency_weight", "importance_weight", "relevance_weight"):
            check_number(name, getattr(self, name), minimum=0)
        check_number("decay", self.decay, above=0, maximum=1)
        check_int("k", self.k, minimum=1)
        if self.recency not in ("time", "rank"):
            raise ValueError(
                f"recency must be 'time' (the paper) or 'rank' (the code), got {self.recency!r}."
            )

    @classmethod
    def of(cls, retrieval: Retrieval | str) -> Retrieval:
        """``retrieval`` itself, or the preset it names.

        Raises:
            ValueError: for an unknown preset name, naming the presets.
            TypeError: for anything but a Retrieval or a name.
        """
        if isinstance(retrieval, Retrieval):
            return retrieval
        if isinstance(retrieval, str):
            if retrieval not in PRESETS:
                raise ValueError(f"unknown retrieval preset {retrieval!r}: use one of {sorted(PRESETS)}.")
            return PRESETS[retrieval]
        raise TypeError(
            f"retrieval must be a Retrieval or a preset name ('paper', 'code'), got {retrieval!r}."
        )

    def components(
        self,
        last_access: np.ndarray,
        importance: np.ndarray,
        similarity: np.ndarray,
        ids: np.ndarray,
        now: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The scaled recency, importance and relevance of candidates (arrays of one length)."""
        if self.recency == "time":
            raw = np.exp(np.log(self.decay) * np.maximum(now - last_access, 0.0))
        else:  # the code's positions: by last access ascending, ties newest first
            order = np.lexsort((-ids, last_access))
            raw = np.empty(len(ids))
            raw[order] = np.exp(np.log(self.decay) * np.arange(1, len(ids) + 1, dtype=float))
        return _scaled(raw), _scaled(importance), _scaled(similarity)

    def total(self, recency: np.ndarray, importance: np.ndarray, relevance: np.ndarray) -> np.ndarray:
        """The weighted sum of the scaled components."""
        return (
            self.recency_weight * recency
            + self.importance_weight * importance
            + self.relevance_weight * relevance
        )


#: The named presets: the paper's description and the authors' code.
PRESETS: dict[str, Retrieval] = {
    "paper": Retrieval(),
    "code": Retrieval(
        recency_weight=0.5, importance_weight=2.0, relevance_weight=3.0, decay=0.99, recency="rank", k=30
    ),
}


def similarities(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The dot product of every row of ``vectors`` with ``query``, as float64.

    One single-threaded dot product per row (``np.vecdot``),
    not BLAS's matrix-vector product (``vectors @ query``), whose threads wait for each other
    on a busy machine: 10,000 x 384 took 8 ms instead of 0.26 ms on 2 shared cores
    (benchmarks/README.md, memory retrieval).
    """
    return np.vecdot(vectors, query).astype(np.float64)


def top(scores: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best scores, best first; equal scores newest (largest id) first.

    Selection is linear (``np.partition``); only the ``k`` chosen are sorted.
    """
    n = len(scores)
    if n > k:
        cut = np.partition(scores, n - k)[n - k]  # the k-th largest score
        chosen = np.flatnonzero(scores >= cut)  # k of them, and more only where some tie with it
    else:
        chosen = np.arange(n)
    return chosen[np.lexsort((-ids[chosen], -scores[chosen]))][:k]


def _scaled(values: np.ndarray) -> np.ndarray:
    """``values`` min-max scaled to [0, 1]; all 0.5 where they are all equal (or there are none)."""
    if len(values) == 0:
        return values.astype(float)
    low, high = values.min(), values.max()
    if high == low:
        return np.full(len(values), 0.5)
    return (values - low) / (high - low)


@dataclass(frozen=True, eq=False)
class Retrieved:
    """The memories one retrieval returned, best first, with the components of their scores.

    Attributes:
        query: what was asked.
        time: the model time of the retrieval (the memories' new last access).
        ids: the memories' ids.
        kinds: their kinds.
        texts: their texts.
        recency: their scaled recency (before the access updated it).
        importance: their scaled importance.
        relevance: their scaled relevance.
        score: the weighted sum.
    """

    query: str
    time: float
    ids: np.ndarray
    kinds: tuple[str, ...]
    texts: tuple[str, ...]
    recency: np.ndarray = field(repr=False)
    importance: np.ndarray = field(repr=False)
    relevance: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def frame(self) -> pd.DataFrame:
        """One row per memory, best first: id, kind, text, recency, importance, relevance, score."""
        return pd.DataFrame(
            {
                "id": self.ids.astype("int64"),
                "kind": list(self.kinds),
                "text": list(self.texts),
                "recency": self.recency,
                "importance": self.importance,
                "relevance": self.relevance,
                "score": self.score,
            }
        )
