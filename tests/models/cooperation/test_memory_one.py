"""The MEMORY1 rule strategy, its memory_one parameter, and LLM players choosing their opening move."""

import math
import random
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mesa_llm import FunctionChatModel
from mesa_llm.calibration.strategy import MemoryOne
from mesa_llm_models.cooperation import SCENARIO, CooperationModel, Move, check_parameters
from mesa_llm_models.cooperation.game import strategy_move
from mesa_llm_models.cooperation.rule_backend import tit_for_tat_answer

C, D = Move.COOPERATE, Move.DEFECT


def by_id(model):
    return sorted(model.agents, key=lambda p: p.unique_id)


# --------------------------------------------------------------------------- MEMORY1
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("activation", ["simultaneous", "random"])
def test_memory_one_with_tit_for_tats_vector_plays_exactly_as_tit_for_tat(seed, activation):
    def run(strategy, **settings):
        model = CooperationModel(
            width=6,
            height=6,
            strategies=(strategy, "ALLD", "RANDOM", "WSLS"),
            activation=activation,
            update_every=3,
            rng=seed,
            **settings,
        )
        model.run_for(9)
        return model

    tft, memory_one = run("TFT"), run("MEMORY1", memory_one="1,1,0,1,0")
    for a, b in zip(by_id(tft), by_id(memory_one), strict=True):
        assert (a.move, dict(a.moves), a.score) == (b.move, dict(b.moves), b.score)
        assert a.strategy == ("TFT" if b.strategy == "MEMORY1" else b.strategy)
    frames = [m.datacollector.get_model_vars_dataframe() for m in (tft, memory_one)]
    pd.testing.assert_series_equal(frames[0]["cooperation"], frames[1]["cooperation"])
    assert (frames[1]["strategy_MEMORY1"] == frames[0]["strategy_TFT"]).all()
    assert frames[1]["strategy_MEMORY1"].iloc[0] > 0


def test_memory_one_draws_each_state_with_its_probability_from_the_models_random():
    vector = MemoryOne(0.2, 0.9, 0.3, 0.6, 0.05)
    memories = {
        "first": None,
        "CC": (C, C, False),
        "CD": (D, C, True),
        "DC": (C, D, False),
        "DD": (D, D, True),
    }

    def draws(seed):
        model = SimpleNamespace(random=random.Random(seed), memory_one=vector)
        return {s: [strategy_move("MEMORY1", m, model) for _ in range(4000)] for s, m in memories.items()}

    first = draws(1)
    for p, moves in zip(vector, first.values(), strict=True):  # memory: (theirs, mine, ever defected)
        assert moves.count(C) / len(moves) == pytest.approx(p, abs=0.03)
    assert draws(1) == first
    assert draws(2) != first


def test_memory_one_players_draw_from_the_model_so_a_seed_repeats_a_run():
    def frame(seed):
        model = CooperationModel(
            width=5, height=5, strategies="MEMORY1", memory_one="0.5,0.9,0.2,0.7,0.3", rng=seed
        )
        model.run_for(5)
        return model.datacollector.get_model_vars_dataframe()

    pd.testing.assert_frame_equal(frame(3), frame(3))
    assert not frame(3)["cooperation"].equals(frame(4)["cooperation"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,1,0,1,0", (1, 1, 0, 1, 0)),
        (" 0.5 ; 0.9, 0.1, 0.8, 0.2 ", (0.5, 0.9, 0.1, 0.8, 0.2)),
        ("(1.00; 1.00, 0.00, 0.00, 1.00)", (1, 1, 0, 0, 1)),  # as a fit describes it
        ("WSLS", (1, 1, 0, 0, 1)),
        ([0, 0, 0, 0, 0], (0, 0, 0, 0, 0)),
        (np.array([1, 0.5, 0.5, 0.5, 0.5]), (1, 0.5, 0.5, 0.5, 0.5)),
    ],
)
def test_memory_one_takes_text_numbers_or_a_name(value, expected):
    assert CooperationModel(width=2, height=2, memory_one=value).memory_one == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1,1,0,1", ValueError),
        ("1,1.5,0,1,0", ValueError),
        ("nan,1,0,1,0", ValueError),
        ("a,b,c,d,e", ValueError),
        ("TIT", ValueError),
        ("", ValueError),
        (0.5, TypeError),
        ((1, 1, "0", 1, 0), TypeError),
        ((1, True, 0, 1, 0), TypeError),
        ({"first": 1}, TypeError),
    ],
)
def test_a_bad_memory_one_is_refused_at_construction_naming_it(value, error):
    words = r"memory_one must be five probabilities of cooperating in \[0, 1\], first, CC, CD, DC, DD"
    with pytest.raises(error, match=words):
        CooperationModel(width=2, height=2, memory_one=value)
    with pytest.raises(error, match=words):
        check_parameters({"memory_one": value})


def test_memory_one_is_set_as_text_from_the_command_line_and_sweeps():
    parameter = SCENARIO.parameters()["memory_one"]
    assert parameter.kind is str
    assert parameter.default == "TFT"
    assert SCENARIO.convert({"memory-one": "0.9,0.9,0.1,0.9,0.1", "strategies": "MEMORY1"}) == {
        "memory_one": "0.9,0.9,0.1,0.9,0.1",
        "strategies": "MEMORY1",
    }


# --------------------------------------------------------------------------- llm_opening
def opening_defector(messages):
    """Defects in the opening round (nobody has played), cooperates after."""
    prompt = next(str(m.content) for m in messages if m.type == "human")
    return "defect" if "You have not played yet." in prompt else "cooperate"


@pytest.mark.parametrize("activation", ["simultaneous", "random", "sequential"])
def test_llm_players_choose_their_opening_move_on_one_snapshot(activation):
    backend = FunctionChatModel(fn=opening_defector, model_name="opening-defector")
    model = CooperationModel(
        width=5,
        height=5,
        strategies="ALLC",
        llm_share=0.4,
        llm_opening="llm",
        activation=activation,
        update="keep",
        backend=backend,
        rng=2,
    )
    llm = [p for p in model.agents if p.population == "llm"]
    assert len(llm) == 10
    assert all(p.move is None for p in llm)
    assert math.isnan(model.datacollector.get_model_vars_dataframe()["cooperation_llm"].iloc[0])
    model.step()
    assert len(model.llm.log) == len(llm)  # each LLM player asked once, the rule players not at all
    table = model.payoffs.table()
    for player in model.agents:
        assert player.move is (D if player.population == "llm" else C)
        assert player.score == sum(table[(player.move, n.move)] for n in player.neighbours)  # collected once
    model.step()
    assert all(p.move is C for p in llm)


def test_the_opening_prompt_says_nobody_has_played():
    model = CooperationModel(width=3, height=3, llm_share=1.0, llm_opening="llm", backend="rule", rng=0)
    player = next(iter(model.agents))
    (_, _), (_, user) = player.messages(player.observe())
    assert "Round 1 is starting. You have not played yet.\n" in user
    assert "opening move" not in user
    assert user.count("- has not played yet") == 8
    model.step()  # the rule-following model opens with cooperate
    assert {p.move for p in model.agents} == {C}


def test_llm_partner_players_choose_an_opening_move_towards_each_neighbour():
    backend = FunctionChatModel(fn=tit_for_tat_answer, model_name="tft")
    model = CooperationModel(
        width=4, height=4, llm_share=1.0, llm_opening="llm", llm_moves="each", backend=backend, rng=0
    )
    player = next(iter(model.agents))
    (_, _), (_, user) = player.messages(player.observe())
    assert "1. has not played yet\n" in user
    model.run_for(3)
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert (frame["cooperation"].iloc[1:] == 1.0).all()


def test_llm_openings_with_imitate_first_are_refused():
    with pytest.raises(ValueError, match=r"llm_opening='llm' lets LLM players choose.*imitate_first"):
        CooperationModel(width=2, height=2, llm_opening="llm", imitate_first=True)
    with pytest.raises(ValueError, match="llm_opening must be one of 'strategy', 'llm'"):
        CooperationModel(width=2, height=2, llm_opening="chosen")
