"""Life's rule-following chat model: it reads the cell off the prompt and answers by the B/S rule."""

import pytest
from langchain_core.messages import HumanMessage

from mesa_llm import FunctionChatModel, LLMRuntime, PromptTemplate, ScoringChatModel
from mesa_llm.prompts import to_langchain
from mesa_llm_models.life import (
    FRAMINGS,
    HIGHLIFE,
    OBSERVATIONS,
    LifeModel,
    LifeRuleAnswer,
    LLMCell,
    RuleTable,
    rule_backend_of,
    rule_following_backend,
)
from tests.models.answers import garbage_first, retry_of


def cell(framing="neutral", rule_in_prompt=False, framings=None):
    """An LLM cell of a small board, with the framing's prompt."""
    model = LifeModel(
        width=5,
        height=5,
        llm_share=1.0,
        backend="rule",
        framing=framing,
        framings=framings,
        rule_in_prompt=rule_in_prompt,
    )
    return next(iter(model.agents_by_type[LLMCell]))


@pytest.mark.parametrize("rule_in_prompt", [False, True])
@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_the_answer_is_the_rule_s_for_every_observation_in_every_framing(framing, rule_in_prompt):
    asking = cell(framing, rule_in_prompt)
    for rule in (asking.model.rule, HIGHLIFE):
        answer = LifeRuleAnswer(rule, FRAMINGS[framing])
        for observation in OBSERVATIONS:
            expected = "alive" if rule.next_alive(*observation) else "dead"
            answered = answer(to_langchain(asking.messages(observation)))
            assert asking.action_space.parse(answered) == expected, (framing, observation)
            assert answered in ("Alive.", "I will be DEAD.")


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_a_retry_is_answered_like_the_first_attempt(framing):
    asking = cell(framing, rule_in_prompt=True)
    answer = LifeRuleAnswer(prompt=FRAMINGS[framing])
    for observation in OBSERVATIONS:
        messages = asking.messages(observation)
        assert answer(retry_of(messages, asking.instructions())) == answer(to_langchain(messages))


def test_messages_that_are_no_prompt_of_the_framing_are_refused():
    answer = LifeRuleAnswer()
    with pytest.raises(ValueError, match=r"do not state the cell in the framing's words.*'hello'"):
        answer([HumanMessage("hello")])
    with pytest.raises(ValueError, match="there is no user message"):
        answer([])
    text = cell().messages(OBSERVATIONS[3])[1][1].replace("You are dead now", "You are asleep now")
    with pytest.raises(ValueError, match="states the cell as 'asleep'"):
        answer([HumanMessage(text)])


def test_a_framing_without_the_facts_the_rule_reads_is_refused_by_name():
    vague = {"vague": PromptTemplate("", "{live_neighbours} neighbours are alive. {rule}Alive or dead?")}
    with pytest.raises(ValueError, match=r"does not state \{state\}, which a Life rule reads"):
        rule_following_backend("B3/S23", "vague", vague)
    with pytest.raises(ValueError, match=r"does not state \{state\}"):
        LifeModel(width=5, height=5, backend="rule", framing="vague", framings=vague)
    dead = FunctionChatModel(fn=lambda _messages: "dead", model_name="always-dead")
    other = LifeModel(width=5, height=5, llm_share=0.5, framing="vague", framings=vague, backend=dead)
    assert other.framing == "vague"  # another chat model may answer it as it likes


def test_the_backend_names_its_rule_and_refuses_a_bad_one():
    assert rule_following_backend("b36/s32").model_name == "life-rule-B36/S23"
    assert rule_following_backend().fn.rule == LifeRuleAnswer().rule
    assert "prompt" not in repr(rule_following_backend().fn)  # the cache key names the rule only
    with pytest.raises(ValueError, match="is not in B/S notation"):
        rule_following_backend("conway")


def test_llm_cells_answered_garbage_first_make_the_rule_decisions_after_one_retry():
    backend = FunctionChatModel(fn=garbage_first(LifeRuleAnswer()), model_name="garbage-then-rule")
    rule = LifeModel(width=10, height=10, initial_fraction_alive=0.4, rng=3)
    llm = LifeModel(
        width=10,
        height=10,
        initial_fraction_alive=0.4,
        rng=3,
        llm_share=0.5,
        runtime=LLMRuntime(backend, dedup=False),
    )
    for _ in range(4):
        rule.step()
        llm.step()
        assert {a.cell.coordinate: a.alive for a in llm.agents} == {
            a.cell.coordinate: a.alive for a in rule.agents
        }
    frame = llm.datacollector.get_model_vars_dataframe()
    decisions = 4 * len(llm.agents_by_type[LLMCell])
    assert frame["llm_decisions"].iloc[-1] == decisions
    assert frame["llm_parse_failures"].iloc[-1] == frame["llm_retries"].iloc[-1] == decisions
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert frame["alive_llm"].iloc[1:].gt(0).all()  # the retries' answers were acted on, not the fallback


def test_the_backend_of_a_rule_table_scores_each_prompt_with_the_table_s_probabilities():
    table = RuleTable.parse("B:0,0,0,0.9,0,0,0.4,0,0/S:0,0,0.7,1,0,0,0,0,0")
    backend = rule_backend_of({"rule": "B36/S23", "rule_table": str(table), "framing": "conway"})
    assert isinstance(backend, ScoringChatModel)
    assert (backend.model_name, backend.temperature) == (f"life-table-{table}", 1.0)
    asking = cell("conway", rule_in_prompt=True)
    for observation in OBSERVATIONS:
        messages = to_langchain(asking.messages(observation))
        scored = backend.score_options(messages, ["alive", "dead"]).probabilities
        assert scored == table.probabilities(*observation)
        nearest = "alive" if table.rule().next_alive(*observation) else "dead"
        assert asking.action_space.parse(backend.fn(messages)) == nearest  # text answers: the most probable
    assert not isinstance(rule_backend_of({}), ScoringChatModel)  # a B/S rule: deterministic answers
    assert rule_backend_of({}).model_name == "life-rule-B3/S23"
