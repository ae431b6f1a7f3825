"""Cooperation players: each rule strategy's moves, memories, what a player observes and decides."""

import dataclasses

import networkx as nx
import pytest

from mesa_llm_models.cooperation import CooperationModel, Move
from mesa_llm_models.cooperation.agents import Play
from tests.models.cooperation.games import game

C, D = Move.COOPERATE, Move.DEFECT


def towards(player):
    """The player's move towards each neighbour this round."""
    return {n.unique_id: player.move_towards(n.unique_id) for n in player.neighbours}


def moves_towards(model, player, partner, rounds):
    """The player's move towards the partner in each of the next ``rounds`` rounds."""
    moves = []
    for _ in range(rounds):
        model.step()
        moves.append(player.move_towards(partner.unique_id))
    return moves


# -------------------------------------------------------- strategies against known partners
def test_tft_copies_last_move_and_grim_never_forgives():
    # TFT - X - GRIM on a path; X defects in the opening round only, then cooperates.
    model, (tft, x, grim) = game(nx.path_graph(3), "TFT", "ALLD", "GRIM")
    model.step()
    x.strategy = "ALLC"
    tft_moves, grim_moves, x_moves = [], [], []
    for _ in range(4):
        model.step()
        tft_moves.append(tft.move_towards(x.unique_id))
        grim_moves.append(grim.move_towards(x.unique_id))
        x_moves.append(x.move_towards(tft.unique_id))
    assert x_moves == [C, C, C, C]
    assert tft_moves == [D, C, C, C]
    assert grim_moves == [D, D, D, D]
    assert grim.memory[x.unique_id] == (C, D, True)
    assert tft.memory[x.unique_id] == (C, C, True)


@pytest.mark.parametrize(
    ("partner", "expected"),
    [
        ("ALLC", [C, C, C, C]),
        ("ALLD", [C, D, D, D]),
        ("TFT", [C, C, C, C]),
    ],
)
def test_tft_against_fixed_partners(partner, expected):
    model, (tft, other) = game(nx.path_graph(2), "TFT", partner)
    assert moves_towards(model, tft, other, 4) == expected


def test_grim_against_alld_defects_from_the_second_round():
    model, (grim, alld) = game(nx.path_graph(2), "GRIM", "ALLD")
    assert moves_towards(model, grim, alld, 4) == [C, D, D, D]


@pytest.mark.parametrize(
    ("partner", "expected"),
    [
        ("ALLC", [C, C, C, C, C]),  # R, R, ...: stays
        ("ALLD", [C, D, C, D, C]),  # S -> shift to D, P -> shift to C, ...
        ("WSLS", [C, C, C, C, C]),
    ],
)
def test_wsls_against_fixed_partners(partner, expected):
    model, (wsls, other) = game(nx.path_graph(2), "WSLS", partner)
    assert moves_towards(model, wsls, other, 5) == expected


def test_wsls_stays_with_defection_after_temptation():
    # it defects in the opening round (as ALLD) against a cooperator: T, a win, so it stays D
    model, (wsls, allc) = game(nx.path_graph(2), "ALLD", "ALLC")
    model.step()
    wsls.strategy = "WSLS"
    assert moves_towards(model, wsls, allc, 4) == [D, D, D, D]


def test_wsls_against_tft_after_a_defection_cycles():
    # opening: X defects, TFT cooperates (X: T); then X plays WSLS
    model, (x, tft) = game(nx.path_graph(2), "ALLD", "TFT")
    model.step()
    x.strategy = "WSLS"
    pairs = []
    for _ in range(5):
        model.step()
        pairs.append((x.move_towards(tft.unique_id), tft.move_towards(x.unique_id)))
    # T -> stay D; P -> shift C; S -> shift D; T -> stay D; ...
    assert pairs == [(D, D), (C, D), (D, C), (D, D), (C, D)]


def test_unconditional_strategies_never_change_their_move():
    model = CooperationModel(
        width=3, height=3, strategies=("ALLC", "ALLD", "TFT", "GRIM", "WSLS", "RANDOM"), update="keep", rng=4
    )
    kinds = {p.strategy for p in model.agents}
    assert {"ALLC", "ALLD"} <= kinds
    for _ in range(6):
        model.step()
        for p in model.agents:
            if p.strategy == "ALLC":
                assert set(towards(p).values()) == {C}
            elif p.strategy == "ALLD":
                assert set(towards(p).values()) == {D}


def test_random_players_cooperate_half_the_time_reproducibly():
    def run(seed):
        model = CooperationModel(
            width=10, height=10, neighbourhood="von_neumann", strategies=("RANDOM",), update="keep", rng=seed
        )
        history = []
        for _ in range(5):
            model.step()
            history.append({p.unique_id: towards(p) for p in model.agents})
        return history

    history = run(7)
    moves = [m for rnd in history for player in rnd.values() for m in player.values()]
    assert len(moves) == 5 * 100 * 4
    assert 0.45 < moves.count(C) / len(moves) < 0.55
    assert run(7) == history
    assert run(8) != history


# --------------------------------------------------------------- moves per partner
def test_a_player_moves_towards_each_partner_on_their_own_history():
    # a TFT centre with an ALLC and two ALLD leaves
    model, (centre, allc, alld1, alld2) = game(nx.star_graph(3), "TFT", "ALLC", "ALLD", "ALLD")
    model.step()
    assert towards(centre) == dict.fromkeys([allc.unique_id, alld1.unique_id, alld2.unique_id], C)
    assert centre.move is C
    model.step()
    assert towards(centre) == {allc.unique_id: C, alld1.unique_id: D, alld2.unique_id: D}
    assert centre.move is D  # its move towards most partners
    assert centre.memory == {
        allc.unique_id: (C, C, False),
        alld1.unique_id: (D, D, True),
        alld2.unique_id: (D, D, True),
    }


def test_observe_shows_each_neighbours_move_towards_the_player():
    model, (allc, tft, alld) = game(nx.path_graph(3), "ALLC", "TFT", "ALLD", scores="cumulative")
    model.step()
    model.step()
    assert towards(tft) == {allc.unique_id: C, alld.unique_id: D}
    seen_by_allc = allc.observe()
    seen_by_alld = alld.observe()
    assert seen_by_allc.round == 2
    assert not seen_by_allc.imitate
    (view,) = seen_by_allc.neighbours
    assert (view.id, view.move, view.score, view.strategy) == (tft.unique_id, C, tft.score, "TFT")
    (view,) = seen_by_alld.neighbours
    assert (view.id, view.move) == (tft.unique_id, D)
    own = tft.observe()
    assert (own.move, own.score, own.strategy) == (tft.move, tft.score, "TFT")
    assert [n.id for n in own.neighbours] == [n.unique_id for n in tft.neighbours]
    assert {n.id: n.move for n in own.neighbours} == {allc.unique_id: C, alld.unique_id: D}


def test_decide_imitates_only_when_the_situation_says_so():
    model, (allc, alld) = game(nx.path_graph(2), "ALLC", "ALLD", update="imitate")
    model.step()  # ALLC earns S = 0, ALLD earns T = 1.6
    situation = allc.observe()
    assert allc.decide(dataclasses.replace(situation, imitate=False)) == Play("ALLC", C)
    assert allc.decide(dataclasses.replace(situation, imitate=True)) == Play("ALLD", D)
    # the winner keeps its strategy
    assert alld.decide(dataclasses.replace(alld.observe(), imitate=True)) == Play("ALLD", D)


def test_act_adopts_the_play_and_its_majority_move():
    _, (centre, *leaves) = game(nx.star_graph(3), "ALLC", "ALLC", "ALLC", "ALLC")
    ids = [leaf.unique_id for leaf in leaves]
    centre.act(Play("TFT", D, {ids[0]: D, ids[1]: C, ids[2]: D}))
    assert centre.strategy == "TFT"
    assert towards(centre) == {ids[0]: D, ids[1]: C, ids[2]: D}
    assert centre.move is D
    centre.act(C)  # one move for every partner
    assert towards(centre) == dict.fromkeys(ids, C)
    assert centre.move is C
