"""Round trips: rule agents parameterised by a probe's fit, run against the LLM population.

A probe measures what an LLM agent answers to one observation at a time. If that is all
its decisions depend on, rule agents that follow the fitted rule must reproduce the LLM
population's macro outcomes. :func:`round_trip` runs the LLM population and each rule
population the fit implies (the scenario's :attr:`Probe.rules`) on the same seeds, with
the same parameters otherwise, through sweeps (:class:`~mesa_llm.experiments.Sweep`),
and compares each outcome of the scenario (its :class:`~mesa_llm.lab.Outcome` and margin δ):

- the runs are paired by seed (the same seed gives both populations the same world to
  start from): Δ is the mean over seeds of (rule - LLM), with a percentile bootstrap
  interval of the paired differences;
- equivalence is TOST on the paired differences against ±δ (statsmodels'
  ``ttost_paired``), a difference the paired t test, both Holm-corrected over the
  population's outcomes.

A population's verdict: **reproduces** when every outcome is equivalent; **does not**
when some outcome differs by at least δ (the t test rejects Δ = 0 and |Δ| >= δ), which
means the LLM agents use more than the probed observation (their history, the other
agents' words, the step...), or answer otherwise in a run than in the probe; otherwise
**inconclusive**, with the seeds a power analysis says would decide it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from mesa_llm.calibration.described import Described
from mesa_llm.calibration.scenarios import ProbeResult
from mesa_llm.checks import check_int, check_number
from mesa_llm.experiments import Sweep
from mesa_llm.experiments.comparisons import compare_paired, holm, seeds_to_decide

__all__ = ["LLM_POPULATION", "RoundTrip", "round_trip"]

LLM_POPULATION = "llm"
"""The name of the LLM population in a round trip's runs."""

RoundTripVerdict = Literal["reproduces", "does not", "inconclusive"]


@dataclass(frozen=True, slots=True, repr=False)
class RoundTrip(Described):
    """The LLM population against the rule populations a fit implies.

    Attributes:
        result: the probe whose fit parameterised the rule populations.
        populations: each population's parameters (``llm`` first).
        summary: one row per run: ``population``, ``seed`` and the outcomes.
        comparisons: one row per rule population and outcome: ``population``,
            ``outcome``, ``margin``, ``llm_mean``, ``rule_mean``, ``diff`` (rule - LLM),
            ``ci_low``, ``ci_high``, ``p_tost``, ``p_diff`` (both Holm-corrected),
            ``equivalent``, ``different``, ``seeds_needed``. An outcome that no pair of
            runs defines (NaN in every run) has ``seeds`` 0 and takes no part in the verdict.
        verdicts: each rule population's verdict.
        level: the intervals' confidence level.
    """

    result: ProbeResult
    populations: Mapping[str, Mapping[str, Any]]
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    verdicts: Mapping[str, RoundTripVerdict]
    level: float

    def describe(self) -> str:
        """One line per rule population: its verdict and the differences behind it."""
        lines = []
        for population, verdict in self.verdicts.items():
            rows = self.comparisons[self.comparisons["population"] == population]
            deltas = "; ".join(
                f"{r.outcome} Δ = {r.diff:+.3g} [{r.ci_low:+.3g}, {r.ci_high:+.3g}], δ = {r.margin:g}"
                if r.seeds
                else f"{r.outcome} undefined in every run"
                for r in rows.itertuples()
            )
            lines.append(f"{population}: {_verdict_text(verdict, rows)} ({deltas})")
        return "\n".join(lines)

    def write(self, out: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the runs (``roundtrip_runs.csv``), comparisons (``roundtrip.csv``) and verdicts (JSON)."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "runs": folder / "roundtrip_runs.csv",
            "comparisons": folder / "roundtrip.csv",
            "verdicts": folder / "roundtrip.json",
        }
        self.summary.to_csv(paths["runs"], index=False)
        self.comparisons.to_csv(paths["comparisons"], index=False)
        verdicts = {
            "populations": {name: dict(values) for name, values in self.populations.items()},
            "verdicts": dict(self.verdicts),
            "description": self.describe().splitlines(),
            "level": self.level,
        }
        paths["verdicts"].write_text(json.dumps(verdicts, indent=2, default=str) + "\n", encoding="utf-8")
        return paths


def round_trip(
    result: ProbeResult,
    *,
    seeds: Iterable[int] = range(10),
    steps: int = 50,
    parameters: Mapping[str, Any] | None = None,
    workers: int = 1,
    cache: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
) -> RoundTrip:
    """Run the LLM population and the rule populations ``result``'s fit implies, and compare them.

    Args:
        result: a probe of a scenario (:func:`~mesa_llm.calibration.probe_scenario`).
        seeds: the seeds every population runs.
        steps: the length of each run.
        parameters: the runs' parameters over those the probe was given (its
            ``settings``) and the probe's ``trip_parameters``; ``llm_share`` and the
            rule's parameters are set per population.
        workers: local worker processes for the runs.
        cache: a SQLite response cache file for the LLM population's calls.
        out: a folder: each population's sweep goes into a subfolder of its name (and
            resumes there).
        margins: equivalence margins δ by outcome, over the scenario's own.
        alpha: the tests' level; the intervals' level is ``1 - alpha``.
        n_boot: bootstrap resamples.

    Raises:
        ValueError: for a probe without rules, a fit that implies none, a scenario without
            outcomes, or a bad argument.
        KeyboardInterrupt: when Ctrl-C stops a population's sweep (its finished runs are
            in ``out``, and the same call resumes them); nothing is compared from part of
            the runs.
    """
    check_number("alpha", alpha, above=0, below=1)
    check_int("n_boot", n_boot, minimum=100)
    spec, probe = result.scenario, result.probe
    if probe.rules is None:
        raise ValueError(f"The {probe.name} probe of {spec.name} declares no rules to run back.")
    rules = probe.rules(result.fit)
    if not rules:
        raise ValueError(f"The fit ({result.describe()}) implies no rule population to run back.")
    if not spec.outcomes:
        raise ValueError(f"{spec.name} declares no outcomes to compare the populations by.")
    base = {**result.settings, **probe.trip_parameters, **(parameters or {})}
    populations = {LLM_POPULATION: {"llm_share": 1.0}} | {
        name: {"llm_share": 0.0, **values} for name, values in rules.items()
    }
    seeds = tuple(seeds)
    frames = []
    for name, values in populations.items():
        sweep = Sweep(
            spec,
            fixed={**base, **values},
            seeds=seeds,
            steps=steps,
            backend=result.chat_model if name == LLM_POPULATION else "rule",
        )
        folder = None if out is None else Path(out) / name
        ran = sweep.run(workers=workers, cache=cache, out=folder)
        if ran.interrupted:  # Ctrl-C: what finished is in the folder, and a rerun resumes it
            raise KeyboardInterrupt(f"the round trip was interrupted during the {name} population's runs")
        frames.append(ran.summary.assign(population=name))
    summary = pd.concat(frames, ignore_index=True)
    margin_of = {o.metric: o.margin for o in spec.outcomes} | dict(margins or {})
    metrics = [o.metric for o in spec.outcomes]
    comparisons = pd.concat(
        [_compare(summary, name, metrics, margin_of, alpha, n_boot) for name in rules], ignore_index=True
    )
    verdicts = {name: _verdict(comparisons[comparisons["population"] == name]) for name in rules}
    columns = ["population", "seed", *metrics]
    return RoundTrip(result, populations, summary[columns], comparisons, verdicts, 1.0 - alpha)


def _compare(
    summary: pd.DataFrame,
    population: str,
    metrics: list[str],
    margins: Mapping[str, float],
    alpha: float,
    n_boot: int,
) -> pd.DataFrame:
    """The comparisons of one rule population with the LLM population, one row per outcome."""
    llm = summary[summary["population"] == LLM_POPULATION].set_index("seed")
    rule = summary[summary["population"] == population].set_index("seed")
    rows = []
    for metric in metrics:
        paired = pd.concat([rule[metric], llm[metric]], axis=1, keys=["rule", "llm"]).dropna()
        a, b = paired["rule"].to_numpy(float), paired["llm"].to_numpy(float)
        margin = float(margins[metric])
        compared = compare_paired(a, b, margin, n_boot=n_boot, rng=np.random.default_rng(0))
        d = a - b
        if len(d) < 2:
            p_diff = math.nan
        elif compared["sd"] == 0:  # no variance: the difference is exact
            p_diff = 1.0 if d[0] == 0 else 0.0
        else:
            p_diff = float(stats.ttest_1samp(d, 0.0).pvalue)
        rows.append(
            {"population": population, "outcome": metric, "margin": margin, "seeds": len(d)}
            | {"llm_mean": float(paired["llm"].mean()), "rule_mean": float(paired["rule"].mean())}
            | {key: compared[key] for key in ("diff", "ci_low", "ci_high", "p_tost", "sd")}
            | {"p_diff": p_diff}
        )
    frame = pd.DataFrame(rows)
    frame["p_tost"] = holm(frame["p_tost"])
    frame["p_diff"] = holm(frame["p_diff"])
    frame["equivalent"] = frame["p_tost"] < alpha
    frame["different"] = (frame["p_diff"] < alpha) & (frame["diff"].abs() >= frame["margin"])
    frame["seeds_needed"] = [
        math.nan
        if row.equivalent or row.different
        else seeds_to_decide(row.diff, row.sd / math.sqrt(2), row.margin, alpha, 2)
        for row in frame.itertuples()
    ]
    return frame.drop(columns="sd")


def _verdict(rows: pd.DataFrame) -> RoundTripVerdict:
    rows = rows[
        rows["seeds"] > 0
    ]  # an outcome no run defines (a glider's, from a random start) is not evidence
    if rows.empty:
        return "inconclusive"
    if rows["equivalent"].all():
        return "reproduces"
    if rows["different"].any():
        return "does not"
    return "inconclusive"


def _verdict_text(verdict: RoundTripVerdict, rows: pd.DataFrame) -> str:
    if verdict == "reproduces":
        return "the implied rule reproduces the LLM population (Δ within δ)"
    if verdict == "does not":
        return (
            "it does not: the LLM uses more than the probed observation, or answers more at random than "
            "this rule does"
        )
    needed = rows["seeds_needed"].max()
    more = f"; about {needed:.0f} seeds per population would decide it" if math.isfinite(needed) else ""
    return f"inconclusive: neither equivalence nor a difference of δ is shown{more}"
