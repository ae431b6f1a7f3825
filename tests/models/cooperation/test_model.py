import math

import pytest
from mesa.examples import PdGrid

from models.cooperation import CooperationModel, Move, Payoffs


def pdgrid_state(model):
    return {a.cell.coordinate: (a.move, a.score) for a in model.agents}


def our_state(model):
    letter = {Move.COOPERATE: "C", Move.DEFECT: "D"}
    return {p.cell.coordinate: (letter[p.move], p.score) for p in model.agents}


@pytest.mark.parametrize("activation", ["Sequential", "Random", "Simultaneous"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_pd_grid_configuration_has_pdgrid_trajectory(activation, seed):
    theirs = PdGrid(width=12, height=12, activation_order=activation, rng=seed)
    ours = CooperationModel.pd_grid(activation, width=12, height=12, rng=seed)
    assert our_state(ours) == pdgrid_state(theirs)
    for _ in range(15):
        theirs.step()
        ours.step()
        assert our_state(ours) == pdgrid_state(theirs)
    cooperating = theirs.datacollector.get_model_vars_dataframe()["Cooperating_Agents"].tolist()
    assert ours.datacollector.get_model_vars_dataframe()["cooperating"].tolist() == cooperating


def test_nowak_may_single_defector_grows_a_symmetric_pattern():
    # A lone defector among cooperators at b = 1.85: after one round it has taken its 3x3
    # block (each cooperator next to it earns 8 with self-play, the defector 8 * 1.85).
    model = CooperationModel.nowak_may(b=1.85, width=9, height=9, strategies=("ALLC",), rng=0)
    centre = next(p for p in model.agents if p.cell.coordinate == (4, 4))
    centre.strategy, centre.move = "ALLD", Move.DEFECT
    centre.moves = dict.fromkeys(centre.moves, Move.DEFECT)
    model.step()  # round 1: play, no imitation yet
    assert centre.payoff == pytest.approx(8 * 1.85)
    model.step()  # round 2: imitation of round 1's payoffs
    defectors = {p.cell.coordinate for p in model.agents if p.strategy == "ALLD"}
    assert defectors == {(x, y) for x in (3, 4, 5) for y in (3, 4, 5)}


def test_payoffs_must_be_a_dilemma_unless_allowed():
    with pytest.raises(ValueError, match="not a prisoner's dilemma"):
        CooperationModel(payoffs=(3, 0, 2, 1), width=3, height=3)
    CooperationModel(payoffs=(3, 0, 2, 1), width=3, height=3, require_dilemma=False)
    assert Payoffs(1, 0, 1.6, 0).is_dilemma


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategies": ("ALLC", "NICE")}, "Unknown strategies \\['NICE'\\]"),
        ({"activation": "parallel"}, "activation must be one of"),
        ({"ties": "random"}, "ties must be one of"),
        ({"update_every": 0}, "update_every must be"),
        ({"strategies": {"ALLC": -1.0, "ALLD": 1.0}}, "non-negative"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CooperationModel(width=3, height=3, **kwargs)


def test_reporters_split_by_strategy():
    model = CooperationModel(width=6, height=6, strategies=("ALLC", "ALLD", "TFT"), rng=3)
    model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    last = frame.iloc[-1]
    assert last["strategy_ALLC"] + last["strategy_ALLD"] + last["strategy_TFT"] == 36
    assert 0 <= last["cooperation"] <= 1
    assert last["cooperation_rule"] == last["cooperation"]
    assert math.isnan(last["cooperation_llm"])


def test_payoffs_and_strategies_as_text():
    model = CooperationModel(width=4, height=4, payoffs="1,0,1.8,0", strategies="ALLC=0,ALLD=1", rng=0)
    assert model.payoffs == Payoffs(1.0, 0.0, 1.8, 0.0)
    assert {p.strategy for p in model.agents} == {"ALLD"}
    listed = CooperationModel(width=4, height=4, strategies="TFT, GRIM", rng=0)
    assert {p.strategy for p in listed.agents} <= {"TFT", "GRIM"}
    with pytest.raises(ValueError, match="four numbers R, S, T, P"):
        CooperationModel(width=4, height=4, payoffs="1,0,x,0")
    with pytest.raises(ValueError, match="NAME=WEIGHT"):
        CooperationModel(width=4, height=4, strategies="ALLC=a")
