import math

import numpy as np
import pytest
from langchain_core.messages import HumanMessage

from mesa_llm.backends.scoring import Branching, branchings, draw_option, normalise, path_probabilities
from mesa_llm.backends.testing import ScoringChatModel


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


PROMPT = [1, 2, 3]
END = 0


def test_options_with_distinct_first_tokens_part_once_right_after_the_prompt():
    paths = {"stay": [*PROMPT, 10], "move": [*PROMPT, 20, 21]}
    assert branchings(paths, ["stay", "move"], 3, END) == [Branching(PROMPT, {10: ["stay"], 20: ["move"]})]


def test_options_part_where_their_tokens_part_even_inside_the_prompt():
    # the prompt's last token and an option's first token merged differently for each option
    paths = {"stay": [1, 2, 4], "move": [1, 2, 5]}
    assert branchings(paths, ["stay", "move"], 2, END) == [Branching([1, 2], {4: ["stay"], 5: ["move"]})]


def test_an_option_that_prefixes_another_parts_from_it_where_it_ends():
    paths = {"cooperate": [*PROMPT, 10], "defect": [*PROMPT, 20], "cooperate fully": [*PROMPT, 10, 30]}
    options = ["cooperate", "defect", "cooperate fully"]
    found = branchings(paths, options, 3, END)
    assert found == [
        Branching(PROMPT, {10: ["cooperate", "cooperate fully"], 20: ["defect"]}),
        Branching([*PROMPT, 10], {END: ["cooperate"], 30: ["cooperate fully"]}),
    ]
    first, second = np.zeros(40, dtype=np.float32), np.zeros(40, dtype=np.float32)
    first[[10, 20]] = [1.0, 0.0]
    second[[END, 30]] = [0.0, 2.0]
    p = path_probabilities(found, [first, second], options)
    together = math.e / (math.e + 1)
    fully = math.e**2 / (math.e**2 + 1)
    assert p == pytest.approx(
        {"cooperate": together * (1 - fully), "defect": 1 - together, "cooperate fully": together * fully}
    )
    assert list(p) == options


def test_scoring_many_prompts_is_scoring_each_by_default():
    model = ScoringChatModel(scores=lambda messages, options: {"stay": len(messages[0].text), "move": 1.0})
    prompts = [[HumanMessage("a")], [HumanMessage("bbb")]]
    many = model.score_options_many(prompts, ["stay", "move"])
    assert many == [model.score_options(messages, ["stay", "move"]) for messages in prompts]
    assert [s.probabilities["stay"] for s in many] == [1, 3]  # each prompt its own, in order
