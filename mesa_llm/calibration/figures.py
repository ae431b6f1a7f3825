"""The figure of a threshold probe: P(action) against the share, the fitted curve and its band."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from mesa_llm.calibration.threshold import ThresholdFit

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["threshold_figure"]


def threshold_figure(
    table: pd.DataFrame,
    fit: ThresholdFit,
    *,
    title: str,
    action: str = "move",
    share: str = "similarity",
    size: str | None = None,
) -> Figure:
    """P(``action``) at each point against its share, with the fitted curve and its pointwise band.

    Args:
        table: the probe table.
        fit: its threshold fit.
        title: the figure's title (the scenario, backend and framing, say).
        action: the action plotted.
        share: the coordinate on the x axis.
        size: a coordinate that sizes the points (the occupied neighbouring cells, say);
            None for one size.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while

    rows = table[(table["action"] == action) & table[share].notna()]
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    sizes = 12 + 10 * rows[size].to_numpy(float) if size is not None else 30
    errors = np.vstack([rows["p"] - rows["ci_low"], rows["ci_high"] - rows["p"]]).clip(min=0)
    sampled = (rows["source"] == "sampled").any()
    if sampled:
        axes.errorbar(rows[share], rows["p"], yerr=errors, fmt="none", ecolor="0.7", lw=0.8, zorder=1)
    label = "probed points" + (f" (size: {size.replace('_', ' ')})" if size is not None else "")
    axes.scatter(rows[share], rows["p"], s=sizes, alpha=0.6, label=label, zorder=2)
    _draw_fit(axes, fit)
    axes.axhline(0.5, color="0.5", lw=0.6, ls=":")
    axes.set(xlabel=f"{share} (share of own group among occupied neighbours)", ylabel=f"P({action})")
    axes.set(xlim=(-0.03, 1.03), ylim=(-0.03, 1.03), title=f"{title}\n{fit.describe(action)}")
    axes.legend(loc="best", fontsize="small")
    return figure


def _draw_fit(axes, fit: ThresholdFit) -> None:
    """The fitted curve with its pointwise band, or the step; nothing for a certain flat answer."""
    x = np.linspace(0.0, 1.0, 201)
    if fit.step:
        if fit.verdict == "threshold":
            axes.step([0.0, fit.threshold, 1.0], [1.0, 0.0, 0.0], where="post", color="C1", label="step fit")
            axes.axvspan(*fit.threshold_ci, color="C1", alpha=0.15, label="threshold interval")
        return
    if not (math.isfinite(fit.intercept) and math.isfinite(fit.slope)):
        return
    eta = fit.intercept + fit.slope * x
    axes.plot(x, _logistic(eta), color="C1", label="logistic fit")
    cov = np.array(fit.covariance)
    if np.isfinite(cov).all():
        se = np.sqrt(np.maximum(cov[0, 0] + 2 * x * cov[0, 1] + x**2 * cov[1, 1], 0.0))
        z = _z(fit.level)
        axes.fill_between(
            x,
            _logistic(eta - z * se),
            _logistic(eta + z * se),
            color="C1",
            alpha=0.2,
            label=f"{fit.level:.0%} band",
        )
    if fit.verdict == "threshold":
        axes.axvline(fit.threshold, color="C1", lw=0.8, ls="--")


def _logistic(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


def _z(level: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + level / 2))
