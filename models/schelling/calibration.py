"""The threshold probe of Schelling's LLM residents: the rule they imply, and the rule residents it gives.

The grid is every composition (same, other, empty) of a resident's full neighbourhood for
the model's radius ((2r + 1)² - 1 cells on a grid: 45 points at radius 1). Each point is
the :class:`~mesa_llm_models.schelling.agents.Neighbourhood` a resident of the model
observes, asked of an LLM resident the model builds (its framing, persona and backend),
so every probed prompt is one a resident of the model sees. P(move) is fitted against the
share of the own group (:func:`mesa_llm.calibration.fit_threshold`); the point with no
occupied neighbour has no share and is in the table, not the fit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mesa_llm.calibration import Probe, ProbePoint, ProbeResult, ThresholdFit, fit_threshold
from mesa_llm.calibration.figures import threshold_figure
from mesa_llm_models.schelling.agents import Neighbourhood

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from mesa_llm_models.schelling.model import SchellingModel

__all__ = ["THRESHOLD_PROBE", "implied_rules", "threshold_grid"]

_CERTAIN_LOGIT = 50.0
"""The intercept of a logistic rule that moves (or stays) for certain, within 2e-22."""


def threshold_grid(model: SchellingModel) -> list[ProbePoint]:
    """Every composition of a full neighbourhood, asked of one LLM resident of ``model``."""
    cells = model.neighbourhood_size
    agent = model.llm_resident(model.grid.all_cells.cells[0], 0)
    points = []
    for same in range(cells + 1):
        for other in range(cells + 1 - same):
            observed = Neighbourhood(same, other, cells - same - other)
            share = observed.similarity if same + other else math.nan
            coordinates = {"same": same, "other": other, "empty": observed.empty, "similarity": share}
            points.append(ProbePoint(coordinates, agent, observed))
    return points


def fit_move_threshold(table: pd.DataFrame, alpha: float = 0.05) -> ThresholdFit:
    """P(move) against the share of the own group, and against the counts."""
    return fit_threshold(table, action="move", share="similarity", counts=("same", "other"), alpha=alpha)


def implied_rules(fit: ThresholdFit) -> dict[str, dict[str, Any]]:
    """The rule residents a threshold fit implies, name -> model parameters.

    The deterministic population is what LLM residents do that take the most probable
    answer (a scoring backend at temperature 0); the stochastic one is what they do that
    draw their answer from its probabilities (at temperature 1):

    - ``threshold``: deterministic residents at t* (``rule_threshold``), where the fitted
      P(move) falls through 0.5; at 0, residents that never move, where it stays below 0.5
      at every share (the most probable answer is always "stay");
    - ``mover``: residents that always move, where P(move) stays above 0.5 at every share
      without being certain (certain, it is the ``logistic`` population);
    - ``logistic``: residents drawing their move with the fitted curve (``move_intercept``,
      ``move_slope``), where it is a logistic curve (not a step). An answer the same at
      every point gives the constant rule it is: a certain "move" is a logistic rule of
      slope 0 that moves for certain.
    """
    rules: dict[str, dict[str, Any]] = {}
    ends = (fit.intercept, fit.intercept + fit.slope)  # logit P(move) at the shares 0 and 1
    if fit.verdict == "threshold":
        rules["threshold"] = {"rule_threshold": float(fit.threshold)}
    elif all(end < 0 for end in ends):
        rules["threshold"] = {"rule_threshold": 0.0}
    elif all(end > 0 for end in ends) and fit.intercept != math.inf:
        rules["mover"] = {"move_intercept": _CERTAIN_LOGIT, "move_slope": 0.0}
    if not fit.step and math.isfinite(fit.slope) and fit.intercept != -math.inf:
        intercept = max(min(fit.intercept, _CERTAIN_LOGIT), -_CERTAIN_LOGIT)
        rules["logistic"] = {"move_intercept": float(intercept), "move_slope": float(fit.slope)}
    return rules


def implied_threshold(fit: ThresholdFit) -> tuple[float, float, float]:
    """t* and its interval (NaN where P(move) has no threshold)."""
    return fit.threshold, *fit.threshold_ci


def threshold_probe_figure(result: ProbeResult) -> Figure:
    """P(move) against the share, points sized by the occupied neighbouring cells."""
    table = result.table.assign(occupied=result.table["same"] + result.table["other"])
    framing = result.parameters.get("framing")
    title = f"{result.scenario.name}: {result.backend}, framing {framing}"
    return threshold_figure(table, result.fit, title=title, action="move", size="occupied")


THRESHOLD_PROBE = Probe(
    name="threshold",
    description="P(move) at every composition of a neighbourhood, fitted by a logistic curve of the share",
    grid=threshold_grid,
    fit=fit_move_threshold,
    parameters={"width": 11, "height": 11, "torus": True, "density": 0.0},
    rules=implied_rules,
    figure=threshold_probe_figure,
    implied=implied_threshold,
    implied_name="t*",
)
"""Schelling's threshold probe (radius up to 5 on the probing model's 11 x 11 torus)."""
