"""The runtime against a real OpenAI client over HTTP: a fake OpenAI server on 127.0.0.1."""

import json
import logging
import time

from mesa_llm import CallLog, LLMRuntime
from tests.loopback import API_KEY, FakeOpenAI, chat_model, closed_port
from tests.world import LLM, Tell, Teller, World


def test_a_decision_through_chat_openai_is_answered_and_recorded():
    with FakeOpenAI(lambda messages: "move" if "9 people" in messages[-1]["content"] else "stay") as server:
        runtime = LLMRuntime(server.chat_model(max_retries=0))
        agent = LLM(World(runtime), crowd=9, runtime=runtime)
        assert agent.decide(agent.observe()) == "move"
    sent = server.last_request
    assert sent["model"] == "fake-model"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][0]["content"] == "You are a resident."
    record = agent.last_record
    assert (record.action, record.raw, record.fallback, record.error) == ("move", "move", False, None)
    assert (record.attempts, record.backend_calls, record.backend) == (1, 1, "fake-model")
    prompt_words = sum(len(m["content"].split()) for m in sent["messages"])
    assert (record.tokens_in, record.tokens_out) == (prompt_words, 1)
    assert (server.requests, server.answered) == (1, 1)


def test_structured_output_through_chat_openai_fills_a_pydantic_action():
    def tell(messages):
        crowd = int(messages[-1]["content"].split("There are ")[1].split(" ")[0])
        return json.dumps({"target": crowd, "topic": "rumour"})

    with FakeOpenAI(tell) as server:
        runtime = LLMRuntime(server.chat_model(max_retries=0))
        agent = Teller(World(runtime), crowd=4, runtime=runtime)
        assert agent.decide(agent.observe()) == Tell(target=4, topic="rumour")
    sent = server.last_request
    assert [tool["function"]["name"] for tool in sent["tools"]] == ["Tell"]
    assert sent["tool_choice"] == "required"
    assert agent.last_record.backend_calls == 1
    assert not agent.last_record.fallback


def test_a_slow_failing_server_is_retried_then_falls_back():
    with FakeOpenAI(fail_status=500, latency_s=0.05) as server:
        runtime = LLMRuntime(server.chat_model(max_retries=0), retries=1)
        agent = LLM(World(runtime), crowd=9, runtime=runtime)
        assert agent.decide(agent.observe()) == "stay"
    record = agent.last_record
    assert (record.attempts, record.backend_calls, record.errors, record.fallback) == (2, 2, 2, True)
    assert "Error code: 500" in record.error
    assert record.latency_s >= 2 * 0.05
    assert (server.requests, server.answered, server.rejected) == (2, 0, 0)


def test_a_closed_port_falls_back_quickly_without_crashing():
    timeout, retries = 2.0, 1
    runtime = LLMRuntime(
        chat_model(f"http://127.0.0.1:{closed_port()}/v1", max_retries=0), timeout=timeout, retries=retries
    )
    model = World(runtime)
    agents = [LLM(model, crowd=c, runtime=runtime) for c in range(4)]
    started = time.perf_counter()
    actions = runtime.step(agents)
    elapsed = time.perf_counter() - started
    assert list(actions.values()) == ["stay"] * 4
    assert [a.done for a in agents] == [["stay"]] * 4
    for record in runtime.log.records:
        assert (record.attempts, record.errors, record.fallback) == (retries + 1, retries + 1, True)
        assert "Connection" in record.error
    assert runtime.log.totals.fallbacks == 4
    # Concurrent decisions: the whole step within the time of one decision's attempts all timing out.
    assert elapsed < timeout * (retries + 1)


def test_a_server_reflecting_the_api_key_never_gets_it_recorded_or_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="mesa_llm")
    path = tmp_path / "calls.jsonl"
    with FakeOpenAI(echo_auth=True) as server:
        runtime = LLMRuntime(server.chat_model(max_retries=0), retries=1, log=CallLog(path=path))
        model = World(runtime)
        runtime.step([LLM(model, crowd=c, runtime=runtime) for c in range(3)])
    assert server.requests == 6  # the hostile answer did arrive, twice per decision
    assert runtime.log.totals.fallbacks == 3
    for record in runtime.log.records:
        assert record.error  # the 401 is reported ...
        assert API_KEY not in record.error  # ... without the secret it reflected
        assert API_KEY not in record.raw
        assert API_KEY not in json.dumps(record.to_dict())
    assert caplog.records  # the failures are logged ...
    assert API_KEY not in caplog.text  # ... without the secret
    assert API_KEY not in path.read_text(encoding="utf-8")


def test_429_with_retry_after_is_retried_until_every_decision_is_answered():
    # 20 decisions at 5 requests/s (burst 5) need at least 3 s and 4 attempts for the last ones.
    # A Retry-After of 1 s is what a real server sends; retrying sooner only earns more 429s.
    with FakeOpenAI(rate_limit=5, retry_after="1") as server:
        runtime = LLMRuntime(server.chat_model(max_retries=0), retries=8, max_concurrency=20)
        model = World(runtime)
        runtime.step([LLM(model, crowd=c, runtime=runtime) for c in range(20)])
    totals = runtime.log.totals
    assert totals.fallbacks == 0
    assert server.answered == 20
    assert server.rejected > 0  # the limit did bite
    assert totals.rate_limited == totals.errors == server.rejected  # every 429 counted once
    assert server.requests <= 3 * 20
