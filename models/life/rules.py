"""Life-like rules: outer-totalistic B/S rules, and tables of probabilities for stochastic cells.

A cell's next state depends on its own state and on how many of its 8 neighbours are
alive. :class:`LifeRule` is such a rule in the usual B/S notation (``"B3/S23"`` is
Conway's: a dead cell with exactly 3 live neighbours is born, a live cell with 2 or 3
survives, every other cell is dead next). :class:`RuleTable` gives instead a probability
of being alive next for each of the 18 cases, for stochastic rule cells (an implied rule
fitted to an LLM population, run back through rule cells); a rule is the table of its
zeros and ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Real

__all__ = ["CONWAY", "HIGHLIFE", "NEIGHBOURS", "LifeRule", "RuleTable", "parse_rule", "parse_rule_table"]

NEIGHBOURS = 8
"""How many neighbours a cell has: its Moore neighbourhood on a torus."""

_COUNTS = range(NEIGHBOURS + 1)
_BS = re.compile(r"B(?P<birth>\d*)/S(?P<survival>\d*)", re.IGNORECASE)
_RULE_FORM = (
    "a rule is written B<digits>/S<digits>, the numbers of live neighbours (0-8) at which a dead "
    "cell is born and a live one survives: 'B3/S23' (Conway's Life), 'B36/S23' (HighLife)"
)
_TABLE_FORM = (
    "a rule table is written 'B:p0,p1,...,p8/S:p0,p1,...,p8': after B: the nine probabilities that a "
    "dead cell with 0, 1, ..., 8 live neighbours is alive next, after S: the nine that a live cell is, "
    "e.g. 'B:0,0,0,1,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0' (Conway's B3/S23)"
)


@dataclass(frozen=True, slots=True)
class LifeRule:
    """An outer-totalistic rule of a two-state cell with 8 neighbours (a "Life-like" rule).

    Args:
        birth: the numbers of live neighbours at which a dead cell becomes alive.
        survival: the numbers of live neighbours at which a live cell stays alive.

    Example:
        >>> rule = LifeRule.parse("B36/S23")
        >>> str(rule), rule.next_alive(False, 6), rule.next_alive(True, 4)
        ('B36/S23', True, False)
    """

    birth: frozenset[int]
    survival: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> LifeRule:
        """The rule of a text in B/S notation, such as ``"B3/S23"`` (case and spaces ignored).

        Raises:
            TypeError: for something that is not text.
            ValueError: for text that is not B/S notation, a count above 8 or a count
                written twice, naming the problem and the format.
        """
        if not isinstance(text, str):
            raise TypeError(f"rule must be text in B/S notation ({_RULE_FORM}), got {text!r}.")
        found = _BS.fullmatch(text.replace(" ", ""))
        if found is None:
            raise ValueError(f"rule {text!r} is not in B/S notation: {_RULE_FORM}.")
        counts = {}
        for part, name in (("birth", "B"), ("survival", "S")):
            digits = found.group(part)
            if "9" in digits:
                raise ValueError(
                    f"rule {text!r} names 9 live neighbours after {name}: a cell has 8; {_RULE_FORM}."
                )
            if len(set(digits)) < len(digits):
                raise ValueError(f"rule {text!r} names a count twice after {name}; {_RULE_FORM}.")
            counts[part] = frozenset(map(int, digits))
        return cls(**counts)

    def __str__(self) -> str:
        return f"B{''.join(map(str, sorted(self.birth)))}/S{''.join(map(str, sorted(self.survival)))}"

    def next_alive(self, alive: bool, live_neighbours: int) -> bool:
        """Whether a cell is alive next, from its state and its number of live neighbours."""
        return live_neighbours in (self.survival if alive else self.birth)

    def describe(self) -> str:
        """The rule in words, addressed to a cell, as a prompt states it.

        Conway's rule reads: "if you are dead and exactly 3 of your 8 neighbours are alive,
        you become alive; if you are alive and 2 or 3 of your 8 neighbours are alive, you
        stay alive; otherwise you are dead next."
        """
        clauses = [
            _clause("dead", self.birth, "become alive"),
            _clause("alive", self.survival, "stay alive"),
        ]
        stated = [clause for clause in clauses if clause]
        if not stated:
            return "you are dead next, whatever your state and your neighbours."
        return "; ".join(stated) + "; otherwise you are dead next."


def _clause(state: str, counts: frozenset[int], outcome: str) -> str:
    """One clause of :meth:`LifeRule.describe`: when a cell in ``state`` reaches ``outcome``."""
    if not counts:
        return ""
    if len(counts) == len(_COUNTS):
        return f"if you are {state}, you {outcome} whatever your neighbours"
    ordered = [str(n) for n in sorted(counts)]
    if len(ordered) == 1:
        number, verb = f"exactly {ordered[0]}", "is" if ordered[0] == "1" else "are"
    else:
        number, verb = f"{', '.join(ordered[:-1])} or {ordered[-1]}", "are"
    return f"if you are {state} and {number} of your {NEIGHBOURS} neighbours {verb} alive, you {outcome}"


CONWAY = LifeRule.parse("B3/S23")
"""Conway's Game of Life."""
HIGHLIFE = LifeRule.parse("B36/S23")
"""HighLife, which has a replicator."""


def parse_rule(rule: LifeRule | str) -> LifeRule:
    """A model's ``rule``: a :class:`LifeRule`, or its B/S text.

    Raises:
        TypeError: for anything else.
        ValueError: for text that is not a rule (see :meth:`LifeRule.parse`).
    """
    return rule if isinstance(rule, LifeRule) else LifeRule.parse(rule)


@dataclass(frozen=True, slots=True)
class RuleTable:
    """The probability that a cell is alive next, for each state and number of live neighbours.

    Args:
        birth: nine probabilities, that a dead cell with 0, 1, ..., 8 live neighbours is alive next.
        survival: nine probabilities, that a live cell with 0, 1, ..., 8 live neighbours is.

    Raises:
        TypeError: for a probability that is not a number.
        ValueError: for not nine of each, or a probability outside [0, 1].

    Example:
        >>> table = RuleTable.parse("B:0,0,0,0.9,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0")
        >>> table.probability(False, 3), str(table.rule())
        (0.9, 'B3/S23')
    """

    birth: tuple[float, ...]
    survival: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("birth", "survival"):
            values = tuple(getattr(self, name))
            if len(values) != len(_COUNTS):
                raise ValueError(f"a rule table's {name} holds {len(values)} probabilities, not 9.")
            for n, p in enumerate(values):
                if isinstance(p, bool) or not isinstance(p, Real):
                    raise TypeError(
                        f"a rule table's {name} probability for {n} live neighbours is {p!r}, not a number."
                    )
                if not (math.isfinite(p) and 0.0 <= p <= 1.0):
                    raise ValueError(
                        f"a rule table's {name} probability for {n} live neighbours is {p}, not in [0, 1]."
                    )
            object.__setattr__(self, name, tuple(float(p) for p in values))

    @classmethod
    def of(cls, rule: LifeRule) -> RuleTable:
        """The table of a deterministic rule: 1 where it makes a cell alive, 0 elsewhere."""
        return cls(
            tuple(float(n in rule.birth) for n in _COUNTS), tuple(float(n in rule.survival) for n in _COUNTS)
        )

    @classmethod
    def parse(cls, text: str) -> RuleTable:
        """The table of a text ``"B:p0,...,p8/S:p0,...,p8"`` (spaces ignored), as :meth:`__str__` writes it.

        Raises:
            TypeError: for something that is not text.
            ValueError: for text of another form, naming the problem and the form.
        """
        if not isinstance(text, str):
            raise TypeError(f"rule_table must be text ({_TABLE_FORM}) or a RuleTable, got {text!r}.")
        found = re.fullmatch(
            r"B:(?P<birth>[^/]*)/S:(?P<survival>[^/]*)", text.replace(" ", ""), re.IGNORECASE
        )
        if found is None:
            raise ValueError(f"rule_table {text!r} is not a rule table: {_TABLE_FORM}.")
        parts = {}
        for name in ("birth", "survival"):
            values = found.group(name)
            try:
                parts[name] = tuple(float(p) for p in values.split(",")) if values else ()
            except ValueError:
                raise ValueError(
                    f"rule_table {text!r} holds a value that is not a number; {_TABLE_FORM}."
                ) from None
        try:
            return cls(**parts)
        except ValueError as exc:
            raise ValueError(
                f"rule_table {text!r}: {exc} {_TABLE_FORM[0].upper()}{_TABLE_FORM[1:]}."
            ) from None

    def __str__(self) -> str:
        return f"B:{_numbers(self.birth)}/S:{_numbers(self.survival)}"

    def probability(self, alive: bool, live_neighbours: int) -> float:
        """The probability that a cell in this state, with this many live neighbours, is alive next."""
        return (self.survival if alive else self.birth)[live_neighbours]

    def probabilities(self, alive: bool, live_neighbours: int) -> dict[str, float]:
        """The probabilities of ``alive`` and ``dead`` next, as a scoring backend gives them."""
        p = self.probability(alive, live_neighbours)
        return {"alive": p, "dead": 1.0 - p}

    def rule(self) -> LifeRule:
        """The deterministic rule nearest the table: alive next where the probability is above 0.5."""
        return LifeRule(
            frozenset(n for n in _COUNTS if self.birth[n] > 0.5),
            frozenset(n for n in _COUNTS if self.survival[n] > 0.5),
        )


def _numbers(values: tuple[float, ...]) -> str:
    """Probabilities as text that reads back to the same floats: ``0`` and ``1`` bare."""
    return ",".join(str(int(p)) if p in (0.0, 1.0) else repr(p) for p in values)


def parse_rule_table(table: RuleTable | str | None) -> RuleTable | None:
    """A model's ``rule_table``: None, a :class:`RuleTable`, or its text.

    Raises:
        TypeError: for anything else.
        ValueError: for text that is not a table (see :meth:`RuleTable.parse`).
    """
    return table if table is None or isinstance(table, RuleTable) else RuleTable.parse(table)
