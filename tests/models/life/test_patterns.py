"""The glider and the translation of live patterns on a torus."""

import pytest

from mesa_llm_models.life import CONWAY, GLIDER, GLIDER_PHASES, HIGHLIFE, LifeRule, glider_at, translation
from mesa_llm_models.life.patterns import plane_step, shift


def test_the_glider_has_its_shape_again_one_cell_diagonally_on_every_fourth_step():
    assert len(GLIDER_PHASES) == 4
    assert len(set(GLIDER_PHASES)) == 4  # four distinct phases
    assert all(len(phase) == 5 for phase in GLIDER_PHASES)
    fifth = plane_step(GLIDER_PHASES[3])
    assert fifth == frozenset((x + 1, y + 1) for x, y in GLIDER)
    assert plane_step(GLIDER_PHASES[3], HIGHLIFE) == fifth  # no cell near a glider has 6 live neighbours
    assert plane_step(GLIDER, LifeRule.parse("B3/S2")) != GLIDER_PHASES[1]


def test_translation_finds_the_move_between_two_patterns_on_the_torus():
    shape = (10, 8)
    assert translation(GLIDER, shift(GLIDER, 1, 1, shape), shape) == (1, 1)
    assert translation(GLIDER, shift(GLIDER, -3, 2, shape), shape) == (-3, 2)
    assert translation(GLIDER, shift(GLIDER, 9, 7, shape), shape) == (-1, -1)  # the short way round
    assert translation(shift(GLIDER, 8, 6, shape), shift(GLIDER, 1, 1, shape), shape) == (
        3,
        3,
    )  # across the edge
    assert translation(GLIDER, GLIDER, shape) == (0, 0)
    assert translation(GLIDER, GLIDER_PHASES[1], shape) is None  # another shape
    assert translation(GLIDER, frozenset(), shape) is None
    assert translation(frozenset(), frozenset(), shape) is None


@pytest.mark.parametrize("shape", [(5, 5), (6, 9), (12, 7)])
def test_glider_at_is_the_glider_after_each_step_on_a_torus(shape):
    live = glider_at(0, (2, 1), shape)
    assert live == shift(GLIDER, 2, 1, shape)
    for step in range(1, 41):
        live = torus_step(live, shape)
        assert live == glider_at(step, (2, 1), shape), step
        if step % 4 == 0:
            assert translation(glider_at(step - 4, (2, 1), shape), live, shape) == (1, 1)


def torus_step(live, shape):
    """Conway's rule on a torus, by brute force over every cell."""
    width, height = shape
    cells = [(x, y) for x in range(width) for y in range(height)]

    def live_around(x, y):
        return sum(
            ((x + dx) % width, (y + dy) % height) in live
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            if dx or dy
        )

    return frozenset(c for c in cells if CONWAY.next_alive(c in live, live_around(*c)))
