"""LLM players: mixed populations, the rule-following chat model, the prompt."""

import json
import re

import pandas as pd
import pytest

from mesa_llm import FunctionChatModel, InMemoryCache, LLMRuntime, ScoringChatModel
from mesa_llm.lab import model_parameters
from mesa_llm_models.cooperation import SCENARIO, CooperationModel, Move
from mesa_llm_models.cooperation.agents import LLMPlayer, seen_score
from mesa_llm_models.cooperation.partners import LLMPartnerPlayer
from mesa_llm_models.cooperation.rule_backend import rule_following_backend, tit_for_tat_answer
from tests.models.answers import garbage_first
from tests.models.cooperation.games import plays_tit_for_tat, towards_all


def state(model):
    return {p.cell.coordinate: (p.move, p.score) for p in model.agents}


@pytest.mark.parametrize("activation", ["Sequential", "Random", "Simultaneous"])
@pytest.mark.parametrize("share", [0.5, 1.0])
@pytest.mark.parametrize("llm_moves", ["one", "each"])
def test_llm_players_answering_like_the_rule_reproduce_the_all_rule_run(activation, share, llm_moves):
    backend = rule_following_backend(ties="first", update_every=1, imitate_first=True)
    rule = CooperationModel.pd_grid(activation, width=8, height=8, rng=5)
    mixed = CooperationModel.pd_grid(
        activation, width=8, height=8, rng=5, llm_share=share, backend=backend, llm_moves=llm_moves
    )
    assert sum(p.population == "llm" for p in mixed.agents) == round(share * 64)
    for _ in range(8):
        rule.step()
        mixed.step()
        assert state(mixed) == state(rule)
    frame = mixed.datacollector.get_model_vars_dataframe()
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert frame["llm_decisions"].iloc[-1] == 8 * round(share * 64)


def test_nowak_may_mixed_with_rule_following_llm_players_equals_all_rule():
    backend = rule_following_backend(ties="keep")
    rule = CooperationModel.nowak_may(b=1.8, width=10, height=10, rng=2)
    mixed = CooperationModel.nowak_may(b=1.8, width=10, height=10, rng=2, llm_share=0.3, backend=backend)
    for _ in range(6):
        rule.step()
        mixed.step()
    assert state(mixed) == state(rule)
    pd.testing.assert_series_equal(
        mixed.datacollector.get_model_vars_dataframe()["cooperation"],
        rule.datacollector.get_model_vars_dataframe()["cooperation"],
    )


def test_the_prompt_states_the_payoffs_and_the_last_round():
    model = CooperationModel.nowak_may(
        b=1.5, width=5, height=5, rng=1, llm_share=1.0, backend=rule_following_backend()
    )
    player = next(iter(model.agents))
    assert isinstance(player, LLMPlayer)
    (_, system), (_, user) = player.messages(player.observe())
    assert "cooperate or defect" in system
    assert "you get 0.0 and they get 1.5" in user
    assert "Round 1 is starting. You have not played yet." in user
    model.step()
    (_, _), (_, user) = player.messages(player.observe())
    assert f"Last round you played {player.move} and your score is {seen_score(player.score)!r}." in user
    assert user.count("- played ") == 8
    assert user.endswith("Do you cooperate or defect?")


def test_llm_players_with_option_scoring_draw_their_moves_and_record_probabilities():
    scores = ScoringChatModel(scores=lambda _m, _o: {"cooperate": 0.3, "defect": 0.7}, temperature=1.0)
    model = CooperationModel(
        width=6, height=6, rng=4, llm_share=1.0, runtime=LLMRuntime(scores, cache=InMemoryCache())
    )
    model.step()  # the opening round: initial strategies' moves, nothing asked
    assert len(model.llm.log) == 0
    model.step()
    records = model.llm.log.to_dataframe()
    assert len(records) == 36
    assert set(records["action"]) == {"cooperate", "defect"}
    assert all(p == pytest.approx({"cooperate": 0.3, "defect": 0.7}) for p in records["probabilities"])
    moves = [p.move for p in model.agents]
    assert moves.count(Move.DEFECT) > moves.count(Move.COOPERATE)


def test_llm_share_out_of_range_is_refused():
    with pytest.raises(ValueError, match="llm_share must be a fraction"):
        CooperationModel(width=3, height=3, llm_share=1.5)


def test_llm_imitation_by_the_rule_needs_no_model_on_imitation_rounds():
    always_defect = FunctionChatModel(fn=lambda _m: "defect", model_name="always-defect")
    rule = CooperationModel.pd_grid("Simultaneous", width=8, height=8, rng=6)
    mixed = CooperationModel.pd_grid(
        "Simultaneous", width=8, height=8, rng=6, llm_share=0.5, backend=always_defect, llm_imitation="rule"
    )
    for _ in range(6):
        rule.step()
        mixed.step()
    assert state(mixed) == state(rule)  # every PdGrid round is an imitation round
    assert len(mixed.llm.log) == 0


def test_llm_imitation_by_the_rule_asks_the_model_between_imitation_rounds():
    always_defect = FunctionChatModel(fn=lambda _m: "defect", model_name="always-defect")
    model = CooperationModel(
        width=6, height=6, rng=1, llm_share=1.0, backend=always_defect, llm_imitation="rule", update_every=2
    )
    for _ in range(5):  # rounds 1..5: the opening, then 2 (imitation), 3 (asked), 4 (imitation), 5 (asked)
        model.step()
    assert len(model.llm.log) == 2 * 36
    assert model.llm.log.to_dataframe()["step"].unique().tolist() == [2, 4]
    # on its own, the model defects: cooperation after an asked round is 0
    assert model.datacollector.get_model_vars_dataframe()["cooperation"].iloc[-1] == 0


def test_llm_imitation_must_be_llm_or_rule():
    with pytest.raises(ValueError, match="llm_imitation must be one of 'llm', 'rule'"):
        CooperationModel(width=3, height=3, llm_imitation="mixed")


@pytest.mark.parametrize(
    ("answer", "failures"), [(tit_for_tat_answer, 0), (garbage_first(tit_for_tat_answer), 1)]
)
def test_llm_players_moving_towards_each_partner_like_tit_for_tat_equal_tft_rule_players(answer, failures):
    """Also when every first answer is garbage: the retry is answered by tit for tat."""
    tft = FunctionChatModel(fn=answer, model_name=f"tit-for-tat-after-{failures}-failures")
    params = {"width": 7, "height": 7, "strategies": ("ALLC", "ALLD"), "update": "keep", "rng": 8}
    mixed = CooperationModel(**params, llm_share=0.4, llm_moves="each", runtime=LLMRuntime(tft, dedup=False))
    rule = CooperationModel(**params)
    llm_cells = plays_tit_for_tat(mixed, rule, 5)
    records = mixed.llm.log.to_dataframe()
    assert not records["fallback"].any()
    assert len(records) == 5 * len(llm_cells)
    assert (records["parse_failures"] == failures).all()


@pytest.mark.parametrize("llm_moves", ["one", "each"])
@pytest.mark.parametrize(
    ("update", "update_every", "ties", "imitate_first"),
    [
        ("imitate", 1, "keep", False),
        ("imitate", 1, "keep", True),  # imitating the opening moves, keeping one's own on all-zero scores
        ("imitate", 2, "first", True),
        ("imitate", 3, "keep", False),
        ("keep", 1, "keep", False),  # nobody imitates
    ],
)
def test_the_scenario_rule_backend_reproduces_the_all_rule_run_for_every_rule(
    llm_moves, update, update_every, ties, imitate_first
):
    """The chat model of ``--backend rule``, built by the scenario spec from the run's parameters."""
    settings = {"width": 6, "height": 6, "update": update, "update_every": update_every, "ties": ties}
    params = model_parameters(SCENARIO, {**settings, "imitate_first": imitate_first, "llm_moves": llm_moves})
    rule = CooperationModel(**{**params, "llm_share": 0.0}, rng=4)
    mixed = CooperationModel(**{**params, "llm_share": 0.5}, rng=4, backend=SCENARIO.rule_backend(params))
    for _ in range(6):
        rule.step()
        mixed.step()
        assert towards_all(mixed) == towards_all(rule)
    last = mixed.datacollector.get_model_vars_dataframe().iloc[-1]
    assert last["llm_decisions"] > 0
    assert last["llm_fallbacks"] == last["llm_parse_failures"] == 0


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 2), (2, 2), (1, 3)])
@pytest.mark.parametrize("torus", [True, False])
@pytest.mark.parametrize("llm_moves", ["one", "each"])
def test_tiny_grids_run_with_rule_following_llm_players(width, height, torus, llm_moves):
    """A player with one neighbour or none, on a torus whose cells Mesa makes their own neighbours."""
    params = {"width": width, "height": height, "torus": torus, "imitate_first": True, "rng": 1}
    rule = CooperationModel(**params)
    backend = rule_following_backend(imitate_first=True)
    mixed = CooperationModel(**params, llm_share=1.0, llm_moves=llm_moves, backend=backend)
    for _ in range(3):
        rule.step()
        mixed.step()
        assert towards_all(mixed) == towards_all(rule)
    assert mixed.datacollector.get_model_vars_dataframe()["llm_fallbacks"].iloc[-1] == 0


def test_per_partner_answers_of_the_wrong_length_fall_back():
    wrong = FunctionChatModel(fn=lambda _m: '{"moves": ["defect"]}', model_name="one-move-only")
    model = CooperationModel(width=5, height=5, rng=2, llm_share=1.0, llm_moves="each", backend=wrong)
    model.step()
    model.step()
    records = model.llm.log.to_dataframe()
    assert records["fallback"].all()
    assert model.datacollector.get_model_vars_dataframe()["cooperation"].iloc[-1] == 1.0  # the fallback


def test_the_embedded_local_model_plays_one_move_by_scoring_and_each_move_by_grammar():
    scored = CooperationModel(width=3, height=3, rng=1, llm_share=1.0)
    scored.step()
    scored.step()
    records = scored.llm.log.to_dataframe()
    assert set(records["action"]) <= {"cooperate", "defect"}
    assert all(sum(p.values()) == pytest.approx(1.0) for p in records["probabilities"])

    each = CooperationModel(width=3, height=3, rng=1, llm_share=0.12, llm_moves="each")
    each.step()
    each.step()
    (record,) = each.llm.log.to_dataframe().to_dict("records")
    assert not record["fallback"]
    assert len(json.loads(record["raw"])["moves"]) == 8


@pytest.mark.parametrize("player_class", [LLMPlayer, LLMPartnerPlayer])
def test_the_prompt_shows_scores_rounded(player_class):
    llm_moves = "each" if player_class is LLMPartnerPlayer else "one"
    model = CooperationModel(width=3, height=3, rng=1, llm_share=1.0, llm_moves=llm_moves, backend="rule")
    model.step()
    player = next(iter(model.agents))
    assert isinstance(player, player_class)
    player.score = 1.6 + 1.6 + 1.6
    noisy = [0.1 + 0.2, 1e-7, 128000.4, 9.6, 30.0, 2 / 3, -1.25, 1e6]
    for neighbour, score in zip(player.neighbours, noisy, strict=True):
        neighbour.score = score
    (_, user) = player.messages(player.observe())[-1]
    assert "your score is 4.8." in user
    shown = ["0.3", "0.0", "128000.4", "9.6", "30.0", "0.666667", "-1.25", "1000000.0"]
    assert re.findall(r"score (\S+)$", user, re.MULTILINE) == shown
    assert [float(text) for text in shown] == [seen_score(score) for score in noisy]  # read back exactly


def _raw_model_of(model, player):
    """The tie rule on the summed floats, unrounded (as Mesa's PdGrid compares them)."""
    best = max(player.neighbours, key=lambda p: p.score, default=None)
    if best is None or player.score > best.score or (model.ties == "keep" and player.score == best.score):
        return player
    return best


@pytest.mark.parametrize("llm_moves", ["one", "each"])
def test_rule_following_llm_players_equal_rule_players_where_float_noise_would_break_ties(llm_moves):
    """Payoffs 1.3 and 0.1 summed in different orders: rounded scores, in the prompt and the tie rule."""
    settings = {"width": 12, "height": 12, "payoffs": "1,0,1.3,0.1", "rng": 2}
    rule = CooperationModel(**settings)
    mixed = CooperationModel(**settings, llm_share=0.5, llm_moves=llm_moves, backend="rule")
    noisy = 0  # decisions the unrounded scores would have made otherwise
    for _ in range(8):
        noisy += sum(_raw_model_of(rule, p).move != rule.model_of(p).move for p in rule.agents)
        rule.step()
        mixed.step()
        assert state(mixed) == state(rule)
    assert noisy > 0
    columns = ["cooperation", "cooperating", "mean_payoff"]
    frames = [m.datacollector.get_model_vars_dataframe()[columns] for m in (mixed, rule)]
    assert frames[0].equals(frames[1])  # exactly equal, not merely close
    assert mixed.datacollector.get_model_vars_dataframe()["llm_decisions"].iloc[-1] == 7 * 72
