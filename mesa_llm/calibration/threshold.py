"""The implied threshold: a logistic fit of P(action) against a share, and its verdict.

For a Schelling resident, P(move) is fitted against the share of its own group among its
occupied neighbouring cells, ``logit P(move) = b0 + b1 * share``, with statsmodels' GLM
(binomial family, logit link):

- sampled points (answer counts) are fitted as binomial counts, with the model-based
  covariance;
- scored points (option probabilities, exact for their prompts) are fitted as fractional
  responses (Papke and Wooldridge's fractional logit: the binomial quasi-likelihood), with
  the sandwich covariance (HC1), so that the intervals measure how far the points are
  from a logistic curve.

The threshold is the share where P(move) = 0.5, ``t* = -b0 / b1``, with a delta-method
interval. Where every point moves or stays for certain and a share separates the two (a
deterministic rule), the logistic fit does not exist (its slope is infinite): the
threshold is then the step, the midpoint between the largest share that moves and the
smallest that stays, with that gap as its interval.

A second fit on the raw counts (``logit P = c0 + c1 * same + c2 * other``) tells whether the
answers follow the share or the counts: the fit with the lower AIC is preferred.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from mesa_llm.calibration.described import Described
from mesa_llm.calibration.probe import json_ready

__all__ = ["ThresholdFit", "ThresholdVerdict", "fit_threshold"]

ThresholdVerdict = Literal["threshold", "flat", "never crosses", "inverted"]


@dataclass(frozen=True, slots=True, repr=False)
class ThresholdFit(Described):
    """The implied threshold of a probe and its verdict.

    Attributes:
        verdict: ``"threshold"`` (P(action) falls through 0.5 as the share rises),
            ``"flat"`` (the slope's interval contains 0, or every point answers alike),
            ``"never crosses"`` (P(action) falls with the share but stays on one side of 0.5
            over [0, 1]) or ``"inverted"`` (P(action) rises with the share: it moves when
            similar).
        threshold: t*, the share where P(action) = 0.5 (NaN unless it exists).
        threshold_ci: its interval (delta method; the gap of a step).
        slope: b1, the change of logit P(action) per unit of share (``-inf`` or ``inf``
            for a step).
        slope_ci: its interval (Wald).
        intercept: b0 (``-inf`` or ``inf`` where every point answers alike for certain).
        covariance: the covariance of (b0, b1), row by row (NaN without a logistic fit).
        mean_p: the mean of P(action) over the points fitted.
        step: whether the answers are a step (a deterministic rule), not a logistic curve.
        pseudo_r2: McFadden's pseudo-R-squared of the share fit (NaN for a step or flat).
        deviance: the share fit's deviance (NaN for a step or flat).
        aic_share: the AIC of the share fit.
        aic_counts: the AIC of the fit on the raw counts (NaN where not fitted).
        prefers: ``"share"`` or ``"counts"``: the fit with the lower AIC (``"share"`` on a tie
            or without the counts fit).
        points: the points fitted (those with a share).
        method: how it was fitted, in words.
        level: the intervals' confidence level.
    """

    verdict: ThresholdVerdict
    threshold: float
    threshold_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    intercept: float
    covariance: tuple[tuple[float, float], tuple[float, float]]
    mean_p: float
    step: bool
    pseudo_r2: float
    deviance: float
    aic_share: float
    aic_counts: float
    prefers: str
    points: int
    method: str
    level: float

    def describe(self, action: str = "move") -> str:
        """The verdict in one sentence, e.g. ``threshold t* = 0.42 [0.38, 0.46]``."""
        low, high = self.threshold_ci
        if self.verdict == "threshold":
            kind = " (a step)" if self.step else ""
            return f"threshold t* = {self.threshold:.2f} [{low:.2f}, {high:.2f}]{kind}"
        if self.verdict == "flat":
            return f"no threshold: P({action}) is flat (mean {self.mean_p:.2f})"
        if self.verdict == "inverted":
            return f"inverted: P({action}) rises with the share of its own group"
        return f"never crosses 0.5: P({action}) falls with the share but stays on one side of 0.5"

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready values (intervals as lists, non-finite numbers as None)."""
        return {name: json_ready(value) for name, value in asdict(self).items()}


def fit_threshold(
    table: pd.DataFrame,
    *,
    action: str = "move",
    share: str = "similarity",
    counts: tuple[str, ...] = ("same", "other"),
    alpha: float = 0.05,
) -> ThresholdFit:
    """Fit the implied threshold of a probe table (:func:`~mesa_llm.calibration.run_probe`).

    Args:
        table: the probe table: one row per point and action, with the points'
            coordinates (``share`` and ``counts`` among them), ``p``, ``answers`` and
            ``source``.
        action: the action whose probability falls as the share rises (``"move"``).
        share: the coordinate the threshold is a value of; points where it is NaN (no
            occupied neighbouring cell) are left out.
        counts: the coordinates of the counts fit; empty to skip it.
        alpha: the intervals' level is ``1 - alpha``.

    Raises:
        ValueError: for a table without the action, the share, or any point with a share.
    """
    rows = _rows(table, action, share)
    x = rows[share].to_numpy(float)
    p = rows["p"].to_numpy(float)
    n = rows["answers"].to_numpy(float)
    level = 1.0 - alpha
    certain = bool(np.all((p == 0.0) | (p == 1.0)))
    if certain:
        step = _step_fit(x, p, level)
        if step is not None:
            return step
    scored = bool((rows["source"] == "scored").all())
    exog = np.column_stack([np.ones_like(x), x])
    fit = _glm(p, n, exog, scored)
    if fit is None:  # every point answers alike
        return _flat(p, level, "every point gives the same probability")
    from scipy import stats  # imported on use, as statsmodels (in _glm) is: they take a while

    b0, b1 = (float(v) for v in fit.params)
    cov = np.asarray(fit.cov_params())
    z = float(stats.norm.ppf(1 - alpha / 2))
    se1 = math.sqrt(max(cov[1, 1], 0.0))
    slope_ci = (b1 - z * se1, b1 + z * se1)
    threshold, threshold_ci = _threshold(b0, b1, cov, z)
    counts_fit = (
        _glm(p, n, np.column_stack([np.ones_like(x), rows[list(counts)].to_numpy(float)]), scored)
        if counts
        else None
    )
    aic_counts = float(counts_fit.aic) if counts_fit is not None else math.nan
    if slope_ci[0] <= 0.0 <= slope_ci[1]:
        verdict: ThresholdVerdict = "flat"
    elif b1 > 0:
        verdict = "inverted"
    elif 0.0 <= threshold <= 1.0:
        verdict = "threshold"
    else:
        verdict = "never crosses"
    if verdict != "threshold":
        threshold, threshold_ci = math.nan, (math.nan, math.nan)
    method = (
        "fractional logit (binomial quasi-likelihood) of the scored probabilities, HC1 sandwich covariance"
        if scored
        else "binomial logit of the answer counts, model-based covariance"
    )
    return ThresholdFit(
        verdict=verdict,
        threshold=threshold,
        threshold_ci=threshold_ci,
        slope=b1,
        slope_ci=slope_ci,
        intercept=b0,
        covariance=((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
        mean_p=float(p.mean()),
        step=False,
        pseudo_r2=float(fit.pseudo_rsquared(kind="mcf")),
        deviance=float(fit.deviance),
        aic_share=float(fit.aic),
        aic_counts=aic_counts,
        prefers="counts" if aic_counts < float(fit.aic) else "share",
        points=len(x),
        method=method + "; delta-method interval of t* = -b0 / b1",
        level=level,
    )


def _rows(table: pd.DataFrame, action: str, share: str) -> pd.DataFrame:
    """The rows of ``action`` with a share and an estimate."""
    if share not in table.columns:
        raise ValueError(f"The probe table has no column {share!r}: its columns are {list(table.columns)}.")
    rows = table[table["action"] == action]
    if rows.empty:
        raise ValueError(
            f"The probe table has no action {action!r}: its actions are {sorted(set(table['action']))}."
        )
    rows = rows[rows[share].notna() & rows["p"].notna()]
    if rows.empty:
        raise ValueError(f"No point of the probe has a {share} and an answer to fit.")
    return rows


def _glm(p: np.ndarray, n: np.ndarray, exog: np.ndarray, scored: bool) -> Any:
    """The binomial GLM of ``p`` (fractions, or shares of ``n`` answers); None if it cannot be fitted."""
    import statsmodels.api as sm  # a slow import, needed only here
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    if np.ptp(p) == 0.0:
        return None
    family = sm.families.Binomial()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        if scored:
            return sm.GLM(p, exog, family=family).fit(cov_type="HC1")
        successes = p * n
        return sm.GLM(np.column_stack([successes, n - successes]), exog, family=family).fit()


def _threshold(b0: float, b1: float, cov: np.ndarray, z: float) -> tuple[float, tuple[float, float]]:
    """t* = -b0 / b1 and its delta-method interval."""
    if b1 == 0.0:
        return math.nan, (math.nan, math.nan)
    t = -b0 / b1
    gradient = np.array([-1.0 / b1, b0 / b1**2])
    se = math.sqrt(max(float(gradient @ cov @ gradient), 0.0))
    return t, (t - z * se, t + z * se)


def _step_fit(x: np.ndarray, p: np.ndarray, level: float) -> ThresholdFit | None:
    """The fit of certain answers that a share separates; None if no share does."""
    acts, waits = x[p == 1.0], x[p == 0.0]
    if len(acts) == 0 or len(waits) == 0:
        return _flat(p, level, f"every point answers {'yes' if len(waits) == 0 else 'no'} for certain")
    mean_p = float(p.mean())
    if acts.max() < waits.min():
        low, high = float(acts.max()), float(waits.min())
        return _certain(
            "threshold", (low + high) / 2, (low, high), -math.inf, math.nan, mean_p, len(x), level
        )
    if waits.max() < acts.min():
        return _certain("inverted", math.nan, (math.nan, math.nan), math.inf, math.nan, mean_p, len(x), level)
    return None


def _flat(p: np.ndarray, level: float, why: str) -> ThresholdFit:
    """The fit of points that all give the same P(action) (a logistic curve of slope 0)."""
    value = float(p[0])
    intercept = math.inf if value == 1.0 else -math.inf if value == 0.0 else math.log(value / (1.0 - value))
    return _certain("flat", math.nan, (math.nan, math.nan), 0.0, intercept, value, len(p), level, why)


def _certain(
    verdict: ThresholdVerdict,
    threshold: float,
    interval: tuple[float, float],
    slope: float,
    intercept: float,
    mean_p: float,
    points: int,
    level: float,
    why: str = "certain answers separated by the share",
) -> ThresholdFit:
    """A fit without a logistic curve's intervals: a step, or the same answer everywhere."""
    nan = math.nan
    return ThresholdFit(
        verdict=verdict,
        threshold=threshold,
        threshold_ci=interval,
        slope=slope,
        slope_ci=(slope, slope),
        intercept=intercept,
        covariance=((nan, nan), (nan, nan)),
        mean_p=mean_p,
        step=verdict != "flat",
        pseudo_r2=math.nan,
        deviance=math.nan,
        aic_share=math.nan,
        aic_counts=math.nan,
        prefers="share",
        points=points,
        method=f"no logistic fit: {why}"
        + ("; t* is the midpoint of the gap" if verdict == "threshold" else ""),
        level=level,
    )
