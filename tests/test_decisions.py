"""Decisions kept compactly: full records per call, a few integers per decision, read back whole."""

import dataclasses

import pandas as pd
import pytest

from mesa_llm.decisions import Decisions
from mesa_llm.records import CallRecord, records_frame


def call(agent_id, action="stay", rule_action=None, **fields):
    return CallRecord(
        step=1,
        time=1.0,
        agent_id=agent_id,
        agent_type="Resident",
        backend="b",
        messages=(("human", f"prompt {agent_id}"),),
        action=action,
        rule_action=rule_action,
        attempts=1,
        backend_calls=1,
        latency_s=0.5,
        tokens_in=7,
        **fields,
    )


def expected(record, agent_id, agent_type, action, rule_action, shared):
    """The record a decision was kept as before: the call's, shared and changed field by field."""
    if shared:
        record = record.shared_by(agent_id, agent_type)
    return dataclasses.replace(
        record, agent_id=agent_id, agent_type=agent_type, action=action, rule_action=rule_action
    )


def test_extend_reads_back_each_decision_as_its_whole_record():
    calls = [call(1, "stay", "stay"), call(2, "move", None, probabilities={"stay": 0.4, "move": 0.6})]
    decisions = Decisions()
    decisions.append(call(0))
    rows = [  # call, agent id, type, action, rule action
        (0, 1, "Resident", "stay", "stay"),  # the call's own decision: the record itself
        (1, 2, "Resident", "stay", None),  # its own call, another action drawn
        (0, 3, "Resident", "stay", "move"),
        (1, 4, "Other", "move", None),
        (1, 5, "Resident", "stay", "stay"),
    ]
    at = decisions.extend(calls, *map(list, zip(*rows, strict=True)))
    assert at == range(1, 6)
    assert len(decisions) == 6
    assert decisions.calls == 3
    assert decisions[1] is calls[0]
    seen = set()
    for index, (number, agent_id, kind, action, rule) in zip(at, rows, strict=True):
        shared = number in seen
        seen.add(number)
        want = expected(calls[number], agent_id, kind, action, rule, shared)
        assert decisions[index] == want
    assert decisions[3].shared
    assert decisions[3].backend_calls == 0
    assert decisions[3].tokens_in == 0
    assert not decisions[2].shared
    assert decisions[2].backend_calls == 1
    assert decisions[4].agent_type == "Other"
    assert decisions[4].probabilities == {"stay": 0.4, "move": 0.6}


def test_a_sequence_like_a_list():
    records = [call(i) for i in range(4)]
    decisions = Decisions(records)
    assert decisions == records
    assert records == list(decisions)
    assert decisions != records[:3]
    assert decisions[-1] is records[-1]
    assert decisions[1:3] == records[1:3]
    assert list(reversed(decisions)) == records[::-1]
    with pytest.raises(IndexError, match="decision 4 of 4"):
        decisions[4]
    with pytest.raises(TypeError):
        hash(decisions)


def test_many_shared_decisions_keep_one_record_and_few_variants():
    calls = [call(0, "stay"), call(1, "move")]
    n = 10_000
    of = [i % 2 for i in range(n)]
    decisions = Decisions()
    decisions.extend(calls, of, list(range(n)), ["Resident"] * n, ["stay", "move"] * (n // 2), [None] * n)
    assert decisions.calls == 2
    assert len(decisions._variants) == 2  # (type, action, rule action, shared): two kinds of decision
    assert [d.agent_id for d in decisions[-3:]] == [n - 3, n - 2, n - 1]


def mixed_decisions():
    """Whole records, a call's own decisions, other agents' variants and shared decisions."""
    calls = [call(1, "stay", "stay"), call(2, "move", None, probabilities={"stay": 0.4, "move": 0.6})]
    decisions = Decisions()
    decisions.append(call(0, error="timed out", errors=1))
    rows = [(0, 1, "Resident", "stay", "stay"), (1, 2, "Resident", "stay", None)]
    rows += [(0, 3, "Resident", "stay", "move"), (1, 4, "Other", "move", None)]
    rows += [(1, 5, "Resident", "stay", "stay")]
    decisions.extend(calls, *map(list, zip(*rows, strict=True)))
    decisions.append(call(6, "move", "move"))
    return decisions


@pytest.mark.parametrize("bounds", [(0, None), (1, 4), (3, None), (0, 1), (6, None), (2, 2)])
def test_frame_equals_the_frame_of_the_records_read_one_by_one(bounds):
    decisions = mixed_decisions()
    start, stop = bounds
    want = records_frame(decisions[start:stop])
    got = decisions.frame(records_frame, start, stop)
    pd.testing.assert_frame_equal(got, want)
    if len(want):
        assert got["shared"].tolist() == [d.shared for d in decisions[start:stop]]


def test_frame_of_many_shared_decisions_makes_each_calls_row_once():
    calls = [call(0, "stay"), call(1, "move")]
    n = 1_000
    decisions = Decisions()
    of = [i % 2 for i in range(n)]
    decisions.extend(calls, of, list(range(n)), ["Resident"] * n, ["move"] * n, [None] * n)
    made = []

    def calls_frame(records):
        made.append(len(records))
        return records_frame(records)

    frame = decisions.frame(calls_frame)
    assert made == [2]
    assert frame["agent_id"].tolist() == list(range(n))
    assert frame["backend_calls"].sum() == 2
    assert frame["tokens_in"].sum() == 14
    assert frame["shared"].sum() == n - 2
    assert (frame["action"] == "move").all()
    pd.testing.assert_frame_equal(frame, records_frame(list(decisions)))
