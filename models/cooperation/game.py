"""The game: the prisoner's dilemma's moves and payoffs, and the rule strategies.

Payoffs are computed in code from the matrix, never by a language model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from mesa_llm.checks import check_number

__all__ = [
    "PD_GRID_PAYOFFS",
    "STRATEGIES",
    "Memory",
    "Move",
    "Payoffs",
    "parse_payoffs",
    "strategy_mix",
    "strategy_move",
]


class Move(StrEnum):
    """A move of the prisoner's dilemma."""

    COOPERATE = "cooperate"
    DEFECT = "defect"


C, D = Move.COOPERATE, Move.DEFECT

STRATEGIES = ("ALLC", "ALLD", "TFT", "GRIM", "WSLS", "RANDOM", "MEMORY1")
"""The rule strategies: always cooperate, always defect, tit for tat, grim trigger,
win-stay lose-shift (Pavlov), a fair coin, and the memory-one strategy of the model's
``memory_one`` probabilities (:class:`~mesa_llm.calibration.strategy.MemoryOne`)."""

Memory = tuple[Move, Move, bool]
"""What a memory-one strategy reads of a partner: (the partner's last move towards the
player, the player's own last move towards the partner, whether the partner ever defected)."""


class Payoffs(NamedTuple):
    """A symmetric 2x2 payoff matrix, as the payoff of the row player.

    Attributes:
        R: reward for mutual cooperation.
        S: sucker's payoff (cooperate against a defector).
        T: temptation (defect against a cooperator).
        P: punishment for mutual defection.
    """

    R: float
    S: float
    T: float
    P: float

    @property
    def is_dilemma(self) -> bool:
        """Whether it is a prisoner's dilemma: ``T > R > P >= S`` (``P = S`` as in Nowak and May)."""
        return self.T > self.R > self.P >= self.S

    def table(self) -> dict[tuple[Move, Move], float]:
        """Payoff of ``(my move, their move)``."""
        c, d = Move.COOPERATE, Move.DEFECT
        return {(c, c): self.R, (c, d): self.S, (d, c): self.T, (d, d): self.P}


PD_GRID_PAYOFFS = Payoffs(R=1.0, S=0.0, T=1.6, P=0.0)
"""The payoffs of ``mesa.examples.PdGrid``: (C,C)=1, (C,D)=0, (D,C)=1.6, (D,D)=0."""


def strategy_move(strategy: str, memory: Memory | None, model: Any) -> Move:
    """The move of a memory-one strategy.

    Args:
        strategy: a name of :data:`STRATEGIES`.
        memory: (partner's last move, own last move, partner ever defected), None in a
            first encounter.
        model: the model, whose ``random`` draws RANDOM's coin and MEMORY1's moves, and
            whose ``memory_one`` holds MEMORY1's probabilities.
    """
    if strategy == "ALLC":  # the unconditional strategies need no memory
        return C
    if strategy == "ALLD":
        return D
    if strategy == "RANDOM":
        return _draw(0.5, model)
    if strategy == "MEMORY1":
        vector = model.memory_one
        return _draw(vector.first if memory is None else vector.after(memory[1] is C, memory[0] is C), model)
    if memory is None:
        return C  # TFT, GRIM and WSLS open with cooperation
    theirs, mine, ever_defected = memory
    if strategy == "TFT":
        return theirs
    if strategy == "GRIM":
        return D if ever_defected else C
    # WSLS: a win (the partner cooperated: R or T) repeats the move, a loss switches it
    return mine if theirs is C else (D if mine is C else C)


def _draw(p: float, model: Any) -> Move:
    """Cooperate with probability ``p``, drawn from ``model.random``; a certain move draws nothing.

    So MEMORY1 with tit for tat's probabilities plays exactly as TFT, with the same draws
    of the model's other random strategies.
    """
    if p >= 1.0:
        return C
    if p <= 0.0:
        return D
    return C if model.random.random() < p else D


def parse_payoffs(payoffs: Payoffs | Sequence[float] | str) -> Payoffs:
    """Payoffs from a ``Payoffs``, an (R, S, T, P) sequence or ``"R,S,T,P"`` text.

    Raises:
        TypeError: for something that is neither text nor a sequence, or a payoff that
            is not a number.
        ValueError: for text that is not four numbers, not four values, or a payoff
            that is not finite; with the expected form.
    """
    form = f"payoffs are four numbers R, S, T, P (e.g. '1,0,1.6,0'), got {payoffs!r}."
    if isinstance(payoffs, str):
        try:
            values = [float(v) for v in payoffs.split(",")]
        except ValueError:
            raise ValueError(form) from None
    elif isinstance(payoffs, Iterable) and not isinstance(payoffs, Mapping):
        values = list(payoffs)
    else:
        raise TypeError(form)
    if len(values) != len(Payoffs._fields):
        raise ValueError(form)
    return Payoffs(
        *(check_number(f"payoffs.{name}", v) for name, v in zip(Payoffs._fields, values, strict=True))
    )


def strategy_mix(strategies: Sequence[str] | Mapping[str, float] | str) -> tuple[list[str], list[float]]:
    """The initial strategies and their weights: names drawn with equal chance, or weighted.

    Args:
        strategies: names (``("ALLC", "TFT")``), names with weights (``{"ALLC": 1,
            "ALLD": 3}``), or either as text (``"ALLC,TFT"``, ``"ALLC=1,ALLD=3"``).

    Raises:
        TypeError: for something that is neither text, a sequence nor a mapping, a name
            that is not text, or a weight that is not a number.
        ValueError: for an unknown strategy, or weights that are negative, not finite or all 0.
    """
    if isinstance(strategies, str):
        strategies = _strategy_text(strategies)
    if isinstance(strategies, Mapping):
        names = list(strategies)
        weights = [check_number(f"the weight of {name!r} in strategies", w) for name, w in strategies.items()]
    elif isinstance(strategies, Iterable):
        names = list(strategies)
        weights = [1.0] * len(names)
    else:
        raise TypeError(
            f"strategies must be names ('ALLC,TFT', ('ALLC', 'TFT')) or names with weights "
            f"('ALLC=1,ALLD=3', {{'ALLC': 1, 'ALLD': 3}}), got {strategies!r}."
        )
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"strategies are named by text, among {', '.join(STRATEGIES)}; got {names!r}.")
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown or not names:
        raise ValueError(f"Unknown strategies {unknown or names}: choose among {', '.join(STRATEGIES)}.")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        given = dict(zip(names, weights, strict=True))
        raise ValueError(f"Strategy weights must be non-negative and not all 0, got {given}.")
    return names, weights


def _strategy_text(text: str) -> dict[str, float] | list[str]:
    """``"ALLC,TFT"`` as names, ``"ALLC=1,ALLD=3"`` as weights.

    Raises:
        ValueError: for a weight that is not a number.
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not any("=" in item for item in items):
        return items
    try:
        return {name.strip(): float(weight) for name, _, weight in (item.partition("=") for item in items)}
    except ValueError:
        raise ValueError(f"strategies are 'NAME,NAME' or 'NAME=WEIGHT,NAME=WEIGHT', got {text!r}.") from None
