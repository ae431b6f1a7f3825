from collections import namedtuple

import pytest

from mesa_llm.records import CallLog, CallRecord
from mesa_llm.viz.components import _parse_ids, _runtime, describe, last_step_records
from mesa_llm_models.cooperation import CooperationModel


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
