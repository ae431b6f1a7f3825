"""Implied strategies of a repeated two-move game: the memory-one vector, and imitation.

A memory-one strategy of a game of two moves (cooperate, defect) is five probabilities of
cooperating (Nowak and Sigmund's notation, from the player's side):

- ``first``: in the first round, with no history;
- ``cc``, ``cd``, ``dc``, ``dd``: after a round in which it played the first letter and its
  partner the second (``cd``: it cooperated, the partner defected).

:func:`fit_memory_one` reads them off a probe table whose points are those five states,
with their intervals, and names the nearest of :data:`NAMED_STRATEGIES` by the largest
difference of one probability (the max-abs, or Chebyshev, distance: every probability is
within it of the named strategy's). :func:`fit_imitation` measures how often an agent's
move is the move of the best-scoring player it sees.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import pandas as pd

from mesa_llm.calibration.described import Described
from mesa_llm.calibration.probe import json_ready, wilson_interval

__all__ = [
    "MEMORY_ONE_STATES",
    "NAMED_STRATEGIES",
    "ImitationFit",
    "MemoryOne",
    "MemoryOneFit",
    "fit_imitation",
    "fit_memory_one",
]

MEMORY_ONE_STATES = ("first", "CC", "CD", "DC", "DD")
"""The states of a memory-one strategy, as a probe table names them: no history, then (own
last move, partner's last move)."""

_FORM = (
    "{name} must be five probabilities of cooperating in [0, 1], first, CC, CD, DC, DD "
    "(e.g. '1,1,0,1,0' for tit for tat), or the name of one of {names}; got {value!r}."
)


class MemoryOne(NamedTuple):
    """The probabilities of cooperating of a memory-one strategy.

    Attributes:
        first: in the first round.
        cc: after both cooperated.
        cd: after it cooperated and its partner defected.
        dc: after it defected and its partner cooperated.
        dd: after both defected.
    """

    first: float
    cc: float
    cd: float
    dc: float
    dd: float

    @classmethod
    def parse(
        cls, value: MemoryOne | Iterable[float] | str, *, name: str = "a memory-one strategy"
    ) -> MemoryOne:
        """A strategy from text (``"1,1,0,1,0"``, ``"(1; 1, 0, 1, 0)"``, a name: ``"TFT"``) or five numbers.

        Args:
            value: the strategy.
            name: what the errors call it (a model's parameter, say).

        Raises:
            TypeError: for something that is neither text nor numbers, or a value that is
                not a number.
            ValueError: for text that is neither five numbers nor a name, not five values,
                or a value outside [0, 1]; with the expected form.
        """
        form = _FORM.format(name=name, names=", ".join(NAMED_STRATEGIES), value=value)
        if isinstance(value, str):
            if value.strip() in NAMED_STRATEGIES:
                return NAMED_STRATEGIES[value.strip()]
            try:
                values: list[Any] = [float(v) for v in re.split(r"[,;]", value.strip("() \t"))]
            except ValueError:
                raise ValueError(form) from None
        elif isinstance(value, Iterable) and not isinstance(value, Mapping):
            values = list(value)
        else:
            raise TypeError(form)
        if len(values) != len(cls._fields):
            raise ValueError(form)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(form)
            if not 0.0 <= v <= 1.0:  # NaN too
                raise ValueError(form)
        return cls(*(float(v) for v in values))

    def after(self, own_cooperated: bool, partner_cooperated: bool) -> float:
        """The probability of cooperating after a round of these moves."""
        if own_cooperated:
            return self.cc if partner_cooperated else self.cd
        return self.dc if partner_cooperated else self.dd

    def text(self) -> str:
        """As :meth:`parse` reads it back exactly: ``"1.0,1.0,0.0,1.0,0.0"``."""
        return ",".join(repr(p) for p in self)

    def describe(self) -> str:
        """Two decimals, the first move apart: ``(1.00; 1.00, 0.00, 1.00, 0.00)``."""
        first, *rest = (f"{p:.2f}" for p in self)
        return f"({first}; {', '.join(rest)})"

    def distance(self, other: MemoryOne) -> float:
        """The largest difference of one probability (NaN where one is NaN)."""
        differences = [abs(a - b) for a, b in zip(self, other, strict=True)]
        return math.nan if any(math.isnan(d) for d in differences) else max(differences)


NAMED_STRATEGIES: Mapping[str, MemoryOne] = MappingProxyType(
    {
        "ALLC": MemoryOne(1.0, 1.0, 1.0, 1.0, 1.0),
        "ALLD": MemoryOne(0.0, 0.0, 0.0, 0.0, 0.0),
        "TFT": MemoryOne(1.0, 1.0, 0.0, 1.0, 0.0),
        "WSLS": MemoryOne(1.0, 1.0, 0.0, 0.0, 1.0),
        "GRIM": MemoryOne(1.0, 1.0, 0.0, 0.0, 0.0),
    }
)
"""The named memory-one strategies: always cooperate, always defect, tit for tat (the
partner's last move), win-stay lose-shift (Pavlov: cooperate after the same moves) and
GRIM-like (cooperate only after mutual cooperation; against a partner it never defects
first, it moves as grim trigger does)."""


@dataclass(frozen=True, slots=True, repr=False)
class MemoryOneFit(Described):
    """The memory-one strategy a probe implies, and the nearest named one.

    Attributes:
        vector: the probabilities of cooperating (NaN for a state with no valid answer).
        ci_low: their lower interval bounds (the point itself for a scored one).
        ci_high: their upper bounds.
        answers: the answers counted in each state (1 for a scored one).
        nearest: the nearest of :data:`NAMED_STRATEGIES` (the first on a tie); None where a
            state has no answer.
        distance: its distance: the largest difference of one probability.
        distances: the distance to each named strategy.
        source: ``"scored"``, ``"sampled"`` or ``"mixed"``: how the points were answered.
        level: the intervals' confidence level.
    """

    vector: MemoryOne
    ci_low: MemoryOne
    ci_high: MemoryOne
    answers: tuple[int, ...]
    nearest: str | None
    distance: float
    distances: Mapping[str, float]
    source: str
    level: float

    def describe(self) -> str:
        """E.g. ``memory-one (0.98; 1.00, 0.02, 0.97, 0.03): nearest TFT at distance 0.03 (max-abs)``."""
        vector = f"memory-one {self.vector.describe()}"
        if self.nearest is None:
            missing = [s for s, p in zip(MEMORY_ONE_STATES, self.vector, strict=True) if math.isnan(p)]
            return f"{vector}: not classified, no valid answer at {', '.join(missing)}"
        return f"{vector}: nearest {self.nearest} at distance {self.distance:.2f} (max-abs)"

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready values: each vector by state, NaN as None."""

        def states(vector: Sequence[float]) -> dict[str, Any]:
            return {s: json_ready(p) for s, p in zip(MEMORY_ONE_STATES, vector, strict=True)}

        return {
            "vector": states(self.vector),
            "ci_low": states(self.ci_low),
            "ci_high": states(self.ci_high),
            "answers": dict(zip(MEMORY_ONE_STATES, self.answers, strict=True)),
            "nearest": self.nearest,
            "distance": json_ready(self.distance),
            "distances": {name: json_ready(d) for name, d in self.distances.items()},
            "metric": "max-abs: the largest difference of one probability",
            "source": self.source,
            "level": self.level,
        }


def fit_memory_one(
    table: pd.DataFrame, *, action: str = "cooperate", state: str = "state", alpha: float = 0.05
) -> MemoryOneFit:
    """The memory-one strategy of a probe table (:func:`~mesa_llm.calibration.run_probe`).

    Args:
        table: one row per point and action, with a coordinate ``state`` naming each of
            :data:`MEMORY_ONE_STATES` once.
        action: the label of cooperating.
        state: the coordinate naming the states.
        alpha: the intervals' level is ``1 - alpha`` (that of the table's intervals).

    Raises:
        ValueError: for a table without the ``state`` coordinate or the action, or with a
            state missing or asked twice.
    """
    _check_columns(table, state)
    rows = table[table["action"] == action]
    if rows.empty:
        raise ValueError(
            f"The probe table has no action {action!r}: its actions are {sorted(set(table['action']))}."
        )
    counts = rows[state].value_counts()
    wrong = [s for s in MEMORY_ONE_STATES if counts.get(s, 0) != 1]
    if wrong:
        raise ValueError(
            f"A memory-one table needs each of the states {', '.join(MEMORY_ONE_STATES)} once in its "
            f"{state!r} column; {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} missing or repeated."
        )
    rows = rows.set_index(state).loc[list(MEMORY_ONE_STATES)]
    vector, low, high = (MemoryOne(*rows[c].astype(float)) for c in ("p", "ci_low", "ci_high"))
    distances = {name: vector.distance(named) for name, named in NAMED_STRATEGIES.items()}
    classified = not any(math.isnan(p) for p in vector)
    nearest = min(distances, key=distances.__getitem__) if classified else None
    sources = set(rows["source"])
    return MemoryOneFit(
        vector=vector,
        ci_low=low,
        ci_high=high,
        answers=tuple(int(n) for n in rows["answers"]),
        nearest=nearest,
        distance=distances[nearest] if nearest is not None else math.nan,
        distances=MappingProxyType(distances),
        source=sources.pop() if len(sources) == 1 else "mixed",
        level=1.0 - alpha,
    )


ImitationVerdict = Literal["imitates", "contrary", "no imitation"]


@dataclass(frozen=True, slots=True, repr=False)
class ImitationFit(Described):
    """How often an agent's move is the move of the best-scoring player it sees.

    Attributes:
        verdict: ``"imitates"`` (the rate's interval lies above the baseline),
            ``"contrary"`` (below it: it plays the other move) or ``"no imitation"``.
        rate: the share of answers that are the best scorer's move.
        rate_ci: its Wilson interval (conservative for scored points: probabilities).
        switch_rate: the same share among the points where the best scorer's move is not
            the agent's own last move (where copying it means switching).
        switch_ci: its Wilson interval.
        baseline: the rate of an agent that ignores the scores (the grid's design).
        answers: the answers counted (1 per scored point).
        points: the points with an answer.
        level: the intervals' confidence level.
    """

    verdict: ImitationVerdict
    rate: float
    rate_ci: tuple[float, float]
    switch_rate: float
    switch_ci: tuple[float, float]
    baseline: float
    answers: int
    points: int
    level: float

    def describe(self) -> str:
        """E.g. ``copies the best-scoring neighbour: 0.94 [0.80, 0.98] of its moves are ...``."""
        low, high = self.rate_ci
        share = f"{self.rate:.2f} [{low:.2f}, {high:.2f}] of its moves are the best scorer's"
        chance = f"{self.baseline:.2f} if it ignored the scores"
        if self.verdict == "imitates":
            return f"copies the best-scoring neighbour: {share} ({chance})"
        if self.verdict == "contrary":
            return f"plays against the best-scoring neighbour: {share} ({chance})"
        return f"no sign of imitation: {share}, as by chance ({chance})"

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready values (intervals as lists, NaN as None)."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("rate", "switch_rate"):
            values[name] = json_ready(values[name])
        for name in ("rate_ci", "switch_ci"):
            values[name] = [json_ready(v) for v in values[name]]
        return values


def fit_imitation(
    table: pd.DataFrame,
    *,
    best: str = "best_move",
    own: str = "own_move",
    baseline: float = 0.5,
    alpha: float = 0.05,
) -> ImitationFit:
    """How often a probe's answers (:func:`~mesa_llm.calibration.run_probe`) are the best scorer's move.

    A point's rate is its probability of the action its ``best`` coordinate names; the
    rates are pooled over the points, weighted by their answers, with a Wilson interval.

    Args:
        table: one row per point and action, with coordinates ``best`` (the best scorer's
            move, an action label) and ``own`` (the agent's own last move).
        best: the coordinate of the best scorer's move.
        own: the coordinate of the agent's own last move.
        baseline: the rate of an agent that ignores the scores, which the verdict compares
            the interval with.
        alpha: the intervals' level is ``1 - alpha``.

    Raises:
        ValueError: for a table without the coordinates, a best move that is not an
            action, or no point with an answer.
    """
    _check_columns(table, best, own)
    unknown = set(table[best]) - set(table["action"])
    if unknown:
        raise ValueError(f"The best scorer's moves {sorted(unknown)} are not actions of the probe table.")
    rows = table[(table["action"] == table[best]) & table["p"].notna()]
    if rows.empty:
        raise ValueError("No point of the imitation probe has a valid answer to count.")
    rate, rate_ci, answers = _pooled(rows, alpha)
    switch_rate, switch_ci, _ = _pooled(rows[rows[best] != rows[own]], alpha)
    low, high = rate_ci
    verdict: ImitationVerdict = (
        "imitates" if low > baseline else "contrary" if high < baseline else "no imitation"
    )
    return ImitationFit(
        verdict=verdict,
        rate=rate,
        rate_ci=rate_ci,
        switch_rate=switch_rate,
        switch_ci=switch_ci,
        baseline=float(baseline),
        answers=answers,
        points=len(rows),
        level=1.0 - alpha,
    )


def _check_columns(table: pd.DataFrame, *names: str) -> None:
    """Check that the table has the coordinates ``names``."""
    for name in names:
        if name not in table.columns:
            raise ValueError(
                f"The probe table has no column {name!r}: its columns are {list(table.columns)}."
            )


def _pooled(rows: pd.DataFrame, alpha: float) -> tuple[float, tuple[float, float], int]:
    """The answer-weighted mean of the rows' ``p``, its Wilson interval, and the answers."""
    n = int(rows["answers"].sum())
    if n == 0:
        return math.nan, (math.nan, math.nan), 0
    successes = float((rows["p"] * rows["answers"]).sum())
    return successes / n, wilson_interval(successes, n, alpha), n
