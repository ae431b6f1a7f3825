"""Call records: totals, DataCollector reporters, DataFrames and files on disk."""

import dataclasses
import gzip
import json
from dataclasses import dataclass
from typing import Literal

import mesa
import pandas as pd
import pytest

from mesa_llm import (
    ActionSpace,
    CallLog,
    CallRecord,
    FunctionChatModel,
    LLMDecider,
    LLMRuntime,
    PromptTemplate,
)
from mesa_llm.records import PromptBook

COLUMNS = [f.name for f in dataclasses.fields(CallRecord)]


def record(agent_id=1, step=1, **kwargs):
    fields = {"attempts": 1, "backend_calls": 1, "action": "stay", "raw": "stay"} | kwargs
    return CallRecord(
        step=step,
        time=float(step),
        agent_id=agent_id,
        agent_type="LLM",
        backend="b",
        messages=(("system", "persona"), ("human", "question")),
        **fields,
    )


# --------------------------------------------------------------------------- records and totals


def test_to_dict_has_every_field_and_role_content_messages():
    row = record(probabilities={"stay": 0.25, "move": 0.75}).to_dict()
    assert list(row) == COLUMNS
    assert row["messages"] == [
        {"role": "system", "content": "persona"},
        {"role": "human", "content": "question"},
    ]
    assert row["probabilities"] == {"stay": 0.25, "move": 0.75}
    json.dumps(row)


def test_a_record_can_name_its_prompt_by_id_and_is_read_back_whole():
    original = record(probabilities={"stay": 0.25, "move": 0.75}, rule_action="move")
    row = json.loads(original.to_json(prompt_id=0))
    assert "messages" not in row
    assert row["prompt_id"] == 0
    assert CallRecord.from_dict(row, [original.messages]) == original
    assert CallRecord.from_dict(json.loads(original.to_json())) == original
    with pytest.raises(ValueError, match="names the prompt 1, which is not among the 1 prompts given"):
        CallRecord.from_dict({**row, "prompt_id": 1}, [original.messages])


def test_a_reasoning_is_written_and_read_back_and_rows_written_before_it_read_as_none(tmp_path):
    reasoning = "Staying is calm; moving is costly.\nAnswer: stay"
    original = record(reasoning=reasoning)
    assert CallRecord.from_dict(json.loads(original.to_json())) == original
    older = original.to_dict()
    del older["reasoning"]  # a records file written before the answer modes
    assert CallRecord.from_dict(older).reasoning is None
    log = CallLog()
    log.add(original)
    log.add(record(agent_id=2))  # a direct answer: no reasoning
    log.write(tmp_path / "calls.parquet")
    frame = pd.read_parquet(tmp_path / "calls.parquet")
    assert frame["reasoning"].iloc[0] == reasoning
    assert frame["reasoning"].isna().iloc[1]


def test_a_prompt_book_numbers_distinct_prompts_in_order_and_reads_its_lines_back():
    book = PromptBook()
    a, b = (("system", "persona"), ("human", "a")), (("human", "b é"),)
    assert [book.number(m) for m in (a, b, a, b, a)] == [0, 1, 0, 1, 0]
    assert (len(book), book.prompts) == (2, [a, b])
    lines = [book.line(0), book.line(1)]
    assert json.loads(lines[1]) == {"id": 1, "messages": [{"role": "human", "content": "b é"}]}
    again = PromptBook()
    for line in lines:
        again.read(line)
    assert again.prompts == book.prompts
    assert again.number(b) == 1
    with pytest.raises(ValueError, match="prompt 0 was expected"):
        PromptBook().read(lines[1])


def test_totals_sum_the_records():
    log = CallLog()
    log.add(record(attempts=3, backend_calls=3, parse_failures=2, tokens_in=10, tokens_out=2, latency_s=0.5))
    log.add(record(attempts=2, backend_calls=2, errors=2, timeouts=1, fallback=True, latency_s=0.25))
    log.add(record(backend_calls=0, cache_hit=True))
    log.add(record(backend_calls=0, shared=True))
    t = log.totals
    assert (t.decisions, t.calls, t.cache_hits, t.shared) == (4, 5, 1, 1)
    assert (t.parse_failures, t.retries, t.errors, t.timeouts, t.fallbacks) == (2, 3, 2, 1, 1)
    assert (t.tokens_in, t.tokens_out) == (10, 2)
    assert t.latency_s == pytest.approx(0.75)
    assert log.mean_latency_s == pytest.approx(0.15)
    assert len(log) == 4


def test_mean_latency_is_zero_without_calls():
    log = CallLog()
    assert log.mean_latency_s == 0.0
    log.add(record(backend_calls=0, cache_hit=True))
    assert log.mean_latency_s == 0.0


def test_keep_false_keeps_totals_but_not_records(tmp_path):
    log = CallLog(path=tmp_path / "r.jsonl", keep=False)
    log.add(record())
    log.add(record(agent_id=2))
    assert len(log) == 0
    assert log.records == []
    assert log.totals.decisions == 2
    assert log.flush() == 2
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_to_dataframe_has_one_row_per_record_and_every_column():
    empty = CallLog().to_dataframe()
    assert list(empty.columns) == COLUMNS
    assert len(empty) == 0
    log = CallLog()
    log.add(record(agent_id=1, action="stay"))
    log.add(record(agent_id=2, action="move", fallback=True))
    frame = log.to_dataframe()
    assert list(frame.columns) == COLUMNS
    assert frame["agent_id"].tolist() == [1, 2]
    assert frame["action"].tolist() == ["stay", "move"]
    assert frame["fallback"].tolist() == [False, True]
    assert frame["messages"][0][1] == {"role": "human", "content": "question"}


# --------------------------------------------------------------------------- reporters


@dataclass(frozen=True)
class Obs:
    crowd: int


class LLM(LLMDecider, mesa.Agent):
    action_space = ActionSpace(Literal["stay", "move"], fallback="stay")
    prompt = PromptTemplate(system="You are a resident.", user="There are {crowd} people around you.")

    def observe(self):
        return Obs(self.unique_id)

    def act(self, action):
        self.last_action = action


def odd_moves(messages):
    crowd = int(str(messages[-1].content).split("There are ")[1].split(" ")[0])
    return "move" if crowd % 2 else "stay"


class World(mesa.Model):
    def __init__(self, backend, n=3, rng=0):
        super().__init__(rng=rng)
        self.runtime = LLMRuntime(backend)
        for _ in range(n):
            LLM(self, runtime=self.runtime)
        self.datacollector = mesa.DataCollector(model_reporters=self.runtime.reporters())
        self.datacollector.collect(self)

    def step(self):
        self.runtime.step(self.agents, rng=self.random)
        self.datacollector.collect(self)


def test_reporter_names():
    reporters = CallLog().reporters()
    assert set(reporters) == {
        f"llm_{name}"
        for name in (
            "decisions",
            "calls",
            "cache_hits",
            "oversized",
            "rate_limited",
            "shared",
            "tokens_in",
            "tokens_out",
            "mean_latency_s",
            "parse_failures",
            "retries",
            "errors",
            "timeouts",
            "fallbacks",
            "rule_agreement",
        )
    }
    assert set(CallLog().reporters(prefix="x_")) == {name.replace("llm_", "x_", 1) for name in reporters}


def test_reporters_work_in_a_datacollector():
    model = World(FunctionChatModel(fn=odd_moves, model_name="odd"), n=3)
    model.step()
    model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["llm_decisions"].tolist() == [0, 3, 6]
    assert frame["llm_calls"].tolist() == [0, 3, 6]
    assert frame["llm_fallbacks"].tolist() == [0, 0, 0]
    assert frame["llm_tokens_out"].tolist() == [0, 3, 6]
    assert (frame["llm_mean_latency_s"] >= 0).all()
    assert frame["llm_tokens_in"].is_monotonic_increasing
    assert frame["llm_tokens_in"].iloc[-1] > 0


def test_failure_counts_reach_the_datacollector():
    model = World(FunctionChatModel(fn=lambda _m: "no idea", model_name="clueless"), n=2)
    model.step()
    last = model.datacollector.get_model_vars_dataframe().iloc[-1]
    retries = model.runtime.retries
    assert last["llm_fallbacks"] == 2
    assert last["llm_parse_failures"] == 2 * (retries + 1)
    assert last["llm_retries"] == 2 * retries
    assert last["llm_calls"] == 2 * (retries + 1)


# --------------------------------------------------------------------------- files


def test_flush_without_path_writes_nothing():
    log = CallLog()
    log.add(record())
    assert log.flush() == 0


def test_flush_appends_to_jsonl(tmp_path):
    path = tmp_path / "out" / "records.jsonl"
    log = CallLog(path=path)
    log.add(record(agent_id=1))
    log.add(record(agent_id=2))
    assert log.flush() == 2
    assert log.flush() == 0
    log.add(record(agent_id=3, step=2, error="boom"))
    assert log.flush() == 1
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["agent_id"] for r in rows] == [1, 2, 3]
    assert rows[2]["error"] == "boom"
    assert rows[0]["messages"][0] == {"role": "system", "content": "persona"}
    assert set(rows[0]) == set(COLUMNS)


def test_flush_appends_to_compressed_jsonl_one_gzip_member_per_flush(tmp_path):
    path = tmp_path / "records.jsonl.gz"
    log = CallLog(path=path)
    log.add(record(agent_id=1))
    log.flush()
    first = path.stat().st_size
    log.add(record(agent_id=2, step=2))
    log.flush()
    rows = [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    assert [r["agent_id"] for r in rows] == [1, 2]
    assert [CallRecord.from_dict(r) for r in rows] == log.records
    assert gzip.decompress(path.read_bytes()[:first]).decode().count("\n") == 1  # the first flush is whole
    assert pd.read_json(path, lines=True)["agent_id"].tolist() == [1, 2]


def test_runtime_flushes_its_log_after_every_decision_phase(tmp_path):
    path = tmp_path / "records.jsonl"
    runtime = LLMRuntime(FunctionChatModel(fn=odd_moves, model_name="odd"), log=CallLog(path=path))
    model = mesa.Model(rng=0)
    agents = [LLM(model, runtime=runtime) for _ in range(3)]
    runtime.step(agents)
    assert len(path.read_text().splitlines()) == 3
    runtime.step(agents)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 6
    assert [r["action"] for r in rows[:3]] == ["move", "stay", "move"]


def test_flush_to_a_parquet_dataset(tmp_path):
    path = tmp_path / "records"
    log = CallLog(path=path)
    log.add(record(agent_id=1, probabilities={"stay": 0.5, "move": 0.5}))
    log.add(record(agent_id=2))
    assert log.flush() == 2
    log.add(record(agent_id=3, step=2))
    assert log.flush() == 1
    assert sorted(p.name for p in path.iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    frame = pd.read_parquet(path).sort_values("agent_id")
    assert frame["agent_id"].tolist() == [1, 2, 3]
    assert frame["step"].tolist() == [1, 1, 2]
    assert json.loads(frame["messages"].iloc[0])[1] == {"role": "human", "content": "question"}
    assert json.loads(frame["probabilities"].iloc[0]) == {"stay": 0.5, "move": 0.5}


def test_a_new_log_on_an_existing_dataset_adds_parts(tmp_path):
    path = tmp_path / "records"
    for agent_id in (1, 2):
        log = CallLog(path=path)
        log.add(record(agent_id=agent_id))
        log.flush()
    assert len(list(path.iterdir())) == 2
    assert sorted(pd.read_parquet(path)["agent_id"]) == [1, 2]


def test_parquet_dataset_reads_back_when_errors_appear_in_a_later_flush(tmp_path):
    path = tmp_path / "records"
    log = CallLog(path=path)
    log.add(record(agent_id=1))
    log.flush()
    log.add(record(agent_id=2, errors=1, error="RuntimeError: boom"))
    log.flush()
    frame = pd.read_parquet(path).sort_values("agent_id")
    assert frame["error"].isna().tolist() == [True, False]
    assert frame["error"].iloc[1] == "RuntimeError: boom"


def test_write_jsonl_and_parquet(tmp_path):
    log = CallLog()
    log.add(record(agent_id=1, error="boom"))
    log.add(record(agent_id=2))
    log.write(tmp_path / "all.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert [r["agent_id"] for r in rows] == [1, 2]
    log.write(tmp_path / "all.parquet")
    frame = pd.read_parquet(tmp_path / "all.parquet")
    assert sorted(frame["agent_id"]) == [1, 2]
    assert set(frame.columns) == set(COLUMNS)


@pytest.mark.parametrize("name", ["all.jsonl", "all.jsonl.gz", "all.parquet"])
def test_write_twice_to_the_same_path_replaces_the_records(tmp_path, name):
    log = CallLog()
    log.add(record(agent_id=1))
    log.write(tmp_path / name)
    log.write(tmp_path / name)
    path = tmp_path / name
    rows = pd.read_json(path, lines=True) if "jsonl" in name else pd.read_parquet(path)
    assert rows["agent_id"].tolist() == [1]


def test_write_an_empty_log_to_parquet(tmp_path):
    CallLog().write(tmp_path / "empty.parquet")
    frame = pd.read_parquet(tmp_path / "empty.parquet")
    assert len(frame) == 0
    assert list(frame.columns) == COLUMNS


def test_restore_replaces_records_and_totals_without_writing_them_again(tmp_path):
    path = tmp_path / "calls.jsonl"
    log = CallLog(path=path)
    log.add(CallRecord(step=1, time=1.0, agent_id=1, agent_type="A", backend="b", messages=(), errors=2))
    log.flush()
    stored = [
        CallRecord(
            step=s, time=float(s), agent_id=2, agent_type="A", backend="b", messages=(), backend_calls=1
        )
        for s in (1, 2)
    ]
    log.add(CallRecord(step=3, time=3.0, agent_id=1, agent_type="A", backend="b", messages=()))
    log.restore(stored)
    assert log.records == stored
    assert (log.totals.decisions, log.totals.calls, log.totals.errors) == (2, 2, 0)
    assert log.flush() == 0  # neither the restored records nor the replaced pending one
    assert len(path.read_text().splitlines()) == 1


def add_shared_phase(log, step):
    """A phase of five decisions made by two calls: three shared, one with a rule action."""
    calls = [
        record(agent_id=1, step=step),
        record(agent_id=2, step=step, probabilities={"stay": 0.25, "move": 0.75}),
    ]
    return log.add_calls(
        calls,
        [0, 1, 0, 1, 1],
        [1, 2, 3, 4, 5],
        ["LLM"] * 5,
        ["stay", "move", "stay", "stay", "move"],
        [None, "move", "stay", None, "stay"],
    )


@pytest.mark.parametrize("keep", [True, False])
def test_flushed_decisions_are_their_records_lines_and_rows(tmp_path, keep):
    kept = CallLog()
    jsonl = CallLog(path=tmp_path / "records.jsonl", keep=keep)
    parquet = CallLog(path=tmp_path / "records", keep=keep)
    for step in (1, 2):
        for log in (kept, jsonl, parquet):
            add_shared_phase(log, step)
            log.flush()
    lines = (tmp_path / "records.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines == [r.to_json() for r in kept.records]
    assert sum(r.shared for r in kept.records) == 6
    written = pd.read_parquet(tmp_path / "records")
    assert len(list((tmp_path / "records").iterdir())) == 2
    want = kept.to_dataframe()
    for column in ("messages", "probabilities"):
        want[column] = want[column].map(json.dumps)
    pd.testing.assert_frame_equal(written, want.astype(written.dtypes.to_dict()))
    assert written["backend_calls"].sum() == kept.totals.calls == 4
