"""Schelling's rule-following chat model: it reads the neighbourhood off the prompt, answers by the rule."""

import pytest
from langchain_core.messages import HumanMessage

from mesa_llm.prompts import to_langchain
from mesa_llm_models.schelling import LLMResident, Neighbourhood, SchellingModel, rule_following_backend
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer


@pytest.fixture
def empty_model():
    return SchellingModel(width=5, height=5, density=0.0, backend=rule_following_backend(0.4), rng=0)


def test_rule_answer_reads_the_facts_from_the_prompt(empty_model):
    resident = LLMResident(empty_model, empty_model.grid[(2, 2)], group=0, runtime=empty_model.llm)
    answer = SchellingRuleAnswer(homophily=0.5)
    assert answer(to_langchain(resident.messages(Neighbourhood(2, 2, 4)))) == "Stay."
    assert answer(to_langchain(resident.messages(Neighbourhood(1, 3, 4)))) == "I will MOVE."
    with pytest.raises(ValueError, match="does not state the neighbourhood"):
        answer([HumanMessage("hello")])
