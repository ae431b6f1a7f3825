"""Verdicts of comparison families: stable, depends or inconclusive, with the seeds that would decide.

A family is what one Holm correction runs over: the strata of one metric and factor (each
stratum a Kruskal–Wallis test across the factor's levels and TOST on each pair of levels),
or the LLM conditions of one metric compared with the rule baseline. :func:`decide` turns
a family's corrected tests into a verdict: "stable" where every pair is equivalent within
δ, else "depends" where a stratum's Kruskal–Wallis is significant, else "inconclusive", with
the number of seeds per level a power analysis says would decide it
(:func:`~mesa_llm.experiments.comparisons.seeds_to_decide`). :func:`overall_verdicts`
combines a metric's verdicts across backends and framings into "structural",
"model-dependent", "framing-dependent" or both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mesa_llm.experiments.comparisons import (
    compare_pair,
    compare_paired,
    holm,
    kruskal_wallis,
    paired_test,
    pooled_sd,
    seeds_to_decide,
)

__all__ = [
    "DEPENDS",
    "INCONCLUSIVE",
    "NOT_VARIED",
    "STABLE",
    "UNDEFINED",
    "Stratum",
    "compare",
    "decide",
    "inconclusive_text",
    "verdict_text",
]

STABLE, DEPENDS, INCONCLUSIVE, NOT_VARIED = "stable", "depends", "inconclusive", "not varied"
UNDEFINED = "undefined"
"""The overall verdict of a metric that no run gives a value."""
# The factors of the overall verdict, and how a verdict names them.
BACKEND, FRAMING = "backend", "framing"
_NAMES = {BACKEND: ("language models", "the language model"), FRAMING: ("framings", "the framing")}


def verdict_text(factor: str, verdict: str, seeds_needed: float = math.nan) -> str:
    """The verdict in words: "stable across language models", "depends on the framing", "inconclusive ...".

    An inconclusive verdict says how many seeds per level would decide it, where known.
    """
    across, on = _NAMES.get(factor, (factor, factor))
    if verdict == STABLE:
        return f"stable across {across}"
    if verdict == DEPENDS:
        return f"depends on {on}"
    if verdict == NOT_VARIED:
        return f"{factor} not varied among LLM runs"
    return inconclusive_text(f"across {across}", seeds_needed)


def inconclusive_text(subject: str, seeds_needed: float) -> str:
    """The words "inconclusive" and ``subject``, with the seeds per level that would decide it where known."""
    if math.isnan(seeds_needed):
        return f"inconclusive {subject}"
    if math.isinf(seeds_needed):
        return f"inconclusive {subject}: more than 100000 seeds per level would be needed"
    return f"inconclusive {subject}: about {int(seeds_needed)} seeds per level would decide it"


@dataclass
class Stratum:
    """A member of a comparison family: a stratum's Kruskal–Wallis test and its pairs of levels.

    Attributes:
        label: the stratum's levels of the other factors (``"framing=social"``; ``""`` for all runs).
        levels: how many levels of the factor it compares.
        sd: the within-level standard deviation, pooled over its levels.
        test: the test of a difference across the levels, ``(statistic, p, note)``:
            Kruskal–Wallis, or paired by seed Friedman's (Wilcoxon's signed-rank for two levels).
        pairs: one row per pair of levels (:func:`~mesa_llm.experiments.comparisons.compare_pair`),
            with ``level_a`` and ``level_b``; :func:`holm_family` adds ``p_tost_holm``
            and :func:`decide` ``equivalent``.
        p_holm: the Holm-corrected p of ``test``, set by :func:`holm_family`.
        paired: whether the levels are compared within seeds; ``sd`` is then the largest
            standard deviation of a pair's per-seed differences.
    """

    label: str
    levels: int
    sd: float
    test: tuple[float, float, str]
    pairs: list[dict[str, Any]]
    p_holm: float = math.nan
    paired: bool = False


def compare(
    label: str,
    groups: Mapping[Any, np.ndarray],
    margin: float,
    n_boot: int,
    rng: np.random.Generator,
    paired: bool = False,
) -> Stratum:
    """The stratum ``label`` comparing ``groups`` (each level's runs): the difference test and every pair.

    ``paired``: each level's array holds the same seeds in the same order, and the levels
    are compared within seeds (:func:`~mesa_llm.experiments.comparisons.paired_test`,
    :func:`~mesa_llm.experiments.comparisons.compare_paired`).
    """
    pair_of = compare_paired if paired else compare_pair
    pairs = [
        {"level_a": a, "level_b": b} | pair_of(groups[a], groups[b], margin, n_boot=n_boot, rng=rng)
        for a, b in itertools.combinations(groups, 2)
    ]
    values = list(groups.values())
    if not paired:
        return Stratum(label, len(groups), pooled_sd(values), kruskal_wallis(values), pairs)
    sds = [pair["sd"] for pair in pairs if np.isfinite(pair["sd"])]
    return Stratum(label, len(groups), max(sds, default=math.nan), paired_test(values), pairs, paired=True)


def holm_family(strata: Sequence[Stratum]) -> None:
    """Holm-correct in place: the difference tests' p-values across the strata, TOST's across all pairs."""
    for stratum, p in zip(strata, holm([s.test[1] for s in strata]), strict=True):
        stratum.p_holm = float(p)
    pairs = [pair for s in strata for pair in s.pairs]
    for pair, p in zip(pairs, holm([pair["p_tost"] for pair in pairs]), strict=True):
        pair["p_tost_holm"] = float(p)


def decide(
    strata: Sequence[Stratum], margin: float, alpha: float, family: Sequence[Stratum]
) -> dict[str, Any]:
    """The verdict on ``strata``, its largest difference, and the seeds per level that would decide it.

    Args:
        strata: the strata judged together (all those of a factor, or one LLM condition
            against the rule baseline), already corrected by :func:`holm_family`.
        margin: the equivalence margin δ.
        alpha: the level of the tests.
        family: the strata of the Holm family they were corrected in; its number of
            tests sets the level of the power analysis (alpha over it, Holm's first step).

    Returns:
        ``verdict``, ``seeds_needed`` (inconclusive only, else NaN), ``note`` and, where
        some pair has a difference, ``seeds`` (the fewest runs of a compared level),
        ``statistic`` and ``p`` (of the stratum with the smallest corrected p),
        ``largest_pair``, ``largest_diff``, ``ci_low``, ``ci_high`` (for "depends", the
        largest difference in a significant stratum).
    """
    for stratum in strata:
        for pair in stratum.pairs:
            pair["equivalent"] = bool(pair["p_tost_holm"] < alpha)
    pairs = [(s, pair) for s in strata for pair in s.pairs if np.isfinite(pair["diff"])]
    difference_tests = max(1, sum(np.isfinite(s.test[1]) for s in family))
    tost_tests = max(1, sum(np.isfinite(pair["p_tost"]) for s in family for pair in s.pairs))
    significant = [s for s in strata if s.p_holm < alpha]
    decided: dict[str, Any] = {"seeds_needed": math.nan, "note": ""}
    if not pairs:
        return decided | {"verdict": INCONCLUSIVE, "note": "no stratum holds two levels with values"}
    if all(pair["equivalent"] for s in strata for pair in s.pairs):
        verdict = STABLE
    elif significant:
        verdict = DEPENDS
        pairs = [(s, pair) for s, pair in pairs if s in significant]
    else:
        verdict = INCONCLUSIVE
        open_pairs = [(s, pair) for s, pair in pairs if not pair["equivalent"]]
        differences = [(s, pair) for s, pair in open_pairs if abs(pair["diff"]) >= margin]
        if differences:  # the most detectable difference decides it
            needed = [
                seeds_to_decide(
                    pair["diff"], s.sd, margin, alpha / difference_tests, s.levels, paired=s.paired
                )
                for s, pair in differences
            ]
            known = [seeds for seeds in needed if not math.isnan(seeds)]
            decided["seeds_needed"] = min(known) if known else math.nan
        else:  # every pair must be shown equivalent: unknown where one pair's is
            needed = [
                seeds_to_decide(pair["diff"], s.sd, margin, alpha / tost_tests, s.levels, paired=s.paired)
                for s, pair in open_pairs
            ]
            unknown = not needed or any(map(math.isnan, needed))
            decided["seeds_needed"] = math.nan if unknown else max(needed)
    best = min(strata, key=_p_order)
    stratum, largest = max(pairs, key=lambda item: abs(item[1]["diff"]))
    notes = sorted({pair["note"] for s in strata for pair in s.pairs if pair["note"]})
    return decided | {
        "verdict": verdict,
        "seeds": min(min(pair["n_a"], pair["n_b"]) for s in strata for pair in s.pairs),
        "statistic": best.test[0],
        "p": best.p_holm,
        "largest_pair": f"{largest['level_a']} − {largest['level_b']}"
        + (f" ({stratum.label})" if stratum.label else ""),
        "largest_diff": largest["diff"],
        "ci_low": largest["ci_low"],
        "ci_high": largest["ci_high"],
        "note": "; ".join(notes),
    }


def _p_order(stratum: Stratum) -> float:
    return stratum.p_holm if np.isfinite(stratum.p_holm) else math.inf


def overall_verdicts(factors: pd.DataFrame, baselines: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per metric: its overall verdict from its verdicts across backends and framings.

    "structural" where it is stable across each of the two that was varied, "model-dependent",
    "framing-dependent" or "model- and framing-dependent" where it depends on them, "not
    tested" where neither was varied, else "inconclusive"; with the rule baseline's tally.

    Args:
        factors: the verdicts per metric and factor (``metric``, ``factor``, ``verdict``, ``text``).
        baselines: the comparisons with the rule baseline (``metric``, ``verdict``), or empty.
        metrics: the metrics, in order.
    """
    rows = []
    for metric in metrics:
        judged = factors[factors["metric"] == metric].set_index("factor")
        verdicts = {
            f: judged.at[f, "verdict"] if f in judged.index else NOT_VARIED for f in (BACKEND, FRAMING)
        }
        tested = [f for f, verdict in verdicts.items() if verdict != NOT_VARIED]
        depends = [f for f in tested if verdicts[f] == DEPENDS]
        if not tested:
            verdict = "not tested"
        elif depends:
            verdict = {(BACKEND,): "model-dependent", (FRAMING,): "framing-dependent"}.get(
                tuple(depends), "model- and framing-dependent"
            )
        elif all(verdicts[f] == STABLE for f in tested):
            verdict = "structural"
        else:
            verdict = INCONCLUSIVE
        texts = [judged.at[f, "text"] for f in tested] + [
            f"{f} not varied" for f in verdicts if f not in tested
        ]
        row = {"metric": metric, "verdict": verdict, "text": f"{verdict} ({'; '.join(texts)})"}
        if not baselines.empty:
            found = baselines[baselines["metric"] == metric]
            reproduced = int((found["verdict"] == STABLE).sum())
            row["baseline"] = f"{reproduced} of {len(found)} LLM conditions reproduce the rule baseline"
        rows.append(row)
    return pd.DataFrame(rows)
