"""Variance shares: how much of an outcome's spread each factor, their interactions and the seed explain.

An ordinary least squares model of the metric on the factors (categorical) and, where the
design allows, all their interactions, decomposed by statsmodels' type II ANOVA. A source's
share is its sum of squares over the total sum of squares around the mean; the residual is
the seed (replication) variance. In a balanced complete design the shares sum to 1; in an
unbalanced one type II sums of squares need not, and the rows say so. Interactions are left
out (and folded into the residual) where a combination of levels has no run, or where every
combination has a single run (no seed variance left to estimate).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RESIDUAL", "variance_shares"]

RESIDUAL = "seed (residual)"


def variance_shares(runs: pd.DataFrame, metric: str, factors: Sequence[str]) -> list[dict[str, Any]]:
    """The share of ``metric``'s total sum of squares over ``runs`` explained by each source.

    Args:
        runs: one row per run, with the column ``metric`` and the ``factors`` columns.
        metric: the outcome column; runs where it is NaN are left out.
        factors: the factors; one with a single level among the runs with a value is left out.

    Returns:
        One row per source (each factor, each interaction such as ``"backend × framing"``,
        then :data:`RESIDUAL`): ``metric``, ``source``, ``df``, ``sum_sq``, ``share`` and
        ``design`` (how the decomposition was made); none without a factor or with too
        few runs to fit the main effects.
    """
    import statsmodels.formula.api as smf  # imported on use: it takes a while
    from statsmodels.stats.anova import anova_lm
    from statsmodels.tools.sm_exceptions import ValueWarning

    values = runs[metric].to_numpy(dtype=float)
    finite = np.isfinite(values)
    # Columns f0, f1, ... (a formula cannot name any axis), of the factors still varied.
    data = pd.DataFrame({"y": values[finite]})
    kept = [factor for factor in factors if runs.loc[finite, factor].nunique() >= 2]
    for i, factor in enumerate(kept):
        data[f"f{i}"] = runs.loc[finite, factor].astype(str).to_numpy()
    columns = [f"f{i}" for i in range(len(kept))]
    if not kept or len(data) <= 1 + sum(data[column].nunique() - 1 for column in columns):
        return []
    cells = data.groupby(columns).size()
    complete = len(cells) == math.prod(data[column].nunique() for column in columns)
    interactions = complete and len(kept) > 1 and len(data) > len(cells)
    balanced = complete and cells.nunique() == 1
    design = ", ".join(
        [
            "full factorial" if interactions else "main effects",
            *(["interactions in the residual"] if len(kept) > 1 and not interactions else []),
            "balanced" if balanced else "unbalanced: type II shares need not sum to 1",
        ]
    )
    total = float(((data["y"] - data["y"].mean()) ** 2).sum())
    formula = "y ~ " + (" * " if interactions else " + ").join(f"C({column})" for column in columns)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # Only the sums of squares are used: F of a perfect fit (no residual) divides by zero,
        # and the Wald test of a factor without variance in a cell warns of a rank-0 constraint.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ValueWarning)
        table = anova_lm(smf.ols(formula, data).fit(), typ=2)
    rows = []
    for source, entry in table.iterrows():
        rows.append(
            {
                "metric": metric,
                "source": _source_name(str(source), kept),
                "df": float(entry["df"]),
                "sum_sq": float(entry["sum_sq"]),
                "share": float(entry["sum_sq"]) / total if total > 0 else math.nan,
                "design": design if total > 0 else "no variance",
            }
        )
    return rows


def _source_name(source: str, factors: Sequence[str]) -> str:
    if source == "Residual":
        return RESIDUAL
    return " × ".join(factors[int(term[3:-1])] for term in source.split(":"))
