"""Mixing populations: which of a scenario's agents decide with a language model."""

from __future__ import annotations

import numpy as np

__all__ = ["llm_share_indices"]


def llm_share_indices(rng: np.random.Generator, n: int, share: float) -> set[int]:
    """Indices of ``round(share * n)`` of ``n`` agents, drawn without replacement.

    Draw from the model's numpy ``rng`` (``model.rng``), so the choice never perturbs the
    ``model.random`` trajectory of the rule dynamics. All or none are chosen without a draw.
    """
    k = round(share * n)
    if k in (0, n):
        return set(range(k))
    return {int(i) for i in rng.choice(n, size=k, replace=False)}
