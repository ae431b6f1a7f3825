import math

import networkx as nx
import pandas as pd
import pytest
from mesa.examples import PdGrid

from mesa_llm import FunctionChatModel, InMemoryCache, LLMRuntime
from mesa_llm.lab import model_parameters
from mesa_llm_models.cooperation import SCENARIO, STRATEGIES, CooperationModel, Move, Payoffs
from tests.models.cooperation.games import game

C, D = Move.COOPERATE, Move.DEFECT
AXELROD = Payoffs(R=3.0, S=0.5, T=5.0, P=1.0)  # distinct values, so sums show which games were played


def strategies_of(players):
    return [p.strategy for p in players]


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
    centre.moves = {}
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


# ------------------------------------------------------------------------------ payoffs
@pytest.mark.parametrize(
    ("first", "second", "payoffs"),
    [
        ("ALLC", "ALLC", (3.0, 3.0)),  # R, R
        ("ALLC", "ALLD", (0.5, 5.0)),  # S, T
        ("ALLD", "ALLC", (5.0, 0.5)),  # T, S
        ("ALLD", "ALLD", (1.0, 1.0)),  # P, P
    ],
)
def test_each_pair_is_paid_from_the_matrix(first, second, payoffs):
    model, players = game(nx.path_graph(2), first, second, payoffs=AXELROD)
    model.step()
    assert tuple(p.payoff for p in players) == payoffs


@pytest.mark.parametrize(("scores", "expected"), [("round", (0.5, 5.0)), ("cumulative", (1.5, 15.0))])
def test_round_scores_are_the_last_payoff_cumulative_scores_the_sum(scores, expected):
    model, players = game(nx.path_graph(2), "ALLC", "ALLD", payoffs=AXELROD, scores=scores)
    for _ in range(3):
        model.step()
        assert tuple(p.payoff for p in players) == (0.5, 5.0)
    assert tuple(p.score for p in players) == expected


@pytest.mark.parametrize(("self_interaction", "expected"), [(False, (0.5, 5.0)), (True, (3.5, 6.0))])
def test_self_interaction_adds_a_game_against_oneself(self_interaction, expected):
    # ALLC also earns R against itself, ALLD also earns P
    model, players = game(
        nx.path_graph(2), "ALLC", "ALLD", payoffs=AXELROD, scores="round", self_interaction=self_interaction
    )
    model.step()
    model.step()
    assert tuple(p.payoff for p in players) == expected


def test_payoffs_add_up_over_partners_with_a_move_for_each():
    model, (tft, allc, alld) = game(nx.star_graph(2), "TFT", "ALLC", "ALLD", payoffs=AXELROD)
    model.step()  # TFT cooperates with both
    assert (tft.payoff, allc.payoff, alld.payoff) == (3.0 + 0.5, 3.0, 5.0)
    model.step()  # TFT cooperates with ALLC, defects against ALLD
    assert (tft.payoff, allc.payoff, alld.payoff) == (3.0 + 1.0, 3.0, 1.0)
    assert (tft.score, allc.score, alld.score) == (7.5, 6.0, 6.0)


def test_a_player_without_neighbours_still_plays_itself():
    # an isolated node (common in random graphs) with a game against oneself earns (m, m) every round
    graph = nx.path_graph(2)
    graph.add_node(2)
    model, (_, _, alone) = game(graph, "ALLC", "ALLC", "ALLC", payoffs=AXELROD, self_interaction=True)
    assert alone.neighbours == []
    for _ in range(3):
        model.step()
        assert alone.payoff == 3.0


# ------------------------------------------------------------------------ neighbourhoods
@pytest.mark.parametrize(
    ("neighbourhood", "around_centre", "around_corner"),
    [
        ("von_neumann", {(0, 1), (2, 1), (1, 0), (1, 2)}, {(2, 0), (1, 0), (0, 2), (0, 1)}),
        (
            "moore",
            {(x, y) for x in range(3) for y in range(3)} - {(1, 1)},
            {(x, y) for x in range(3) for y in range(3)} - {(0, 0)},
        ),
    ],
)
def test_torus_neighbourhoods(neighbourhood, around_centre, around_corner):
    model = CooperationModel(
        width=3, height=3, neighbourhood=neighbourhood, strategies=("ALLC",), payoffs=AXELROD, rng=0
    )
    players = {p.cell.coordinate: p for p in model.agents}
    for coordinate, expected in (((1, 1), around_centre), ((0, 0), around_corner)):
        neighbours = [n.cell.coordinate for n in players[coordinate].neighbours]
        assert len(neighbours) == len(expected)
        assert set(neighbours) == expected
    model.step()
    assert {p.payoff for p in model.agents} == {len(around_centre) * 3.0}


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 2), (2, 1), (1, 5)])
@pytest.mark.parametrize("neighbourhood", ["moore", "von_neumann"])
def test_on_a_tiny_torus_no_player_is_its_own_neighbour(width, height, neighbourhood):
    """Mesa's neighbourhood of a cell on a torus one cell wide holds the cell itself."""
    model = CooperationModel(
        width=width, height=height, neighbourhood=neighbourhood, strategies=("ALLC",), payoffs=AXELROD, rng=0
    )
    assert any(p.cell in p.cell.neighborhood for p in model.agents)
    for player in model.agents:
        assert player not in player.neighbours
        assert len(set(player.neighbours)) == len(player.neighbours)
    model.step()
    assert {p.payoff for p in model.agents} == {3.0 * len(p.neighbours) for p in model.agents}


def test_a_self_loop_of_a_graph_is_no_game_with_oneself():
    model, (loop, other) = game(nx.Graph([(0, 0), (0, 1)]), "ALLC", "ALLC", payoffs=AXELROD)
    assert loop.neighbours == [other]
    model.step()
    assert loop.payoff == other.payoff == 3.0


def test_moore_grid_without_torus_has_fewer_neighbours_on_the_border():
    model = CooperationModel(width=3, height=3, torus=False, strategies=("ALLC",), payoffs=AXELROD, rng=0)
    players = {p.cell.coordinate: p for p in model.agents}
    assert {c: len(p.neighbours) for c, p in players.items()} == {
        (0, 0): 3, (0, 2): 3, (2, 0): 3, (2, 2): 3, (0, 1): 5, (1, 0): 5, (1, 2): 5, (2, 1): 5, (1, 1): 8
    }  # fmt: skip
    model.step()
    assert players[(0, 0)].payoff == 9.0
    assert players[(1, 1)].payoff == 24.0


def test_on_a_network_neighbours_are_the_graph_neighbours():
    graph = nx.Graph([(0, 1), (1, 2), (1, 3), (3, 4)])
    model, players = game(graph, "ALLC", "ALLC", "ALLD", "ALLC", "ALLC", payoffs=AXELROD)
    for node, player in enumerate(players):
        assert player.cell.coordinate == node
        assert sorted(n.cell.coordinate for n in player.neighbours) == sorted(graph[node])
    model.step()
    # node 1 meets 0, 3 (R each) and the defector 2 (S); node 3 meets 1 and 4
    assert [p.payoff for p in players] == [3.0, 3.0 + 3.0 + 0.5, 5.0, 6.0, 3.0]


# ------------------------------------------------------------------------------ imitation
def test_keep_never_changes_strategies_where_imitation_would():
    def strategies_over_time(update):
        model = CooperationModel(width=3, height=3, strategies=("ALLC", "ALLD", "TFT"), update=update, rng=2)
        history = [sorted((p.unique_id, p.strategy) for p in model.agents)]
        for _ in range(5):
            model.step()
            history.append(sorted((p.unique_id, p.strategy) for p in model.agents))
        return history

    kept = strategies_over_time("keep")
    assert len({s for _, s in kept[0]}) == 3
    assert all(state == kept[0] for state in kept)
    imitated = strategies_over_time("imitate")
    assert imitated[0] == kept[0]
    assert imitated[-1] != kept[0]


@pytest.mark.parametrize(("ties", "third"), [("keep", "TFT"), ("first", "ALLC")])
def test_players_take_the_strategy_of_the_best_scoring_neighbour(ties, third):
    # round 1 (PdGrid payoffs): ALLD 1.6, ALLC 0 + 1 = 1, TFT 1. The ALLC player copies the
    # defector (not its first neighbour); TFT ties with ALLC: "keep" keeps it, "first" copies ALLC.
    model, players = game(nx.path_graph(3), "ALLD", "ALLC", "TFT", update="imitate", ties=ties)
    model.step()
    assert [p.score for p in players] == [1.6, 1.0, 1.0]
    model.step()
    assert strategies_of(players) == ["ALLD", "ALLD", third]


@pytest.mark.parametrize(
    ("every", "defectors"),
    [
        (1, [1, 3, 5, 7, 9, 10, 10]),
        (2, [1, 1, 3, 3, 5, 5, 7]),
        (3, [1, 1, 1, 3, 3, 3, 5]),
    ],
)
def test_imitation_happens_only_every_k_rounds(every, defectors):
    # One defector on a ring of 10 cooperators, T = 2.5 and per-round scores: at every
    # imitation round the cooperators next to the defectors (S + R = 1) copy them (P + T = 2.5).
    model, _ = game(
        nx.cycle_graph(10),
        "ALLD",
        *["ALLC"] * 9,
        payoffs=Payoffs(R=1.0, S=0.0, T=2.5, P=0.0),
        scores="round",
        update="imitate",
        update_every=every,
    )
    counts = []
    for _ in defectors:
        model.step()
        counts.append(sum(p.strategy == "ALLD" for p in model.agents))
    assert counts == defectors


@pytest.mark.parametrize(("ties", "after"), [("keep", ["TFT", "ALLC"]), ("first", ["ALLC", "TFT"])])
def test_ties_between_self_and_the_best_neighbour(ties, after):
    # TFT and ALLC both earn R: on "keep" both keep their strategy, on "first" they swap
    model, players = game(nx.path_graph(2), "TFT", "ALLC", update="imitate", ties=ties)
    model.step()
    assert players[0].score == players[1].score
    model.step()
    assert strategies_of(players) == after


def test_ties_first_takes_the_first_neighbour_when_all_scores_are_equal():
    initial = ["ALLC", "ALLD", "TFT"]
    model, players = game(nx.path_graph(3), *initial, update="imitate", ties="first", imitate_first=True)
    middle = players[1]
    first, second = middle.neighbours
    assert first.strategy != second.strategy
    model.step()  # all scores 0: everybody copies its first neighbour
    assert strategies_of(players) == ["ALLD", initial[players.index(first)], "ALLD"]
    assert middle.strategy != initial[players.index(second)]


@pytest.mark.parametrize(("ties", "models"), [("keep", [0, 1, 2]), ("first", [0, 0, 2])])
def test_scores_equal_but_for_float_noise_are_tied_where_players_keep_on_ties(ties, models):
    """1.6 + 1.6 + 1.6 is 4.800000000000001: with "keep" a tie with 4.8, as players see both as 4.8.

    With PdGrid's "first" the scores are compared unrounded, as PdGrid compares them: the
    larger float wins.
    """
    model, players = game(nx.path_graph(3), "ALLC", "ALLD", "ALLC", update="imitate", ties=ties)
    for player, score in zip(players, (1.6 + 1.6 + 1.6, 4.8, 3 * 1.6), strict=True):
        player.score = score
    assert len({p.score for p in players}) == 2  # not equal floats
    assert [players.index(model.model_of(p)) for p in players] == models
    players[1].score = 4.81  # a real difference still counts
    assert [players.index(model.model_of(p)) for p in players] == [1, 1, 1]


def test_ties_keep_keeps_everybody_on_equal_scores():
    model, players = game(nx.path_graph(3), "ALLC", "ALLD", "TFT", update="imitate", imitate_first=True)
    model.step()
    assert strategies_of(players) == ["ALLC", "ALLD", "TFT"]


@pytest.mark.parametrize(
    ("imitate_first", "after_first", "payoffs_first", "after_second"),
    [
        (True, ["ALLD", "ALLC"], [1.6, 0.0], ["ALLD", "ALLD"]),  # swap on zero scores, as PdGrid
        (False, ["ALLC", "ALLD"], [0.0, 1.6], ["ALLD", "ALLD"]),
    ],
)
def test_imitate_first_imitates_before_the_first_round(
    imitate_first, after_first, payoffs_first, after_second
):
    model, players = game(
        nx.path_graph(2), "ALLC", "ALLD", update="imitate", ties="first", imitate_first=imitate_first
    )
    model.step()
    assert strategies_of(players) == after_first
    assert [p.payoff for p in players] == payoffs_first
    model.step()
    assert strategies_of(players) == after_second


# ----------------------------------------------------------------------------- activation
ACTIVATION_CASE = ("ALLD", "ALLC", "ALLC")
"""On a path, with PdGrid payoffs: after round 1, ALLD (1.6) beats its ALLC neighbour (1),
which ties with the last ALLC (1). In round 2 the middle player turns ALLD; acting before
the last player, it has already earned 1.6 when that one looks, and is copied."""


@pytest.mark.parametrize(
    ("activation", "strategies", "payoffs"),
    [
        ("simultaneous", ["ALLD", "ALLD", "ALLC"], [0.0, 1.6, 0.0]),
        ("sequential", ["ALLD", "ALLD", "ALLD"], [1.6, 1.6, 0.0]),  # player 0 meets player 1's old C
    ],
)
def test_sequential_players_see_earlier_moves_of_the_round(activation, strategies, payoffs):
    model, players = game(nx.path_graph(3), *ACTIVATION_CASE, update="imitate", activation=activation)
    model.step()
    assert [p.payoff for p in players] == [1.6, 1.0, 1.0]
    model.step()
    assert strategies_of(players) == strategies
    assert [p.payoff for p in players] == payoffs


RANDOM_ACTIVATION_OUTCOMES = {
    # round 2's activation order -> strategies after it (cumulative scores after round 1: 1.6, 1, 1)
    (0, 1, 2): ("ALLD", "ALLD", "ALLD"),  # the middle player turns ALLD first, then is copied
    (1, 0, 2): ("ALLD", "ALLD", "ALLD"),
    (1, 2, 0): ("ALLD", "ALLD", "ALLD"),
    (0, 2, 1): ("ALLD", "ALLD", "ALLC"),  # the last one looks before its neighbour has gained
    (2, 0, 1): ("ALLD", "ALLD", "ALLC"),
    # the last one keeps ALLC and earns 1 (score 2), the middle player copies it (2 > 1.6) and
    # earns 1 (score 2), and the defector (1.6) copies the middle player
    (2, 1, 0): ("ALLC", "ALLC", "ALLC"),
}


def test_random_activation_outcome_follows_the_seeded_order():
    def run(seed):
        model, players = game(
            nx.path_graph(3), *ACTIVATION_CASE, update="imitate", activation="random", rng=seed
        )
        model.step()
        order = []
        collect = model.collect_payoff

        def recording(player):
            order.append(player.cell.coordinate)
            collect(player)

        model.collect_payoff = recording
        model.step()
        return tuple(order), tuple(strategies_of(players))

    runs = {seed: run(seed) for seed in range(10)}
    for order, strategies in runs.values():
        assert strategies == RANDOM_ACTIVATION_OUTCOMES[order]
    assert len({strategies for _, strategies in runs.values()}) == 3
    assert all(run(seed) == runs[seed] for seed in range(3))


def activation_orders(activation, seed, monkeypatch):
    """The order in which the players collect their payoffs, in rounds 2 to 6."""
    model = CooperationModel(width=3, height=3, strategies=("ALLC",), activation=activation, rng=seed)
    model.step()  # the opening round
    orders = []
    collect = model.collect_payoff

    def recording(player):
        orders[-1].append(player.unique_id)
        collect(player)

    monkeypatch.setattr(model, "collect_payoff", recording)
    for _ in range(5):
        orders.append([])
        model.step()
    return orders, sorted(p.unique_id for p in model.agents)


def test_random_activation_reshuffles_every_round_reproducibly(monkeypatch):
    orders, ids = activation_orders("random", 1, monkeypatch)
    assert all(sorted(order) == ids for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    assert activation_orders("random", 1, monkeypatch)[0] == orders
    assert activation_orders("random", 2, monkeypatch)[0] != orders


def test_sequential_activation_follows_creation_order(monkeypatch):
    orders, ids = activation_orders("sequential", 1, monkeypatch)
    assert orders == [ids] * 5


# ------------------------------------------------------------------------------ reporters
def last_row(model):
    return model.datacollector.get_model_vars_dataframe().iloc[-1]


def test_model_reporters_on_a_star():
    # an ALLC centre and three ALLD leaves: moves C, C, C from the centre, D from each leaf
    model, _ = game(nx.star_graph(3), "ALLC", "ALLD", "ALLD", "ALLD", payoffs=AXELROD)
    model.step()
    row = last_row(model)
    assert row["cooperation"] == 0.5  # share of moves, not of players (1/4)
    assert row["cooperating"] == 1
    assert row["mean_payoff"] == (3 * 0.5 + 3 * 5.0) / 4
    assert row["mean_payoff_rule"] == row["mean_payoff"]
    assert row["cooperation_rule"] == 0.5
    assert row["players_rule"] == 4
    assert row["players_llm"] == 0
    assert (row["strategy_ALLC"], row["strategy_ALLD"]) == (1, 3)
    assert all(row[f"strategy_{s}"] == 0 for s in ("TFT", "GRIM", "WSLS", "RANDOM"))
    assert (row["payoff_ALLC"], row["payoff_ALLD"]) == (1.5, 5.0)
    assert math.isnan(row["payoff_TFT"])


def test_cooperation_counts_each_move_and_cooperating_each_majority():
    model, _ = game(nx.star_graph(3), "TFT", "ALLC", "ALLD", "ALLD", payoffs=AXELROD)
    model.step()  # TFT: C, C, C
    row = last_row(model)
    assert (row["cooperation"], row["cooperating"]) == (4 / 6, 2)
    model.step()  # TFT: C to ALLC, D, D to the defectors
    row = last_row(model)
    assert (row["cooperation"], row["cooperating"]) == (2 / 6, 1)
    assert row["payoff_TFT"] == 3.0 + 1.0 + 1.0
    assert row["payoff_ALLD"] == 1.0
    assert row["mean_payoff"] == (5.0 + 3.0 + 1.0 + 1.0) / 4


def test_strategy_reporters_follow_imitation():
    model, _ = game(nx.path_graph(2), "ALLC", "ALLD", update="imitate", payoffs=AXELROD)
    model.step()
    model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["strategy_ALLC"].tolist()[1:] == [1, 0]
    assert frame["strategy_ALLD"].tolist()[1:] == [1, 2]
    assert frame["payoff_ALLD"].tolist()[1:] == [5.0, 1.0]
    assert math.isnan(frame["payoff_ALLC"].iloc[-1])


def test_agent_reporters_strategy_population_score():
    model, (allc, alld) = game(nx.path_graph(2), "ALLC", "ALLD", update="imitate", payoffs=AXELROD)
    model.step()
    model.step()  # ALLC copies ALLD, and both earn P
    frame = model.datacollector.get_agent_vars_dataframe()
    assert list(frame.columns) == ["strategy", "population", "score"]
    assert len(frame) == 3 * 2
    assert frame.loc[(1, allc.unique_id)].tolist() == ["ALLC", "rule", 0.5]
    assert frame.loc[(1, alld.unique_id)].tolist() == ["ALLD", "rule", 5.0]
    assert frame.loc[(2, allc.unique_id)].tolist() == ["ALLD", "rule", 1.5]
    assert frame.loc[(2, alld.unique_id)].tolist() == ["ALLD", "rule", 6.0]


def test_same_seed_gives_the_same_frames():
    def run(seed):
        model = CooperationModel(
            width=4, height=4, strategies=STRATEGIES, activation="random", update_every=2, rng=seed
        )
        for _ in range(6):
            model.step()
        collector = model.datacollector
        return collector.get_model_vars_dataframe(), collector.get_agent_vars_dataframe()

    model_frame, agent_frame = run(11)
    again_model, again_agents = run(11)
    pd.testing.assert_frame_equal(again_model, model_frame)
    pd.testing.assert_frame_equal(again_agents, agent_frame)
    other_model, other_agents = run(12)
    assert not other_model.equals(model_frame)
    assert not other_agents.equals(agent_frame)


# --------------------------------------------------------------------------- parameters
class NotACache:
    """Has neither get nor put."""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("width", "20"),
        ("height", 3.0),
        ("torus", "false"),
        ("neighbourhood", 8),
        ("graph", [(0, 1)]),
        ("payoffs", 1.6),
        ("payoffs", (1, 0, "1.6", 0)),
        ("strategies", 2),
        ("strategies", ["ALLC", 1]),
        ("strategies", {"ALLC": "1"}),
        ("update", True),
        ("update_every", 1.0),
        ("ties", None),
        ("imitate_first", "no"),
        ("scores", 0),
        ("self_interaction", "no"),
        ("activation", 1),
        ("require_dilemma", 0),
        ("llm_share", "0.5"),
        ("backend", 42),
        ("cache", NotACache()),
        ("runtime", "fast"),
        ("llm_imitation", 1),
        ("llm_moves", ["each"]),
        ("rng", "seed"),
        ("rng", True),
    ],
)
def test_a_parameter_of_the_wrong_type_raises_a_type_error_naming_it(name, value):
    with pytest.raises(TypeError, match=name):
        CooperationModel(**{"width": 3, "height": 3, name: value})


@pytest.mark.parametrize(
    ("name", "value", "more"),
    [
        ("width", 0, {}),
        ("height", -2, {}),
        ("neighbourhood", "hex", {}),
        ("payoffs", (1, 0, math.inf, 0), {}),
        ("payoffs", (1, 0, 1.6), {}),
        ("payoffs", "1;0;1.6;0", {}),
        ("strategies", {"ALLC": math.nan}, {}),
        ("strategies", "ALLC,NICE", {}),
        ("update", "copy", {}),
        ("update_every", 0, {}),
        ("ties", "random", {}),
        ("scores", "total", {}),
        ("activation", "parallel", {}),
        ("llm_share", 1.5, {}),
        ("backend", "no_such_provider:model", {}),
        ("cache", InMemoryCache(), {"runtime": LLMRuntime(FunctionChatModel(fn=lambda _m: "cooperate"))}),
        ("runtime", LLMRuntime(FunctionChatModel(fn=lambda _m: "cooperate")), {"backend": "rule"}),
        ("llm_imitation", "mixed", {}),
        ("llm_moves", "all", {}),
        ("rng", -1, {}),
    ],
)
def test_a_parameter_of_a_wrong_value_raises_a_value_error_naming_it(name, value, more):
    """Flags and graphs have no wrong value, only wrong types."""
    with pytest.raises(ValueError, match=name):
        CooperationModel(**{"width": 3, "height": 3, name: value, **more})


def test_text_settings_of_the_lab_reach_the_model_typed():
    settings = {"self-interaction": "yes", "torus": "false", "width": "4", "height": "4", "update_every": "2"}
    model = CooperationModel(**model_parameters(SCENARIO, settings), rng=0)
    assert (model.self_interaction, model.update_every) == (True, 2)
    assert len(model.agents) == 16
    assert {len(p.neighbours) for p in model.agents} == {3, 5, 8}  # no torus


def error_of(call, params):
    """The type and message of the error ``call(**params)`` raises."""
    with pytest.raises((TypeError, ValueError)) as info:
        call(**params)
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "params",
    [
        {"width": "20"},
        {"neighbourhood": "hex"},
        {"payoffs": (3, 0, 2, 1)},  # not a dilemma
        {"payoffs": "1;0;1.6;0"},
        {"strategies": "ALLC,NICE"},
        {"update_every": 0},
        {"imitate_first": "no"},
        {"llm_share": 1.5},
        {"llm_moves": "all"},
        {"framing": "village"},
        {"framings": ("plain",)},
        {"rng": "seed"},
    ],
)
def test_the_scenario_check_rejects_what_the_constructor_rejects_with_its_error(params):
    assert error_of(lambda **p: SCENARIO.check(p), params) == error_of(CooperationModel, params)


def test_the_scenario_check_accepts_the_defaults_and_refuses_unknown_names():
    SCENARIO.check(model_parameters(SCENARIO, {}))
    SCENARIO.check({"framing": "matrix", "payoffs": (3, 0, 2, 1), "require_dilemma": False, "rng": 1})
    with pytest.raises(TypeError, match="colour"):
        SCENARIO.check({"colour": "blue"})


def test_the_scenario_declares_its_outcomes_and_the_framing_parameter():
    assert [(o.metric, o.margin, o.last) for o in SCENARIO.outcomes] == [
        ("cooperation", 0.05, 10),
        ("mean_payoff", 0.4, 10),
    ]
    model = CooperationModel(width=8, height=8, rng=2)
    model.run_for(12)
    frame = model.datacollector.get_model_vars_dataframe()
    cooperation, mean_payoff = (outcome.summarise(frame) for outcome in SCENARIO.outcomes)
    assert cooperation == frame["cooperation"].iloc[-10:].mean()
    assert 0 <= cooperation <= 1
    assert mean_payoff == frame["mean_payoff"].iloc[-10:].mean()
    assert 0 <= mean_payoff <= 8 * 1.6  # a round's payoff over 8 games
    parameter = SCENARIO.parameters()["framing"]
    assert (parameter.kind, parameter.default) == (str, "neutral")
    assert "matrix" in parameter.description
    assert "framings" not in SCENARIO.parameters()  # a mapping of templates: set in Python only
