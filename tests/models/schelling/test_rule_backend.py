"""Schelling's rule-following chat model: it reads the neighbourhood off the prompt, answers by the rule."""

import pytest
from langchain_core.messages import HumanMessage

from mesa_llm import FunctionChatModel, LLMRuntime, PromptTemplate
from mesa_llm.prompts import to_langchain
from mesa_llm_models.schelling import (
    FRAMINGS,
    LLMResident,
    Neighbourhood,
    SchellingModel,
    rule_following_backend,
)
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer
from tests.models.answers import garbage_first, retry_of


@pytest.fixture
def empty_model():
    return SchellingModel(width=5, height=5, density=0.0, backend=rule_following_backend(0.4), rng=0)


def test_rule_answer_reads_the_facts_from_the_prompt(empty_model):
    resident = LLMResident(empty_model, empty_model.grid[(2, 2)], group=0, runtime=empty_model.llm)
    answer = SchellingRuleAnswer(homophily=0.5)
    assert answer(to_langchain(resident.messages(Neighbourhood(2, 2, 4)))) == "Stay."
    assert answer(to_langchain(resident.messages(Neighbourhood(1, 3, 4)))) == "I will MOVE."
    with pytest.raises(ValueError, match=r"do not state the neighbourhood in the framing's words.*'hello'"):
        answer([HumanMessage("hello")])


@pytest.mark.parametrize(
    "observation", [Neighbourhood(1, 0, 7), Neighbourhood(1, 1, 1), Neighbourhood(0, 1, 0)]
)
def test_rule_answer_reads_counts_of_one(empty_model, observation):
    """ "1 of them is occupied": the singular the prompt uses for a count of one is read too."""
    resident = LLMResident(empty_model, empty_model.grid[(2, 2)], group=0, runtime=empty_model.llm)
    answer = SchellingRuleAnswer(homophily=0.5)
    rule = "stay" if observation.similarity >= 0.5 else "move"
    assert (
        answer(to_langchain(resident.messages(observation)))
        == {"stay": "Stay.", "move": "I will MOVE."}[rule]
    )


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_a_retry_is_answered_like_the_first_attempt(empty_model, framing):
    prompt = LLMResident.framing(framing)
    resident = LLMResident(empty_model, empty_model.grid[(2, 2)], 0, prompt=prompt, runtime=empty_model.llm)
    answer = SchellingRuleAnswer(homophily=0.5, prompt=prompt)
    for observation in (Neighbourhood(2, 2, 4), Neighbourhood(1, 3, 4)):
        messages = resident.messages(observation)
        first = answer(to_langchain(messages))
        assert answer(retry_of(messages, resident.action_space.instructions())) == first
    assert first == "I will MOVE."


def test_a_framing_without_the_facts_the_rule_reads_is_refused_by_name():
    vague = {"vague": PromptTemplate("", "{same} neighbours are like you. Stay or move?")}
    with pytest.raises(ValueError, match=r"does not state \{other\}, which Schelling's rule reads"):
        rule_following_backend(0.4, "vague", vague)
    with pytest.raises(ValueError, match=r"does not state \{other\}"):
        SchellingModel(width=5, height=5, backend="rule", framing="vague", framings=vague)
    assert (
        SchellingModel(
            width=5,
            height=5,
            llm_share=0.5,
            framing="vague",
            framings=vague,
            backend=FunctionChatModel(fn=lambda _messages: "stay", model_name="always-stay"),
        ).framing
        == "vague"
    )  # another chat model may answer it as it likes


def test_llm_residents_answered_garbage_first_make_the_rule_decisions_after_one_retry():
    backend = FunctionChatModel(fn=garbage_first(SchellingRuleAnswer(0.4)), model_name="garbage-then-rule")
    rule = SchellingModel(width=10, height=10, rng=3)
    llm = SchellingModel(width=10, height=10, rng=3, llm_share=0.5, runtime=LLMRuntime(backend, dedup=False))
    for _ in range(4):
        rule.step()
        llm.step()
        assert {a.unique_id: a.cell.coordinate for a in llm.agents} == {
            a.unique_id: a.cell.coordinate for a in rule.agents
        }
    frame = llm.datacollector.get_model_vars_dataframe()
    decisions = 4 * len(llm.agents_by_type[LLMResident])
    assert frame["llm_decisions"].iloc[-1] == decisions
    assert frame["llm_parse_failures"].iloc[-1] == frame["llm_retries"].iloc[-1] == decisions
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert frame["moves_llm"].sum() > 0  # the retries' answers were acted on, not the fallback "stay"
