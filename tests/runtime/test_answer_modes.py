"""Answer modes: direct answers, and free-text reasoning that ends in the final answer."""

import json

import pytest

from mesa_llm import (
    InMemoryCache,
    LLMRuntime,
    ScoringChatModel,
    ScriptedChatModel,
)
from mesa_llm.backends.local import LocalChatModel
from tests.world import LLM, Tell, Teller, World, chat

DIRECT_CHOICE = 'Answer with exactly one word, one of: "stay", "move".'
REASONING_CHOICE = (
    'Think step by step in a few sentences about what to do, then end with a final line "Answer: <option>", '
    'where <option> is exactly one of: "stay", "move".'
)
FINAL_CUE = ("human", f"Now give your final answer. {DIRECT_CHOICE}")
# Reasoning that weighs the option it does not take, after the one it takes.
TORN = "Staying keeps my friends near. But I could move: the crowd is large.\nAnswer: move"


def reasoner(answer=lambda _m: TORN, name="reasoner", **kwargs):
    """A runtime in the reasoning mode, its chat model's recorder, a model and one agent."""
    backend, recorder = chat(answer, name=name, **kwargs)
    runtime = LLMRuntime(backend, answer_mode="reasoning", retries=1)
    model = World(runtime)
    return runtime, recorder, model, LLM(model, crowd=3, runtime=runtime)


def scorer(n=1, temperature=1.0, fail_first=0, p_move=0.5, rng=0, mode="reasoning", cache=None):
    """A runtime on a scoring model, a model and agents; the prompts generated from and scored."""
    generated, scored = [], []

    def generate(messages):
        generated.append([(m.type, m.content) for m in messages])
        return TORN

    def scores(messages, options):
        scored.append([(m.type, m.content) for m in messages])
        if len(scored) <= fail_first:
            raise RuntimeError("scoring failed")
        return {"stay": 1 - p_move, "move": p_move}

    backend = ScoringChatModel(scores=scores, fn=generate, model_name="scores", temperature=temperature)
    runtime = LLMRuntime(backend, answer_mode=mode, retries=1, backoff_s=0, cache=cache)
    model = World(runtime, rng=rng)
    agents = [LLM(model, crowd=3, runtime=runtime) for _ in range(n)]
    return runtime, model, agents, generated, scored


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize("mode", ["think", "Reasoning", "", None, 1])
def test_an_unknown_answer_mode_is_refused_at_construction_naming_both_modes(mode):
    with pytest.raises(ValueError, match=r"answer_mode must be 'direct' .* or 'reasoning'"):
        LLMRuntime(chat()[0], answer_mode=mode)


def test_the_runtime_exposes_its_mode_and_its_agents_ask_in_it():
    direct = LLMRuntime(chat()[0])
    assert direct.answer_mode == "direct"
    runtime, _, _, agent = reasoner()
    assert runtime.answer_mode == agent.answer_mode == "reasoning"
    assert agent.instructions() == REASONING_CHOICE
    assert agent.messages(agent.observe())[-1][1].endswith("\n\n" + REASONING_CHOICE)


def test_for_model_makes_a_runtime_in_the_mode_or_refuses_a_runtime_in_another():
    backend = chat()[0]
    assert LLMRuntime.for_model(backend).answer_mode == "direct"
    assert LLMRuntime.for_model(backend, answer_mode="reasoning").answer_mode == "reasoning"
    given = LLMRuntime(backend, answer_mode="reasoning")
    assert LLMRuntime.for_model(runtime=given) is given
    assert LLMRuntime.for_model(runtime=given, answer_mode="reasoning") is given
    with pytest.raises(ValueError, match="pass answer_mode='direct' to your LLMRuntime"):
        LLMRuntime.for_model(runtime=given, answer_mode="direct")
    with pytest.raises(ValueError, match="answer_mode must be"):
        LLMRuntime.for_model(backend, answer_mode="cot")


# --------------------------------------------------------------------------- direct mode as before


def test_direct_mode_sends_the_prompts_of_before_and_records_no_reasoning():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    agent, teller = LLM(model, crowd=2, runtime=runtime), Teller(model, crowd=2, runtime=runtime)
    assert agent.messages(agent.observe()) == (
        ("system", "You are a resident."),
        ("human", f"0 have moved. There are 2 people around you.\n\n{DIRECT_CHOICE}"),
    )
    schema = (
        '{"properties":{"target":{"title":"Target","type":"integer"},"topic":{"enum":["news","rumour"],'
        '"title":"Topic","type":"string"}},"required":["target","topic"],"title":"Tell","type":"object"}'
    )
    assert teller.messages(teller.observe()) == (
        ("system", "You gossip."),
        (
            "human",
            "There are 2 people around you.\n\nAnswer with a single JSON object that matches this JSON "
            f"schema: {schema}",
        ),
    )
    agent.decide(agent.observe())
    assert agent.last_record.reasoning is None


# --------------------------------------------------------------------------- reasoning, in text


def test_reasoning_that_names_the_other_option_first_is_parsed_to_its_final_answer():
    _, recorder, _, agent = reasoner()
    assert agent.decide(agent.observe()) == "move"
    record = agent.last_record
    assert record.reasoning == record.raw == TORN
    assert (record.action, record.attempts, record.parse_failures, record.fallback) == ("move", 1, 0, False)
    assert recorder.prompts[0][-1].content.endswith(REASONING_CHOICE)


def test_the_final_answer_is_read_from_the_last_line_when_there_is_no_answer_marker():
    _, _, _, agent = reasoner(lambda _m: "Moving is costly and staying is calm.\nSo I stay.")
    assert agent.decide(agent.observe()) == "stay"


def test_reasoning_without_a_final_answer_is_retried_with_the_reasoning_instructions_then_falls_back():
    runtime, recorder, _, agent = reasoner(lambda _m: "I weigh stay against move, and cannot tell.")
    assert agent.decide(agent.observe()) == "stay"  # the fallback
    record = agent.last_record
    assert (record.fallback, record.attempts, record.backend_calls, record.parse_failures) == (True, 2, 2, 2)
    assert "ends without a final answer" in record.error
    assert record.reasoning == "I weigh stay against move, and cannot tell."
    correction = recorder.prompts[1][-1].content
    assert correction.startswith("That answer could not be used: the reasoning")
    assert correction.endswith(REASONING_CHOICE)
    totals = runtime.log.totals
    assert (totals.parse_failures, totals.retries, totals.fallbacks) == (2, 1, 1)


def test_a_retried_reasoning_that_ends_in_an_answer_is_used():
    backend = ScriptedChatModel(responses=["Hmm, stay or move?", "On balance I stay.\nFinal answer: stay"])
    runtime = LLMRuntime(backend, answer_mode="reasoning", retries=1)
    agent = LLM(World(runtime), crowd=3, runtime=runtime)
    assert agent.decide(agent.observe()) == "stay"
    record = agent.last_record
    assert (record.fallback, record.attempts, record.parse_failures) == (False, 2, 1)
    assert record.reasoning == "On balance I stay.\nFinal answer: stay"


def test_a_structured_space_reasons_in_text_and_takes_the_last_json_object():
    answer = (
        'An example would be {"target": 1, "topic": "news"}, but the rumour matters more.\n'
        '{"target": 2, "topic": "rumour"}'
    )
    backend, recorder = chat(lambda _m: answer, name="teller")
    runtime = LLMRuntime(backend, answer_mode="reasoning")  # the model binds tools: not used here
    teller = Teller(World(runtime), crowd=2, runtime=runtime)
    assert teller.decide(teller.observe()) == Tell(target=2, topic="rumour")
    assert teller.last_record.reasoning == teller.last_record.raw == answer
    assert recorder.prompts[0][-1].content.endswith(
        f"then end with a single JSON object that matches this JSON schema: {Teller.action_space.schema_json}"
    )


def test_reasoning_is_shared_only_at_temperature_zero():
    for temperature, calls in ((0.0, 1), (0.7, 3)):
        backend, recorder = chat(lambda _m: TORN, name="torn", temperature=temperature)
        runtime = LLMRuntime(backend, answer_mode="reasoning")
        model = World(runtime)
        agents = [LLM(model, crowd=3, runtime=runtime) for _ in range(3)]
        runtime.step(agents)
        assert recorder.calls == calls
        assert all(a.last_record.reasoning == TORN for a in agents)


# --------------------------------------------------------------------------- reasoning, then scores


def test_a_scoring_backend_reasons_once_then_scores_the_options_after_the_reasoning():
    _, _, (agent,), generated, scored = scorer(p_move=0.8)
    agent.decide(agent.observe())
    prompt = [(role, content) for role, content in agent.last_record.messages]
    assert prompt[-1][1].endswith(REASONING_CHOICE)
    assert generated == [prompt]
    assert scored == [[*prompt, ("ai", TORN), FINAL_CUE]]
    record = agent.last_record
    assert record.reasoning == TORN
    assert record.probabilities == pytest.approx({"stay": 0.2, "move": 0.8})
    assert json.loads(record.raw) == pytest.approx({"stay": 0.2, "move": 0.8})
    assert (record.attempts, record.backend_calls, record.fallback) == (1, 2, False)
    words = sum(len(content.split()) for _, content in prompt)
    assert record.tokens_in == words + words + len(TORN.split()) + len(FINAL_CUE[1].split())
    assert record.tokens_out == len(TORN.split())


def test_after_the_reasoning_each_agent_draws_its_action_from_the_scores_with_the_model_rng():
    def moves(rng):
        runtime, _, agents, generated, _ = scorer(n=300, p_move=0.5, rng=rng)
        runtime.step(agents)
        assert len(generated) == 300  # at temperature 1 no agent shares another's reasoning
        assert {a.last_record.action for a in agents} == {a.done[-1] for a in agents} == {"stay", "move"}
        return [a.done[-1] for a in agents]

    first = moves(1)
    assert 110 < first.count("move") < 190  # 300 draws at p = 0.5: 4 standard deviations is +-35
    assert moves(1) == first
    assert moves(2) != first


def test_at_temperature_zero_identical_prompts_share_one_reasoning_and_one_scoring():
    runtime, _, agents, generated, scored = scorer(n=3, temperature=0.0, p_move=0.8)
    runtime.step(agents)
    assert (len(generated), len(scored)) == (1, 1)
    assert [a.done[-1] for a in agents] == ["move"] * 3
    assert [a.last_record.shared for a in agents] == [False, True, True]
    assert all(a.last_record.reasoning == TORN for a in agents)
    assert runtime.log.totals.calls == 2


def test_a_failed_scoring_after_the_reasoning_is_retried_and_counted():
    _, _, (agent,), generated, scored = scorer(fail_first=1)
    agent.decide(agent.observe())
    record = agent.last_record
    assert (record.attempts, record.errors, record.backend_calls, record.fallback) == (2, 1, 4, False)
    assert (len(generated), len(scored)) == (2, 2)
    assert record.error == "RuntimeError: scoring failed"
    assert record.probabilities is not None


# --------------------------------------------------------------------------- the cache


def test_direct_and_reasoning_runs_never_share_answers_and_each_replays_its_own():
    def answer(messages):
        return TORN if "Think step by step" in messages[-1].content else "stay"

    def run(mode):
        backend, recorder = chat(answer, name="either")
        runtime = LLMRuntime(backend, cache=cache, answer_mode=mode)
        model = World(runtime)
        agents = [LLM(model, crowd=c, runtime=runtime) for c in (1, 2)]
        runtime.step(agents)
        return [(a.last_record.action, a.last_record.reasoning) for a in agents], recorder.calls

    cache = InMemoryCache()
    assert run("direct") == ([("stay", None), ("stay", None)], 2)
    assert run("reasoning") == ([("move", TORN), ("move", TORN)], 2)  # nothing from the direct run
    assert len(cache) == 4
    assert run("direct") == ([("stay", None), ("stay", None)], 0)
    assert run("reasoning") == ([("move", TORN), ("move", TORN)], 0)


def test_a_scoring_backend_caches_its_reasoning_and_scores_apart_from_its_direct_scores():
    cache = InMemoryCache()

    def run(mode):
        runtime, _, agents, generated, scored = scorer(n=2, temperature=0.0, mode=mode, cache=cache)
        runtime.step(agents)
        return [a.last_record.reasoning for a in agents], len(generated), len(scored)

    assert run("direct") == ([None, None], 0, 1)
    assert len(cache) == 1
    assert run("reasoning") == ([TORN, TORN], 1, 1)
    assert len(cache) == 3  # the reasoning and the scores after it, each cached
    assert run("reasoning") == ([TORN, TORN], 0, 0)


# --------------------------------------------------------------------------- the embedded model


def test_the_embedded_model_completes_a_reasoning_decision_and_records_its_reasoning():
    backend = LocalChatModel(max_tokens=16, temperature=0.0)
    runtime = LLMRuntime(backend, answer_mode="reasoning")
    agent = LLM(World(runtime), crowd=4, runtime=runtime)
    assert agent.decide(agent.observe()) in ("stay", "move")
    record = agent.last_record
    assert isinstance(record.reasoning, str)
    assert record.reasoning.strip()
    assert (record.backend_calls, record.fallback) == (2, False)
    assert sum(record.probabilities.values()) == pytest.approx(1.0)
    assert 0 < record.tokens_out <= 16
