"""The generic probe: P(action | observation) of an LLM agent over a grid of observations.

A probe asks an LLM agent about observations chosen to cover what it can see, each built
as one of its scenario's own observations, so that the probed prompt is exactly one an
agent of the model is asked. It runs through the agent's :class:`~mesa_llm.LLMRuntime`,
so it gets the runtime's cache, records, concurrency, retries and fallbacks.

Where the backend scores the options (:class:`~mesa_llm.backends.scoring.OptionScorer`,
such as the embedded local model) and the agent answers directly, one call per point
gives the probabilities. Otherwise the point is asked ``samples`` times and the answers
are counted, with Wilson score intervals. Answers that fell back (no valid answer after
the retries) are the fallback's, not the model's: they are counted apart and left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mesa_llm.backends.scoring import OptionScorer
from mesa_llm.checks import check_int, check_number
from mesa_llm.decider import ModelDecider
from mesa_llm.records import CallRecord
from mesa_llm.runtime import LLMRuntime

__all__ = ["PROBE_COLUMNS", "ProbePoint", "ProbeRun", "json_ready", "run_probe", "wilson_interval"]

PROBE_COLUMNS = ("point", "action", "p", "ci_low", "ci_high", "answers", "fallbacks", "source")
"""The columns of a probe table after the points' coordinates (see :func:`run_probe`)."""


@dataclass(frozen=True, slots=True)
class ProbePoint:
    """One point of a probe's grid.

    Attributes:
        coordinates: what identifies the point in the table, name -> value (for a
            Schelling resident: ``same``, ``other``, ``empty`` and ``similarity``). Every
            point of a grid has the same names.
        agent: the LLM agent asked (its prompt, persona, framing and backend).
        observation: the observation it is asked about, one its scenario builds.
    """

    coordinates: Mapping[str, Any]
    agent: ModelDecider
    observation: Any


@dataclass(frozen=True, slots=True)
class ProbeRun:
    """The answers of a probe and what they cost.

    Attributes:
        table: one row per point and action (:func:`run_probe`).
        calls: requests that reached a backend (retries included).
        cache_hits: decisions answered from the response cache.
        fallbacks: decisions that fell back (left out of the table's estimates).
        records: the call records, in request order.
    """

    table: pd.DataFrame
    calls: int
    cache_hits: int
    fallbacks: int
    records: tuple[CallRecord, ...] = field(repr=False)


def json_ready(value: Any) -> Any:
    """``value`` for a JSON file: tuples and lists as lists, NaN and infinities as None."""
    if isinstance(value, tuple | list):
        return [json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def wilson_interval(successes: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The Wilson score interval of a proportion (statsmodels' ``proportion_confint``).

    NaN for ``n = 0``. ``successes`` may be fractional (a sum of probabilities): the
    interval is then conservative, because a variable in [0, 1] with mean p has a
    variance of at most p (1 - p).
    """
    if n == 0:
        return math.nan, math.nan
    from statsmodels.stats.proportion import proportion_confint  # a slow import, needed only here

    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def scores_options(agent: ModelDecider, runtime: LLMRuntime) -> bool:
    """Whether ``runtime`` answers ``agent`` by option scoring: one call gives the probabilities.

    It does for a choice action space, a backend that scores options, the runtime's
    ``scoring`` on, and the ``"direct"`` answer mode (in the ``"reasoning"`` mode the
    probabilities follow a sampled reasoning, so the point is sampled).
    """
    return (
        runtime.scoring
        and isinstance(agent.chat_model, OptionScorer)
        and agent.action_space.kind == "choice"
        and getattr(agent, "answer_mode", "direct") == "direct"
    )


def run_probe(
    points: Sequence[ProbePoint], runtime: LLMRuntime, *, samples: int = 20, alpha: float = 0.05
) -> ProbeRun:
    """Ask every point, concurrently, and estimate P(action | observation) with intervals.

    A scored point (:func:`scores_options`) is asked once and its probabilities are exact
    for its prompt (the interval is the point). A sampled point is asked ``samples``
    times: the runtime gives identical prompts sampled answers of their own (dedup off at
    a temperature above 0, the runtime's default), each cached under its occurrence, so a
    probe on a fresh runtime with the same cache replays every answer and makes no call.
    Where the runtime would share one answer among identical prompts (dedup on: at
    temperature 0 by default), the point is asked once, and its one answer is all that is
    known of it. Its estimate is the share of answers, with a Wilson interval; in the
    ``"reasoning"`` mode with a scoring backend, each sample contributes its
    probabilities after its own reasoning.

    Args:
        points: the grid; every point's agent must have a choice action space.
        runtime: the runtime that asks (usually the probed model's ``model.llm``); it
            must keep its records (``log.keep``).
        samples: answers per sampled point.
        alpha: the intervals' level is ``1 - alpha``.

    Returns:
        The table has the points' coordinates, then :data:`PROBE_COLUMNS`: ``point``
        (its index), ``action`` (a label of the action space), ``p``, ``ci_low`` and
        ``ci_high``, ``answers`` (the answers counted, 1 for a scored point), ``fallbacks``
        (answers left out) and ``source`` (``"scored"`` or ``"sampled"``).

    Raises:
        ValueError: for no points, points with different coordinate names, an action
            space that is not a choice, ``samples`` below 1, or a runtime that keeps no
            records.
    """
    check_int("samples", samples, minimum=1)
    check_number("alpha", alpha, above=0)
    names = _check_points(points, runtime)
    scored = [scores_options(point.agent, runtime) for point in points]
    items = []
    owners = []
    for index, (point, is_scored) in enumerate(zip(points, scored, strict=True)):
        repeats = 1 if is_scored or _shares_answers(point.agent, runtime) else samples
        items += [(point.agent, point.observation)] * repeats
        owners += [index] * repeats
    log = runtime.log
    before, totals = len(log.records), (log.totals.calls, log.totals.cache_hits, log.totals.fallbacks)
    notice = runtime.argmax_notice
    runtime.argmax_notice = False  # the probe reads the probabilities, not the actions drawn
    try:
        runtime.decide_many(items)
    finally:
        runtime.argmax_notice = notice
    records = tuple(log.records[before:])
    answers: list[list[CallRecord]] = [[] for _ in points]
    for owner, record in zip(owners, records, strict=True):
        answers[owner].append(record)
    rows = []
    for index, point in enumerate(points):
        labels = point.agent.action_space.labels
        estimates = _estimate(answers[index], labels, scored[index], alpha)
        for label, (p, low, high, counted, fallbacks) in zip(labels, estimates, strict=True):
            source = "scored" if scored[index] else "sampled"
            rows.append(
                {
                    **point.coordinates,
                    "point": index,
                    "action": label,
                    "p": p,
                    "ci_low": low,
                    "ci_high": high,
                    "answers": counted,
                    "fallbacks": fallbacks,
                    "source": source,
                }
            )
    table = pd.DataFrame(rows, columns=[*names, *PROBE_COLUMNS])
    return ProbeRun(
        table,
        calls=log.totals.calls - totals[0],
        cache_hits=log.totals.cache_hits - totals[1],
        fallbacks=log.totals.fallbacks - totals[2],
        records=records,
    )


def _shares_answers(agent: ModelDecider, runtime: LLMRuntime) -> bool:
    """Whether ``runtime`` gives identical prompts of ``agent`` one shared answer (dedup on)."""
    if runtime.dedup is not None:
        return runtime.dedup
    return getattr(agent.chat_model, "temperature", None) == 0


def _check_points(points: Sequence[ProbePoint], runtime: LLMRuntime) -> list[str]:
    """The coordinate names of ``points``, after checking the grid and the runtime."""
    if not points:
        raise ValueError("A probe needs at least one point: the scenario's grid is empty.")
    if not runtime.log.keep:
        raise ValueError(
            "The probe reads the runtime's call records, but its log keeps none (CallLog(keep=False)): "
            "probe with a runtime whose log keeps its records."
        )
    names = list(points[0].coordinates)
    for point in points:
        if list(point.coordinates) != names:
            raise ValueError(
                f"Every point of a probe needs the same coordinates: {names} and {list(point.coordinates)}."
            )
        if point.agent.action_space.kind != "choice":
            raise ValueError(
                f"{type(point.agent).__name__}'s action space is not a choice: a probe estimates "
                "P(action | observation) over the options of a choice (a Literal or an Enum)."
            )
    return names


def _estimate(
    records: list[CallRecord], labels: Sequence[str], scored: bool, alpha: float
) -> list[tuple[float, float, float, int, int]]:
    """(p, ci_low, ci_high, answers, fallbacks) of each label from one point's records."""
    valid = [record for record in records if not record.fallback]
    fallbacks = len(records) - len(valid)
    if not valid:
        return [(math.nan, math.nan, math.nan, 0, fallbacks) for _ in labels]
    if scored:
        probabilities = valid[0].probabilities or {}
        return [(float(probabilities.get(label, 0.0)),) * 3 + (1, fallbacks) for label in labels]
    totals = dict.fromkeys(labels, 0.0)
    for record in valid:
        if record.probabilities is not None:  # reasoning, then scoring: its probabilities
            for label in labels:
                totals[label] += float(record.probabilities.get(label, 0.0))
        else:
            totals[record.action] += 1.0
    n = len(valid)
    return [(totals[label] / n, *wilson_interval(totals[label], n, alpha), n, fallbacks) for label in labels]
