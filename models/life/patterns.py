"""Live patterns on a torus: the glider, its phases, and the translation between two patterns.

A pattern is the set of the ``(x, y)`` coordinates of live cells. A glider on an otherwise
empty board goes through four phases and returns to its shape moved one cell diagonally
every 4 steps under Conway's rule (and HighLife's, which differs only at 6 live
neighbours, a count no cell near a glider reaches). :func:`glider_at` is where an intact
glider is at a step; :func:`translation` detects that one pattern is another moved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from mesa_llm_models.life.rules import CONWAY, LifeRule

__all__ = [
    "GLIDER",
    "GLIDER_PERIOD",
    "GLIDER_PHASES",
    "GLIDER_SHIFT",
    "GLIDER_SPAN",
    "Pattern",
    "glider_at",
    "plane_step",
    "shift",
    "translation",
]

Pattern = frozenset[tuple[int, int]]
"""The coordinates of the live cells."""

GLIDER: Pattern = frozenset({(1, 0), (2, 1), (0, 2), (1, 2), (2, 2)})
"""The glider, in a 3 x 3 box at the origin; it moves towards larger x and y."""
GLIDER_PERIOD = 4
"""The steps after which a glider has its shape again."""
GLIDER_SHIFT = (1, 1)
"""How far a glider moves in one period."""
GLIDER_SPAN = 5
"""The smallest width and height of a torus on which a glider never meets itself."""


def plane_step(live: Iterable[tuple[int, int]], rule: LifeRule = CONWAY) -> Pattern:
    """One step of a pattern under ``rule`` on the unbounded plane."""
    live = frozenset(live)
    around = Counter((x + dx, y + dy) for x, y in live for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy)
    candidates = live | around.keys()
    return frozenset(cell for cell in candidates if rule.next_alive(cell in live, around[cell]))


def _phases() -> tuple[Pattern, ...]:
    phases = [GLIDER]
    for _ in range(GLIDER_PERIOD - 1):
        phases.append(plane_step(phases[-1]))
    return tuple(phases)


GLIDER_PHASES: tuple[Pattern, ...] = _phases()
"""The glider's live cells after 0, 1, 2 and 3 steps from :data:`GLIDER`."""


def shift(pattern: Iterable[tuple[int, int]], dx: int, dy: int, shape: tuple[int, int]) -> Pattern:
    """The pattern moved by ``(dx, dy)`` on a torus of ``shape`` (width, height)."""
    width, height = shape
    return frozenset(((x + dx) % width, (y + dy) % height) for x, y in pattern)


def glider_at(step: int, origin: tuple[int, int], shape: tuple[int, int]) -> Pattern:
    """Where a glider started as :data:`GLIDER` at ``origin`` is after ``step`` steps, if intact."""
    periods, phase = divmod(step, GLIDER_PERIOD)
    dx, dy = GLIDER_SHIFT
    return shift(GLIDER_PHASES[phase], origin[0] + periods * dx, origin[1] + periods * dy, shape)


def translation(before: Pattern, after: Pattern, shape: tuple[int, int]) -> tuple[int, int] | None:
    """The move ``(dx, dy)`` that takes ``before`` onto ``after`` on a torus of ``shape``, or None.

    Each of ``dx`` and ``dy`` is the smallest in size of its equivalent moves (in
    ``(-width/2, width/2]``), so a glider's period is ``(1, 1)`` and not ``(1 - width, 1)``.
    Empty patterns and patterns of different sizes are no move of each other (None); a
    pattern that is a move of itself in several ways (a pattern with a period of its own
    on the torus) gives the smallest move.
    """
    if not before or len(before) != len(after):
        return None
    width, height = shape
    anchor = min(before)
    moves = []
    for x, y in after:
        dx, dy = (x - anchor[0]) % width, (y - anchor[1]) % height
        if shift(before, dx, dy, shape) == after:
            moves.append((_nearest(dx, width), _nearest(dy, height)))
    return min(moves, key=lambda move: (abs(move[0]) + abs(move[1]), move), default=None)


def _nearest(offset: int, size: int) -> int:
    """The move equivalent to ``offset`` on a ring of ``size`` that is smallest in size."""
    return offset - size if offset > size // 2 else offset
