"""Calibrating prompts and rules: knob maps of an implied parameter, and the rule parameter of an outcome.

A prompt knob (a persona's "tolerance", the framing) cannot be calibrated the way a rule
threshold is, but it can be mapped: :func:`knob_map` probes the implied parameter (a
Schelling resident's t*) at every value of the knob, and says whether it moves with the
knob and how far. Its :meth:`KnobMap.inverse` picks the knob value whose implied
parameter is nearest a target: an LLM population calibrated to a threshold.

- **Monotonicity** is Spearman's ρ between the knob's values, in the order given, and the
  implied estimates. Its interval is a parametric bootstrap of the probes' uncertainty:
  each draw replaces every estimate by a normal draw with the standard error its interval
  implies (half its width over the normal quantile), and recomputes ρ; the percentile
  interval of the draws. It is **monotone** when that interval excludes 0.
- :func:`calibrate` is the same question for rule populations: the rule parameter whose
  runs reproduce an observed macro outcome, by a bounded scalar search (a grid over the
  bounds, then scipy's bounded Brent search in the best cell) of the squared distance
  between the mean outcome over the seeds and the target, on common seeds (every
  evaluation runs the same seeds through :class:`~mesa_llm.experiments.Sweep`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from mesa_llm.calibration.described import Described
from mesa_llm.calibration.scenarios import ProbeResult, find_probe, probe_scenario
from mesa_llm.checks import check_int, check_number
from mesa_llm.experiments import Sweep
from mesa_llm.lab import ScenarioSpec, find_scenario

__all__ = ["Calibration", "KnobMap", "calibrate", "knob_map"]


@dataclass(frozen=True, slots=True, repr=False)
class KnobMap(Described):
    """The implied parameter across the values of a prompt knob.

    Attributes:
        knob: the model parameter varied.
        implied_name: the implied parameter's name.
        results: the probe at each value, in the order given.
        curve: one row per value: ``value``, ``estimate``, ``ci_low``, ``ci_high``,
            ``verdict`` (the fit's sentence).
        spearman: ρ between the values' order and the estimates (NaN with fewer than
            three estimates).
        spearman_ci: its bootstrap interval.
        monotone: whether that interval excludes 0.
        span: the largest minus the smallest estimate (the knob's range of effect).
    """

    knob: str
    implied_name: str
    results: tuple[ProbeResult, ...]
    curve: pd.DataFrame
    spearman: float
    spearman_ci: tuple[float, float]
    monotone: bool
    span: float

    def inverse(self, target: float) -> Any:
        """The knob value whose implied estimate is nearest ``target`` (the first on a tie).

        Raises:
            ValueError: when no value has an estimate.
        """
        check_number("target", target)
        finite = self.curve[np.isfinite(self.curve["estimate"])]
        if finite.empty:
            raise ValueError(
                f"No value of {self.knob} implies a {self.implied_name}: there is nothing to invert."
            )
        return finite.loc[(finite["estimate"] - target).abs().idxmin(), "value"]

    def describe(self) -> str:
        """The map in one sentence: monotone or not, with ρ, its interval and the span."""
        found = int(np.isfinite(self.curve["estimate"]).sum())
        if not found:
            return f"{self.knob} -> {self.implied_name}: no value implies a {self.implied_name}"
        if found < 3:
            return (
                f"{self.knob} -> {self.implied_name}: only {found} of {len(self.curve)} values imply "
                f"a {self.implied_name}, too few for a trend"
            )
        low, high = self.spearman_ci
        trend = "rises" if self.spearman > 0 else "falls"
        shape = (
            f"monotone: {self.implied_name} {trend} with {self.knob}"
            if self.monotone
            else "not shown monotone"
        )
        return (
            f"{self.knob} -> {self.implied_name}: {shape} (Spearman ρ = {self.spearman:.2f} "
            f"[{low:.2f}, {high:.2f}]), span {self.span:.2f}"
        )


def knob_map(
    scenario: str | ScenarioSpec,
    knob: str,
    values: Sequence[Any],
    *,
    probe: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    **options: Any,
) -> KnobMap:
    """Probe the implied parameter at each value of ``knob``.

    Args:
        scenario: the scenario or its name.
        knob: a model parameter (``"tolerance"``, ``"framing"``).
        values: its values, in their order (an ordinal knob's order is the one ρ tests).
        probe: the probe's name; None for the scenario's first.
        parameters: the other model parameters.
        n_boot: the bootstrap draws of ρ's interval.
        seed: the probes' model ``rng`` and the bootstrap's seed.
        **options: passed to :func:`~mesa_llm.calibration.probe_scenario` (``backend``,
            ``samples``, ``temperature``, ``cache``, ``alpha``).

    Raises:
        ValueError: for fewer than two values, a probe without an implied parameter, or
            what :func:`~mesa_llm.calibration.probe_scenario` refuses.
    """
    spec = find_scenario(scenario) if isinstance(scenario, str) else scenario
    chosen = find_probe(spec, probe)
    if chosen.implied is None:
        raise ValueError(f"The {chosen.name} probe of {spec.name} declares no implied parameter to map.")
    values = list(values)
    if len(values) < 2:
        raise ValueError(f"A knob map needs at least two values of {knob}, got {values!r}.")
    check_int("n_boot", n_boot, minimum=100)
    results = tuple(
        probe_scenario(
            spec, chosen.name, parameters={**(parameters or {}), knob: value}, seed=seed, **options
        )
        for value in values
    )
    rows = []
    for value, result in zip(values, results, strict=True):
        estimate, low, high = chosen.implied(result.fit)
        rows.append(
            {
                "value": value,
                "estimate": estimate,
                "ci_low": low,
                "ci_high": high,
                "verdict": result.describe(),
            }
        )
    curve = pd.DataFrame(rows)
    rho, interval = _spearman(curve, n_boot, np.random.default_rng(seed), results[0].fit.level)
    finite = curve["estimate"][np.isfinite(curve["estimate"])]
    span = float(finite.max() - finite.min()) if len(finite) else math.nan
    monotone = bool(math.isfinite(interval[0]) and (interval[0] > 0 or interval[1] < 0))
    return KnobMap(knob, chosen.implied_name, results, curve, rho, interval, monotone, span)


def _spearman(
    curve: pd.DataFrame, n_boot: int, rng: np.random.Generator, level: float
) -> tuple[float, tuple[float, float]]:
    """ρ of the finite estimates against the values' order, and its parametric bootstrap interval."""
    finite = curve[np.isfinite(curve["estimate"])]
    if len(finite) < 3:
        return math.nan, (math.nan, math.nan)
    order = finite.index.to_numpy(float)
    estimate = finite["estimate"].to_numpy(float)
    z = float(stats.norm.ppf(0.5 + level / 2))
    se = np.nan_to_num((finite["ci_high"] - finite["ci_low"]).to_numpy(float) / (2 * z))
    rho = _rho(order, estimate)
    draws = estimate + rng.standard_normal((n_boot, len(estimate))) * se
    rhos = np.array([_rho(order, draw) for draw in draws])
    alpha = 1 - level
    low, high = np.nanquantile(rhos, [alpha / 2, 1 - alpha / 2])
    return rho, (float(low), float(high))


def _rho(order: np.ndarray, estimate: np.ndarray) -> float:
    """Spearman's ρ; 0 for estimates that are all equal (no order at all)."""
    if np.ptp(estimate) == 0:
        return 0.0
    return float(stats.spearmanr(order, estimate).statistic)


@dataclass(frozen=True, slots=True, repr=False)
class Calibration(Described):
    """The rule parameter that reproduces a macro outcome.

    Attributes:
        parameter: the rule parameter searched.
        value: the value found.
        outcome: the outcome metric matched.
        target: its target value.
        achieved: the mean outcome over the seeds at ``value``.
        evaluations: every value tried: ``value``, ``mean``, ``sd`` (over the seeds).
    """

    parameter: str
    value: float
    outcome: str
    target: float
    achieved: float
    evaluations: pd.DataFrame

    def describe(self) -> str:
        """The result in one sentence."""
        return (
            f"{self.parameter} = {self.value:.3f} gives mean {self.outcome} {self.achieved:.4g} "
            f"(target {self.target:.4g}, {len(self.evaluations)} evaluations)"
        )


def calibrate(
    scenario: str | ScenarioSpec,
    parameter: str,
    target_metric: str,
    target_value: float,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
    fixed: Mapping[str, Any] | None = None,
    seeds: Iterable[int] = range(5),
    steps: int = 50,
    grid: int = 9,
    xatol: float = 0.005,
    workers: int = 1,
) -> Calibration:
    """Find the rule parameter whose rule-only runs reproduce ``target_value`` of ``target_metric``.

    Args:
        scenario: the scenario or its name.
        parameter: a numeric model parameter of its rule agents (``"homophily"``).
        target_metric: an outcome of the scenario (its :class:`~mesa_llm.lab.Outcome`,
            summarised as a sweep does), or any model reporter (its last value).
        target_value: the value to reproduce (an LLM population's mean, say).
        bounds: the parameter's search interval.
        fixed: the other model parameters (``llm_share`` is 0: rule agents only).
        seeds: the seeds of every evaluation (common to all of them).
        steps: the length of each run.
        grid: the evaluations of the first pass, evenly over the bounds.
        xatol: the refinement's tolerance on the parameter.
        workers: local worker processes for each evaluation's runs.

    Raises:
        ValueError: for bad bounds, an unknown parameter or metric.
    """
    low, high = (check_number("bounds", bound) for bound in bounds)
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with low < high, got {bounds!r}.")
    check_number("target_value", target_value)
    check_int("grid", grid, minimum=3)
    spec = find_scenario(scenario) if isinstance(scenario, str) else scenario
    outcome = {o.metric: o for o in spec.outcomes}.get(target_metric)
    seeds = tuple(seeds)
    evaluated: dict[float, tuple[float, float]] = {}

    def mean_at(x: float) -> float:
        x = float(x)
        if x not in evaluated:
            design = Sweep(
                spec,
                fixed={**(fixed or {}), "llm_share": 0.0, parameter: x},
                seeds=seeds,
                steps=steps,
                backend="rule",
            )
            result = design.run(workers=workers)
            values = _outcomes(result, target_metric, outcome)
            evaluated[x] = (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)
        return evaluated[x][0]

    def loss(x: float) -> float:
        return (mean_at(x) - target_value) ** 2

    points = np.linspace(low, high, grid)
    best = int(np.argmin([loss(x) for x in points]))
    left, right = points[max(best - 1, 0)], points[min(best + 1, grid - 1)]
    refined = optimize.minimize_scalar(loss, bounds=(left, right), method="bounded", options={"xatol": xatol})
    value = min(evaluated, key=lambda x: (loss(x), abs(x - refined.x)))
    evaluations = pd.DataFrame(
        [{"value": x, "mean": m, "sd": sd} for x, (m, sd) in sorted(evaluated.items())]
    )
    return Calibration(parameter, value, target_metric, float(target_value), evaluated[value][0], evaluations)


def _outcomes(result: Any, metric: str, outcome: Any) -> np.ndarray:
    """Each run's value of ``metric``: its outcome summary, else the reporter's last value."""
    if outcome is not None:
        return result.summary[metric].to_numpy(float)
    steps = result.steps
    if metric not in steps.columns:
        raise ValueError(
            f"{metric!r} is neither an outcome nor a reporter of the runs: {sorted(steps.columns)}."
        )
    return steps.groupby("run")[metric].last().to_numpy(float)
