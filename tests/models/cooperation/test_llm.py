"""LLM players: mixed populations, the rule-following chat model, the prompt."""

import json

import pandas as pd
import pytest

from mesa_llm import FunctionChatModel, InMemoryCache, LLMRuntime, ScoringChatModel
from mesa_llm_models.cooperation import CooperationModel, Move
from mesa_llm_models.cooperation.agents import LLMPlayer
from mesa_llm_models.cooperation.rule_backend import rule_following_backend, tit_for_tat_answer


def state(model):
    return {p.cell.coordinate: (p.move, p.score) for p in model.agents}


@pytest.mark.parametrize("activation", ["Sequential", "Random", "Simultaneous"])
@pytest.mark.parametrize("share", [0.5, 1.0])
def test_llm_players_answering_like_the_rule_reproduce_the_all_rule_run(activation, share):
    backend = rule_following_backend(ties="first", update_every=1, imitate_first=True)
    rule = CooperationModel.pd_grid(activation, width=8, height=8, rng=5)
    mixed = CooperationModel.pd_grid(activation, width=8, height=8, rng=5, llm_share=share, backend=backend)
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
    assert f"Last round you played {player.move} and your score is {player.score!r}." in user
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
    with pytest.raises(ValueError, match="llm_imitation must be 'llm' or 'rule'"):
        CooperationModel(width=3, height=3, llm_imitation="mixed")


def test_llm_players_moving_towards_each_partner_like_tit_for_tat_equal_tft_rule_players():
    tft = FunctionChatModel(fn=tit_for_tat_answer, model_name="tit-for-tat")
    params = {"width": 7, "height": 7, "strategies": ("ALLC", "ALLD"), "update": "keep", "rng": 8}
    mixed = CooperationModel(**params, llm_share=0.4, llm_moves="each", backend=tft)
    rule = CooperationModel(**params)
    llm_cells = {p.cell.coordinate for p in mixed.agents if p.population == "llm"}
    mixed.step()
    rule.step()  # the opening round: everyone plays its initial strategy's move
    for player in rule.agents:  # from now on the LLM players' places play tit for tat
        if player.cell.coordinate in llm_cells:
            player.strategy = "TFT"
    for _ in range(5):
        mixed.step()
        rule.step()
        assert towards_all(mixed) == towards_all(rule)
    records = mixed.llm.log.to_dataframe()
    assert not records["fallback"].any()
    assert len(records) == 5 * len(llm_cells)


def test_per_partner_answers_of_the_wrong_length_fall_back():
    wrong = FunctionChatModel(fn=lambda _m: '{"moves": ["defect"]}', model_name="one-move-only")
    model = CooperationModel(width=5, height=5, rng=2, llm_share=1.0, llm_moves="each", backend=wrong)
    model.step()
    model.step()
    records = model.llm.log.to_dataframe()
    assert records["fallback"].all()
    assert model.datacollector.get_model_vars_dataframe()["cooperation"].iloc[-1] == 1.0  # the fallback


def towards_all(model):
    return {
        p.cell.coordinate: (*tuple(p.move_towards(n.unique_id) for n in p.neighbours), p.score)
        for p in model.agents
    }


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
