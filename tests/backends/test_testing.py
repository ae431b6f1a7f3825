"""The deterministic chat models: real LangChain chat models for tests and rule-following agents."""

import asyncio
import time
from typing import Literal

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from mesa_llm import FaultyChatModel, FunctionChatModel, LLMRuntime, ScriptedChatModel
from mesa_llm.backends.testing import BackendFaultError
from tests.world import LLM, World


class Tell(BaseModel):
    target: int
    topic: Literal["news", "rumour"]


def echo_last(messages):
    return f"you said {messages[-1].content}"


@pytest.fixture
def echo():
    return FunctionChatModel(fn=echo_last, model_name="echo")


# --------------------------------------------------------------------------- FunctionChatModel


def test_function_model_is_a_langchain_chat_model(echo):
    assert isinstance(echo, BaseChatModel)
    message = echo.invoke("hello there")
    assert isinstance(message, AIMessage)
    assert message.content == "you said hello there"


def test_function_model_gets_the_message_objects():
    seen = []

    def fn(messages):
        seen.append(messages)
        return "ok"

    FunctionChatModel(fn=fn).invoke([SystemMessage("persona"), HumanMessage("question")])
    assert [type(m) for m in seen[0]] == [SystemMessage, HumanMessage]
    assert [m.content for m in seen[0]] == ["persona", "question"]


def test_function_model_async_and_batches(echo):
    assert asyncio.run(echo.ainvoke("a")).content == "you said a"
    assert [m.content for m in echo.batch(["a", "b", "c"])] == ["you said a", "you said b", "you said c"]
    assert [m.content for m in asyncio.run(echo.abatch(["x", "y"]))] == ["you said x", "you said y"]


def test_usage_metadata_counts_words(echo):
    message = echo.invoke([SystemMessage("be brief"), HumanMessage("one two three")])
    assert message.content == "you said one two three"
    assert message.usage_metadata == {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}


def test_with_structured_output_returns_the_pydantic_object():
    model = FunctionChatModel(fn=lambda _m: '{"target": 7, "topic": "news"}', model_name="teller")
    assert model.with_structured_output(Tell).invoke("who?") == Tell(target=7, topic="news")
    raw = model.with_structured_output(Tell, include_raw=True).invoke("who?")
    assert raw["parsed"] == Tell(target=7, topic="news")
    assert raw["raw"].tool_calls[0]["name"] == "Tell"
    assert raw["raw"].tool_calls[0]["args"] == {"target": 7, "topic": "news"}


def test_structured_output_wraps_a_bare_answer_for_a_single_field_schema():
    class Decision(BaseModel):
        action: Literal["stay", "move"]

    model = FunctionChatModel(fn=lambda _m: " move ", model_name="mover")
    assert model.with_structured_output(Decision).invoke("?") == Decision(action="move")


def test_structured_output_of_a_non_json_answer_is_a_parsing_error():
    model = FunctionChatModel(fn=lambda _m: "tell 7 the news", model_name="chatty")
    result = model.with_structured_output(Tell, include_raw=True).invoke("who?")
    assert result["parsed"] is None
    assert isinstance(result["parsing_error"], ValidationError)


def test_bind_tools_answers_with_a_tool_call():
    model = FunctionChatModel(fn=lambda _m: '{"target": 1, "topic": "rumour"}', model_name="teller")
    message = model.bind_tools([Tell]).invoke("who?")
    assert message.content == ""
    assert message.tool_calls == [
        {"name": "Tell", "args": {"target": 1, "topic": "rumour"}, "id": "call_0", "type": "tool_call"}
    ]


def test_function_model_exceptions_propagate():
    model = FunctionChatModel(fn=lambda _m: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model.invoke("?")


def test_function_model_defaults():
    model = FunctionChatModel(fn=echo_last)
    assert model.model_name == "function"
    assert model.temperature == 0.0


# --------------------------------------------------------------------------- ScriptedChatModel


def test_scripted_model_answers_in_order_and_counts():
    model = ScriptedChatModel(responses=["first", "second", "third"])
    assert [model.invoke("?").content for _ in range(3)] == ["first", "second", "third"]
    assert model.calls == 3


def test_scripted_model_raises_when_exhausted():
    model = ScriptedChatModel(responses=["only"])
    model.invoke("?")
    with pytest.raises(IndexError, match="exhausted"):
        model.invoke("?")
    assert model.calls == 1


def test_scripted_model_cycles():
    model = ScriptedChatModel(responses=["a", "b"], cycle=True)
    assert [model.invoke("?").content for _ in range(5)] == ["a", "b", "a", "b", "a"]
    assert model.calls == 5


def test_scripted_model_async_batch_uses_each_answer_once():
    model = ScriptedChatModel(responses=[str(i) for i in range(20)])
    answers = asyncio.run(model.abatch(["?"] * 20))
    assert sorted(int(m.content) for m in answers) == list(range(20))


# --------------------------------------------------------------------------- FaultyChatModel


def inner():
    return FunctionChatModel(fn=lambda _m: "fine", model_name="fine")


def fates(model, n):
    out = []
    for _ in range(n):
        try:
            out.append(model.invoke("?").content)
        except BackendFaultError:
            out.append("fault")
    return out


def test_faulty_model_without_faults_answers_as_the_inner_model():
    model = FaultyChatModel(inner=inner())
    assert model.invoke("?").content == "fine"
    assert model.calls == 1


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_error_rate_is_respected(rate):
    outcomes = fates(FaultyChatModel(inner=inner(), error_rate=rate, seed=7), 200)
    assert abs(outcomes.count("fault") / 200 - rate) < 0.1
    assert set(outcomes) == {"fault", "fine"}


def test_malformed_rate_is_respected():
    model = FaultyChatModel(inner=inner(), malformed_rate=0.4, malformed_answers=("¯\\_(ツ)_/¯",), seed=3)
    outcomes = fates(model, 200)
    assert abs(outcomes.count("¯\\_(ツ)_/¯") / 200 - 0.4) < 0.1
    assert set(outcomes) == {"¯\\_(ツ)_/¯", "fine"}
    assert model.calls == 200


def test_rates_combine():
    outcomes = fates(
        FaultyChatModel(inner=inner(), error_rate=0.5, malformed_rate=0.5, malformed_answers=("??",)), 100
    )
    assert set(outcomes) == {"fault", "??"}


def test_rate_one_always_fails_and_zero_never():
    assert fates(FaultyChatModel(inner=inner(), error_rate=1.0), 20) == ["fault"] * 20
    assert fates(FaultyChatModel(inner=inner(), error_rate=0.0), 20) == ["fine"] * 20


def test_fault_sequence_is_reproducible_by_seed():
    def run(seed):
        return fates(FaultyChatModel(inner=inner(), error_rate=0.5, seed=seed), 50)

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_rates_are_validated():
    with pytest.raises(ValidationError):
        FaultyChatModel(inner=inner(), error_rate=1.5)
    with pytest.raises(ValidationError):
        FaultyChatModel(inner=inner(), timeout_rate=-0.1)


def test_latency_is_applied():
    model = FaultyChatModel(inner=inner(), latency=0.03)
    started = time.perf_counter()
    model.invoke("?")
    assert time.perf_counter() - started >= 0.03


def test_peak_in_flight_counts_concurrent_calls():
    model = FaultyChatModel(inner=inner(), latency=0.03)
    answers = asyncio.run(model.abatch(["?"] * 6))
    assert [m.content for m in answers] == ["fine"] * 6
    assert model.peak_in_flight == 6
    assert model.calls == 6
    asyncio.run(model.ainvoke("?"))
    assert model.peak_in_flight == 6


def test_sequential_calls_have_a_peak_of_one():
    model = FaultyChatModel(inner=inner(), latency=0.005)
    for _ in range(3):
        model.invoke("?")
    assert model.peak_in_flight == 1


def test_a_cancelled_hang_leaves_no_call_in_flight():
    model = FaultyChatModel(inner=inner(), timeout_rate=1.0, hang_s=5.0)

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(model.ainvoke("?"), 0.02)
        model.timeout_rate = 0.0
        model.hang_s = 0.0
        return await asyncio.gather(model.ainvoke("?"), model.ainvoke("?"))

    started = time.perf_counter()
    assert [m.content for m in asyncio.run(main())] == ["fine", "fine"]
    assert time.perf_counter() - started < 2.0
    # the cancelled call was taken out of the in-flight count
    assert model.peak_in_flight == 2


def test_faulty_model_supports_structured_output():
    model = FaultyChatModel(
        inner=FunctionChatModel(fn=lambda _m: '{"target": 2, "topic": "news"}', model_name="t")
    )
    assert model.with_structured_output(Tell).invoke("?") == Tell(target=2, topic="news")


def test_a_slow_call_the_runtime_gives_up_on_is_cut_short_not_an_injected_hang():
    """The soak's accounting: a timeout without an injected hang is a call the backend saw cut short."""
    slow = FaultyChatModel(inner=FunctionChatModel(fn=lambda m: "stay"), latency=1.0)
    runtime = LLMRuntime(slow, timeout=0.1, retries=0)
    agent = LLM(World(runtime), runtime=runtime)
    runtime.decide_many([(agent, agent.observe())])
    assert slow.cut_short == 1
    assert slow.injected["hang"] == 0
    assert runtime.log.totals.timeouts == 1


class _SlowTracer(AsyncCallbackHandler):
    """A callback that blocks the event loop when a call's answer is ready, as a busy machine does."""

    async def on_llm_end(self, response, **kwargs):
        time.sleep(0.12)


def test_a_call_given_up_on_after_its_answer_is_ready_is_cut_short_not_a_fault_met():
    """A caller that gives up after the call's own work ended met a timeout, not the answer.

    The loop is blocked past the caller's timeout once the answer is ready (here by a
    callback; on a busy machine by anything else), so the caller never sees the answer
    or the malformed text the call returned: a cut-short call, not a fault met.
    """
    model = FaultyChatModel(inner=inner(), malformed_rate=0.5, seed=3)

    async def ask(prompt, callbacks):
        try:
            message = await asyncio.wait_for(model.ainvoke(prompt, {"callbacks": callbacks}), 0.1)
        except TimeoutError:
            return "timeout"
        return "answer" if message.content == "fine" else "malformed"

    async def main(callbacks):
        return await asyncio.gather(*(ask(f"prompt {i}", callbacks) for i in range(6)))

    met = asyncio.run(main([_SlowTracer()]))
    assert met == ["timeout"] * 6
    assert model.cut_short == 6
    assert model.injected["malformed"] == 0
    met = asyncio.run(main([]))  # asked again: the second asking's own fates
    assert model.injected["malformed"] == met.count("malformed") > 0
    assert model.cut_short == 6
    assert model.peak_in_flight == 6  # every given-up call left the in-flight count
