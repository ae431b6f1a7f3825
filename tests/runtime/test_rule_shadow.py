"""Rule-shadow decisions: every LLM decision beside the rule's on the same observation."""

import math

import pandas as pd
import pytest

from mesa_llm import FunctionChatModel, LLMDecider, ScoringChatModel
from mesa_llm.populations import POPULATIONS
from mesa_llm_models.cooperation.model import CooperationModel
from mesa_llm_models.schelling.agents import LLMResident
from mesa_llm_models.schelling.model import SchellingModel


def always(answer):
    return FunctionChatModel(fn=lambda _m: answer, model_name=f"always-{answer}")


def test_the_rule_following_backend_agrees_with_the_rule_on_every_decision():
    model = SchellingModel(width=10, height=10, llm_share=0.5, backend="rule", rng=3)
    model.run_for(3)
    frame = model.datacollector.get_model_vars_dataframe()
    assert math.isnan(frame["llm_rule_agreement"].iloc[0])  # nobody decided before the first step
    assert frame["llm_rule_agreement"].iloc[1:].tolist() == [1.0, 1.0, 1.0]
    records = model.llm.log.records
    assert records
    assert all(r.rule_action == r.action for r in records)


def test_agreement_is_the_share_of_this_steps_decisions_that_match_the_rule():
    model = SchellingModel(width=10, height=10, llm_share=0.6, backend=always("move"), rng=4)
    model.run_for(3)
    frame = model.datacollector.get_model_vars_dataframe()
    for step in (1, 2, 3):
        records = [r for r in model.llm.log.records if r.step == step]
        assert {r.action for r in records} == {"move"}
        rule_moves = sum(r.rule_action == "move" for r in records)
        assert frame["llm_rule_agreement"].iloc[step] == rule_moves / len(records)
        assert 0 < rule_moves < len(records)  # a comparison that can tell agreement from disagreement


def test_agreement_by_observation_counts_every_decision_with_a_wilson_interval():
    model = SchellingModel(width=10, height=10, llm_share=0.6, backend=always("stay"), rng=4)
    model.run_for(2)
    table = model.llm.agreement.frame()
    assert list(table.columns) == [
        "agent_type", "same", "other", "empty", "decisions", "agreed", "share", "ci_low", "ci_high"
    ]  # fmt: skip
    assert table["decisions"].sum() == len(model.llm.log.records) == len(model.llm.agreement)
    for row in table.itertuples():
        similarity = row.same / (row.same + row.other) if row.same + row.other else 0.0
        rule_stays = similarity >= model.homophily
        assert row.agreed == (row.decisions if rule_stays else 0)
        assert row.ci_low <= row.share <= row.ci_high
    row = table.iloc[0]  # the Wilson interval of k of n, by hand
    n, k, z = row.decisions, row.agreed, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (row.ci_low, row.ci_high) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)))


def _frames(model):
    model_frame = model.datacollector.get_model_vars_dataframe()
    scenario = [c for c in model_frame.columns if not c.startswith("llm_")]
    return model_frame[scenario], model.datacollector.get_agent_vars_dataframe()


def test_shadow_decisions_change_no_trajectory(monkeypatch):
    def run():
        backend = ScoringChatModel(
            scores=lambda _m, _o: {"stay": 0.6, "move": 0.4}, model_name="sometimes-move"
        )  # at temperature 1: every action is a draw from model.rng
        model = SchellingModel(width=12, height=12, llm_share=0.5, backend=backend, rng=7)
        model.run_for(4)
        return model

    shadowed = run()
    monkeypatch.setattr(LLMResident, "rule_decide", LLMDecider.rule_decide)
    plain = run()
    assert all(r.rule_action is not None for r in shadowed.llm.log.records)
    assert all(r.rule_action is None for r in plain.llm.log.records)
    assert len(plain.llm.agreement) == 0
    assert math.isnan(plain.datacollector.get_model_vars_dataframe()["llm_rule_agreement"].iloc[-1])
    for a, b in zip(_frames(shadowed), _frames(plain), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert [r.action for r in shadowed.llm.log.records] == [r.action for r in plain.llm.log.records]


def test_cooperation_players_are_compared_with_the_imitation_rule():
    model = CooperationModel(width=6, height=6, llm_share=0.5, backend="rule", rng=1)
    model.run_for(4)
    agreement = model.datacollector.get_model_vars_dataframe()["llm_rule_agreement"]
    assert set(agreement.dropna()) == {1.0}
    cooperator = CooperationModel(width=6, height=6, llm_share=0.5, backend=always("cooperate"), rng=1)
    cooperator.run_for(4)
    records = cooperator.llm.log.records
    assert {r.rule_action for r in records} == {"cooperate", "defect"}  # the rule does both
    table = cooperator.llm.agreement.frame()
    assert {"imitation_round", "own_move", "best_move", "own_is_best"} <= set(table.columns)
    for row in table.itertuples():  # the rule's move follows from the facts it is grouped by
        imitated = row.own_move if row.own_is_best else row.best_move
        rule_move = (imitated if row.imitation_round else row.own_move) or "cooperate"
        assert row.agreed == (row.decisions if rule_move == "cooperate" else 0)


def test_a_partner_player_is_compared_move_by_move():
    model = CooperationModel(width=5, height=5, llm_share=1.0, llm_moves="each", backend="rule", rng=2)
    model.run_for(3)
    records = [r for r in model.llm.log.records if r.rule_action is not None]
    assert records
    assert all(r.rule_action == r.action for r in records)
    assert '"moves"' in records[0].rule_action


def test_last_actions_hold_every_agents_decision_of_the_latest_step():
    model = SchellingModel(width=10, height=10, llm_share=0.3, backend=always("move"), rng=5)
    assert model.llm.last_actions == {}
    model.run_for(1)
    first = model.llm.last_actions
    assert set(first) == set(model.agents)
    assert {a.population for a in first} == set(POPULATIONS)
    for agent, action in first.items():
        expected = agent.decide(model.snapshot[agent]) if agent.population == "rule" else "move"
        assert action in ("stay", "move")
        if agent.population == "llm":
            assert action == expected == agent.last_record.action
    assert (
        sum(a == "move" for a in first.values())
        == model.datacollector.get_model_vars_dataframe()["moves"].iloc[-1]
    )
    model.run_for(1)
    assert model.llm.last_actions is not first
