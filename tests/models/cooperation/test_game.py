"""The game: each rule strategy's move in a first encounter and after each memory."""

import random
from types import SimpleNamespace

import pytest

from mesa_llm_models.cooperation.game import Move, strategy_move

C, D = Move.COOPERATE, Move.DEFECT


@pytest.mark.parametrize(
    ("strategy", "move"), [("ALLC", C), ("ALLD", D), ("TFT", C), ("GRIM", C), ("WSLS", C)]
)
def test_first_encounter_move(strategy, move):
    assert strategy_move(strategy, None, None) is move


@pytest.mark.parametrize(
    ("strategy", "memory", "move"),
    [
        # memory: (partner's last move, own last move, partner ever defected)
        ("ALLC", (D, C, True), C),
        ("ALLD", (C, C, False), D),
        ("TFT", (D, C, True), D),
        ("TFT", (C, D, True), C),  # forgives at once: only the last move counts
        ("GRIM", (C, C, False), C),
        ("GRIM", (D, C, True), D),
        ("GRIM", (C, D, True), D),  # the partner came back to cooperation: too late
        ("WSLS", (C, C, False), C),  # R: stay
        ("WSLS", (C, D, True), D),  # T: stay
        ("WSLS", (D, C, True), D),  # S: shift
        ("WSLS", (D, D, True), C),  # P: shift
    ],
)
def test_memory_one_rules(strategy, memory, move):
    assert strategy_move(strategy, memory, None) is move


def test_random_is_a_fair_coin_reproducible_by_seed():
    def draws(seed):
        model = SimpleNamespace(random=random.Random(seed))
        return [strategy_move("RANDOM", (C, C, False), model) for _ in range(2000)]

    first = draws(1)
    assert 0.45 < first.count(C) / len(first) < 0.55
    assert draws(1) == first
    assert draws(2) != first
