import math

import numpy as np
import pytest

from mesa_llm.backends.scoring import draw_option, normalise


def test_normalise_keeps_option_order_and_sums_to_one():
    assert normalise({"move": 1.0, "stay": 3.0, "other": 9.0}, ["stay", "move"]) == {
        "stay": 0.75,
        "move": 0.25,
    }


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ({"stay": 1.0}, "no probability for the options \\['move'\\]"),
        ({"stay": -1.0, "move": 2.0}, "non-negative"),
        ({"stay": math.inf, "move": 1.0}, "finite"),
        ({"stay": 0.0, "move": 0.0}, "not all 0"),
    ],
)
def test_normalise_rejects_unusable_probabilities(probabilities, message):
    with pytest.raises(ValueError, match=message):
        normalise(probabilities, ["stay", "move"])


def test_temperature_zero_is_argmax_with_first_option_on_ties_and_leaves_rng_alone():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert draw_option({"stay": 0.4, "move": 0.6}, 0.0, rng) == "move"
    assert draw_option({"stay": 0.5, "move": 0.5}, 0.0, rng) == "stay"
    assert rng.bit_generator.state == state


def test_draws_at_temperature_one_follow_the_probabilities():
    rng = np.random.default_rng(1)
    p = {"a": 0.2, "b": 0.5, "c": 0.3}
    draws = [draw_option(p, 1.0, rng) for _ in range(20_000)]
    for option, expected in p.items():
        share = draws.count(option) / len(draws)
        assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / len(draws))


def test_temperature_reshapes_the_distribution():
    rng = np.random.default_rng(2)
    draws = [draw_option({"a": 0.25, "b": 0.75}, 2.0, rng) for _ in range(20_000)]
    expected = 0.5 / (0.5 + math.sqrt(0.75))  # p ** (1 / 2), normalised
    assert abs(draws.count("a") / len(draws) - expected) < 0.015


def test_an_option_with_zero_probability_is_never_drawn():
    rng = np.random.default_rng(3)
    assert {draw_option({"a": 0.0, "b": 1.0}, 1.5, rng) for _ in range(1000)} == {"b"}
