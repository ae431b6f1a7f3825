import dataclasses
import re
from collections import namedtuple

import pytest

from mesa_llm.lab import rule_backend
from mesa_llm.populations import LLM, RULE, population
from mesa_llm.records import CallLog, CallRecord
from mesa_llm.viz.components import (
    _parse_ids,
    _runtime,
    action_text,
    describe,
    last_decision_text,
    last_step_records,
    rule_action_text,
    rule_text,
)
from mesa_llm_models.cooperation import CooperationModel, Move
from mesa_llm_models.cooperation.agents import Play
from mesa_llm_models.cooperation.app import situation_view
from mesa_llm_models.schelling import SchellingModel, rule_following_backend


def record(step: int, agent: int) -> CallRecord:
    return CallRecord(step=step, time=step, agent_id=agent, agent_type="A", backend="b", messages=())


def test_last_step_records_are_the_latest_steps_records():
    log = CallLog()
    assert last_step_records(log) == []
    for step, agent in [(1, 1), (1, 2), (3, 1), (3, 2), (3, 5)]:
        log.add(record(step, agent))
    assert [(r.step, r.agent_id) for r in last_step_records(log)] == [(3, 1), (3, 2), (3, 5)]


def test_describe_shows_fields_and_hides_non_repr_fields():
    point = namedtuple("Point", "same other empty")(3, 1, 4)
    assert describe(point) == "{'same': 3, 'other': 1, 'empty': 4}"
    model = CooperationModel(width=4, height=4, rng=1)
    situation = next(iter(model.agents)).observe()
    text = describe(situation)
    assert "'round': 0" in text
    assert "'move': 'cooperate'" in text or "'move': 'defect'" in text  # enums as their values
    assert "player" not in text  # a back reference, not an observed fact
    assert describe("x" * 10_000).endswith("more characters)")


def test_transcript_filter_parses_agent_ids():
    assert _parse_ids("3, 7 x 12") == {3, 7, 12}
    assert _parse_ids("  ") is None


def test_components_name_a_missing_runtime():
    model = CooperationModel(width=4, height=4, rng=1)
    assert _runtime(model, "llm") is model.llm
    with pytest.raises(TypeError, match=r"CooperationModel.runtime is not an LLMRuntime.*runtime='llm'"):
        _runtime(model, "runtime")


def test_a_rule_agents_last_decision_is_the_runtimes_last_action():
    model = SchellingModel(width=8, height=8, llm_share=0.5, backend=rule_following_backend(0.4), rng=3)
    resident = next(a for a in model.agents if population(a) == RULE)
    assert last_decision_text(resident) == "Last decision: no decision yet."
    before = resident.observe()
    model.step()
    assert last_decision_text(resident) == f"Last decision: {resident.decide(before)}"
    assert rule_text(resident) == (
        "Decides by rule (`RuleResident.decide`): Stay if at least `rule_threshold` (the homophily unless "
        "set) of its neighbours are its group."
    )


def test_actions_are_shown_by_label_value_or_fields():
    assert action_text("move") == "move"
    assert action_text(Move.DEFECT) == "defect"
    assert action_text(Play("ALLD", Move.DEFECT)) == "{'strategy': 'ALLD', 'move': 'defect', 'moves': {}}"
    model = CooperationModel(width=4, height=4, rng=1)
    player = next(iter(model.agents))
    assert rule_text(player).startswith("Decides by rule (`RulePlayer.decide`): Imitate if it is time to")
    assert rule_text(player).endswith("partner.")  # one full stop, no "..decide"


def test_the_rule_action_says_whether_the_llm_agreed():
    agreed = dataclasses.replace(record(1, 1), action="stay", rule_action="stay")
    differed = dataclasses.replace(record(1, 1), action="stay", rule_action="move")
    assert rule_action_text(agreed) == "**The rule would have:** `stay` (agrees)"
    assert rule_action_text(differed) == "**The rule would have:** `move` (the LLM chose stay)"


def test_llm_records_carry_the_rule_action_the_inspector_shows():
    model = SchellingModel(width=8, height=8, llm_share=1.0, backend=rule_following_backend(0.4), rng=3)
    model.step()
    records = model.llm.log.records
    assert records
    assert all(r.rule_action == r.action for r in records)  # the rule-following backend agrees
    assert rule_action_text(records[0]).endswith("(agrees)")


def test_the_cooperation_inspector_tells_the_round_as_the_prompt_does():
    model = CooperationModel(width=4, height=4, llm_share=0.5, backend=rule_backend("cooperation"), rng=1)
    model.step()
    model.step()
    player = next(a for a in model.agents if population(a) == LLM)
    situation = player.observe()
    shown = describe(situation_view(situation))
    prompt = player.messages(situation)[-1][1]
    starting = re.search(r"Round (\d+) is starting", prompt)[1]
    assert f"'round (starting)': {starting}" in shown
    assert int(starting) == situation.round + 1  # the observation counts the rounds played
