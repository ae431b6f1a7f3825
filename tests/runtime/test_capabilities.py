"""What a backend can do: dedup by temperature, structured output, text answers, its secrets."""

import json
import logging

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI
from pydantic import Field

from mesa_llm import (
    CallLog,
    FaultyChatModel,
    FunctionChatModel,
    LLMRuntime,
)
from mesa_llm.runtime.capabilities import redact, secret_values
from tests.world import (
    LLM,
    Tell,
    Teller,
    World,
    chat,
)


@pytest.mark.parametrize(
    ("temperature", "dedup", "calls"),
    [
        (0.7, None, 5),  # off by default when answers are sampled
        (0.0, False, 5),  # can be turned off at temperature 0
        (0.7, True, 1),  # can be turned on on purpose
    ],
)
def test_dedup_setting_and_its_default(temperature, dedup, calls):
    backend, recorder = chat(temperature=temperature)
    runtime = LLMRuntime(backend, dedup=dedup)
    world = World(runtime)
    runtime.step([LLM(world, crowd=5, runtime=runtime) for _ in range(5)])
    assert recorder.calls == calls
    assert runtime.log.totals.shared == 5 - calls
    assert sum(r.shared for r in runtime.log.records) == 5 - calls


def test_faulty_wrapper_keeps_the_sampling_temperature_of_its_inner_model():
    inner, recorder = chat(temperature=0.7)
    runtime = LLMRuntime(FaultyChatModel(inner=inner))
    model = World(runtime)
    runtime.step([LLM(model, crowd=5, runtime=runtime) for _ in range(3)])
    assert recorder.calls == 3


def test_pydantic_space_uses_structured_output():
    backend, recorder = chat(lambda _m: '{"target":3,"topic":"rumour"}', name="teller")
    runtime = LLMRuntime(backend)
    agent = Teller(World(runtime), crowd=2, runtime=runtime)
    action = agent.decide(agent.observe())
    assert action == Tell(target=3, topic="rumour")
    # the answer came back as tool-call arguments, re-serialised by the runtime
    assert agent.last_record.raw == '{"target": 3, "topic": "rumour"}'
    assert agent.last_record.action == Tell(target=3, topic="rumour").model_dump_json()
    assert recorder.calls == 1


def test_pydantic_space_in_text_when_structured_is_false():
    runtime = LLMRuntime(chat(lambda _m: '{"target":3,"topic":"rumour"}', name="teller")[0], structured=False)
    agent = Teller(World(runtime), crowd=2, runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=3, topic="rumour")
    assert agent.last_record.raw == '{"target":3,"topic":"rumour"}'


def test_invalid_structured_answers_fall_back():
    runtime = LLMRuntime(chat(lambda _m: '{"target": "x"}', name="bad-teller")[0], retries=1)
    agent = Teller(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=0, topic="news")
    record = agent.last_record
    assert (record.parse_failures, record.fallback) == (2, True)


def test_structured_true_with_a_choice_space():
    runtime = LLMRuntime(chat(lambda _m: "move", name="mover")[0], structured=True)
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    assert agent.last_record.raw == '{"action": "move"}'


def test_choice_space_answers_in_text_by_default():
    runtime = LLMRuntime(chat(lambda _m: "move", name="mover")[0])
    agent = LLM(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == "move"
    assert agent.last_record.raw == "move"


def test_backend_without_structured_output_answers_in_text():
    answer = 'Here you go:\n```json\n{"target": 1, "topic": "news"}\n```'
    runtime = LLMRuntime(FakeListChatModel(responses=[answer]), structured=True)
    agent = Teller(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=1, topic="news")
    assert agent.last_record.raw == answer


class SchemaOnly(FunctionChatModel):
    """A backend with its own with_structured_output but no tool binding (like some providers)."""

    bind_tools = BaseChatModel.bind_tools
    schemas: list = Field(default_factory=list)

    def with_structured_output(self, schema, *, include_raw=False, **kwargs):
        self.schemas.append(schema)
        answer = FunctionChatModel.bind_tools(self, [schema])
        return RunnableLambda(lambda messages: {"raw": answer.invoke(messages), "parsed": None})


def test_backend_with_only_with_structured_output_uses_it():
    backend = SchemaOnly(fn=lambda _m: '{"target": 2, "topic": "news"}', model_name="schema-only")
    runtime = LLMRuntime(backend)
    agent = Teller(World(runtime), runtime=runtime)
    assert agent.decide(agent.observe()) == Tell(target=2, topic="news")
    assert agent.decide(agent.observe()) == Tell(target=2, topic="news")
    assert backend.schemas == [Tell]  # built once, reused
    assert agent.last_record.raw == '{"target": 2, "topic": "news"}'


def test_secret_values_are_the_backends_secret_settings_and_secret_environment_variables(monkeypatch):
    monkeypatch.setenv("EXAMPLE_API_KEY", "env-secret-0123456789")
    monkeypatch.setenv("EXAMPLE_TOKEN", "tok")  # too short to redact safely
    monkeypatch.setenv("EXAMPLE_PATH", "not-a-secret-0123456789")
    model = ChatOpenAI(model="gpt-4o-mini", api_key="sk-setting-0123456789")
    secrets = secret_values(FaultyChatModel(inner=model))  # a wrapped model's secrets too
    assert "sk-setting-0123456789" in secrets
    assert "env-secret-0123456789" in secrets
    assert "tok" not in secrets
    assert "not-a-secret-0123456789" not in secrets
    assert redact("401: Bearer sk-setting-0123456789 rejected", secrets) == "401: Bearer [redacted] rejected"


def test_a_reflected_secret_never_reaches_a_record_a_log_or_a_file(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("EXAMPLE_API_KEY", "env-secret-0123456789")

    calls = []

    def reflect(_messages):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Unauthorized: header Authorization: Bearer env-secret-0123456789")
        return "stay, env-secret-0123456789"  # an answer that repeats the key

    caplog.set_level(logging.DEBUG, logger="mesa_llm")
    log = CallLog(path=tmp_path / "calls.jsonl")
    runtime = LLMRuntime(
        FunctionChatModel(fn=reflect, model_name="reflect"), retries=2, backoff_s=0.0, log=log
    )
    model = World(runtime)
    LLM(model, crowd=1, runtime=runtime)
    model.step()
    (record,) = log.records
    assert (record.errors, record.action, record.raw) == (1, "stay", "stay, [redacted]")
    assert record.error == "RuntimeError: Unauthorized: header Authorization: Bearer [redacted]"
    assert "env-secret" not in json.dumps(record.to_dict())
    assert "env-secret" not in caplog.text
    assert "env-secret" not in (tmp_path / "calls.jsonl").read_text()
