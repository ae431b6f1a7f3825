"""The cooperation scenario's rule-following chat models: they read the prompt, also in a retry."""

import pytest
from langchain_core.messages import HumanMessage

from mesa_llm import FunctionChatModel, LLMRuntime
from mesa_llm.prompts import to_langchain
from mesa_llm_models.cooperation import CooperationModel, rule_following_backend, tit_for_tat_answer
from mesa_llm_models.cooperation.rule_backend import ImitationAnswer
from tests.models.answers import garbage_first, retry_of

IMITATION = ImitationAnswer(ties="keep", update_every=1, imitate_first=False)


def state(model):
    return {p.cell.coordinate: (p.move, p.score) for p in model.agents}


def prompted(llm_moves):
    """An LLM player after two rounds, and the messages of its next prompt."""
    model = CooperationModel(
        width=5, height=5, rng=3, llm_share=1.0, llm_moves=llm_moves, backend=rule_following_backend()
    )
    model.run_for(2)
    player = next(iter(model.agents))
    return player, player.messages(player.observe())


@pytest.mark.parametrize(
    ("llm_moves", "answer"), [("one", IMITATION), ("each", IMITATION), ("each", tit_for_tat_answer)]
)
def test_a_retry_is_answered_like_the_first_attempt(llm_moves, answer):
    player, messages = prompted(llm_moves)
    first = answer(to_langchain(messages))
    player.action_space.parse(first)  # a usable answer: one move, or one per neighbour
    assert answer(retry_of(messages, player.action_space.instructions())) == first


@pytest.mark.parametrize("answer", [IMITATION, tit_for_tat_answer])
def test_messages_without_the_prompt_are_refused_by_name(answer):
    with pytest.raises(ValueError, match="no message states the round"):
        answer([HumanMessage("hello"), HumanMessage("That answer could not be used.")])


def test_a_partner_player_is_answered_the_imitated_move_towards_every_neighbour():
    player, messages = prompted("each")
    one_player, one_messages = prompted("one")  # the same world: the rule backend reproduces it
    assert player.cell.coordinate == one_player.cell.coordinate
    moves = player.action_space.parse(IMITATION(to_langchain(messages))).moves
    assert moves == [IMITATION(to_langchain(one_messages))] * len(player.neighbours) == [moves[0]] * 8


@pytest.mark.parametrize("llm_moves", ["one", "each"])
def test_llm_players_answered_garbage_first_make_the_rule_decisions_after_one_retry(llm_moves):
    backend = FunctionChatModel(fn=garbage_first(IMITATION), model_name="garbage-then-imitation")
    rule = CooperationModel(width=6, height=6, rng=2)
    mixed = CooperationModel(
        width=6, height=6, rng=2, llm_share=0.5, llm_moves=llm_moves, runtime=LLMRuntime(backend, dedup=False)
    )
    for _ in range(5):
        rule.step()
        mixed.step()
        assert state(mixed) == state(rule)
    last = mixed.datacollector.get_model_vars_dataframe().iloc[-1]
    decisions = 4 * 18  # the opening round asks nobody
    assert last["llm_decisions"] == decisions
    assert last["llm_parse_failures"] == last["llm_retries"] == decisions  # one garbage answer each
    assert last["llm_fallbacks"] == 0
    assert set(rule.datacollector.get_model_vars_dataframe()["cooperation"].iloc[1:]) != {1.0}  # defectors
