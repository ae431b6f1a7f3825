import mesa
import numpy as np
import pytest

from mesa_llm import FunctionChatModel, LLMRuntime
from mesa_llm.embeddings import HashingEmbeddings
from mesa_llm.memory import MemoryStream, Reflection, Retrieval, remember
from tests.memory.town import TABLE, TableEmbeddings, resident
from tests.world import LLM


def town(retrieval="paper"):
    """The three memories of the hand-computed example, added at hours 0, 10 and 20."""
    agent = resident()
    stream = MemoryStream(agent, TableEmbeddings(TABLE), retrieval=retrieval)
    for hour, text, importance in [
        (0, "coffee at Hobbs Cafe", 2),
        (10, "Isabella invites me to her party", 8),
        (20, "a walk in the park", 5),
    ]:
        agent.model.time = hour
        stream.add(text, importance=importance)
    agent.model.time = 30
    return stream


def test_retrieval_follows_the_paper_and_updates_the_last_access():
    stream = town()
    found = stream.retrieve("query", k=2)
    # At hour 30 (tests/memory/test_retrieval.py has the arithmetic): scores 1.0, 2.0874713, 1.5.
    assert found.ids.tolist() == [1, 2]
    assert found.score == pytest.approx([2.0874713, 1.5], abs=1e-7)
    assert found.texts == ("Isabella invites me to her party", "a walk in the park")
    assert found.recency == pytest.approx([0.4874713, 1.0], abs=1e-7)
    assert stream.last_retrieved is found
    # The two retrieved were accessed now; the third keeps its last access.
    assert [stream[i].last_access for i in range(3)] == [0.0, 30.0, 30.0]
    assert [stream[i].created for i in range(3)] == [0.0, 10.0, 20.0]
    # At hour 40: hours since access 40, 10, 10: recency 0.995**40 = 0.8183201 and
    # 0.995**10 = 0.9511101 twice; scaled 0, 1, 1. Scores: 0 + 0 + 1 = 1.0;
    # 1 + 1 + 0.6 = 2.6; 1 + 0.5 + 0 = 1.5.
    stream.agent.model.time = 40
    assert stream.retrieve("query", k=3).score == pytest.approx([2.6, 1.5, 1.0])


def test_retrieval_by_the_code_preset_takes_30_by_default():
    stream = town("code")
    found = stream.retrieve("query")  # k=30 > 3 memories: all of them, best first
    assert found.ids.tolist() == [1, 0, 2]
    assert found.score == pytest.approx([4.0487437, 3.5, 1.0], abs=1e-7)
    assert found.frame().columns.tolist() == [
        "id", "kind", "text", "recency", "importance", "relevance", "score"
    ]  # fmt: skip


def test_an_empty_stream_retrieves_nothing_without_embedding_the_query():
    embeddings = TableEmbeddings(TABLE)
    stream = MemoryStream(resident(), embeddings)
    found = stream.retrieve("query")
    assert len(found) == 0
    assert found.frame().empty
    assert embeddings.calls == 0


def test_kinds_restrict_the_candidates_and_the_scaling():
    stream = town()
    stream.agent.model.time = 30
    stream.add("a walk in the park", "plan", importance=9)
    found = stream.retrieve("query", kinds=["plan"])
    # One candidate: every component 0.5, score 1.5.
    assert found.ids.tolist() == [3]
    assert found.kinds == ("plan",)
    assert found.score.tolist() == [1.5]
    assert len(stream.retrieve("query", kinds=["reflection"])) == 0
    with pytest.raises(ValueError, match=r"unknown memory kind 'plans': use one of \('observation'"):
        stream.retrieve("query", kinds=["plans"])


def test_a_query_embedding_can_be_given_and_must_match():
    stream = town()
    assert stream.retrieve("anything", embedding=[1.0, 0.0]).ids.tolist()[0] == 1
    with pytest.raises(ValueError, match=r"embeddings of length 3 do not match this stream's \(2\)"):
        stream.retrieve("anything", embedding=[1.0, 0.0, 0.0])


def test_retrieve_refuses_a_bad_k():
    with pytest.raises(ValueError, match="k must be at least 1"):
        town().retrieve("query", k=0)


def test_the_columns_grow_and_keep_every_memory():
    agent = resident()
    by_relevance = Retrieval(recency_weight=0, importance_weight=0)
    stream = MemoryStream(agent, HashingEmbeddings(), retrieval=by_relevance)
    for i in range(100):
        agent.model.time = i
        assert stream.add(f"memory number {i}", importance=1 + i % 10) == i
    assert len(stream) == 100
    assert stream[57].text == "memory number 57"
    assert stream[57].importance == 8.0
    assert stream[57].created == 57.0
    assert [m.id for m in stream.recent(3)] == [97, 98, 99]
    # By relevance alone, the memory with every word of the query comes first.
    assert stream.retrieve("memory number 57", k=1).ids.tolist() == [57]


def test_reflection_trigger_counts_memories_but_not_reflections():
    stream = MemoryStream(resident(), HashingEmbeddings(), reflection=Reflection(threshold=15))
    stream.add("first", importance=8)
    stream.add("second", importance=7)
    assert stream.importance_since_reflection == 15.0
    assert not stream.reflection_due  # 15 does not exceed 15
    assert stream.reflect_if_due() == []  # and nothing is asked (there is no runtime)
    stream.add("an insight", "reflection", importance=10, cites=[0, 1])
    assert stream.importance_since_reflection == 15.0
    stream.add("third", importance=1)
    assert stream.reflection_due


def answers_seven(messages) -> str:
    return "7"


def test_remember_asks_the_importance_of_many_agents_memories_at_once():
    runtime = LLMRuntime(FunctionChatModel(fn=answers_seven, model_name="seven"))
    model = mesa.Model(rng=0)
    first, second = (MemoryStream(resident(model), HashingEmbeddings(), runtime=runtime) for _ in range(2))
    ids = remember([(first, "Isabella's party", "conversation"), (second, "a walk", "observation"),
                    (first, "the cafe", "plan")])  # fmt: skip
    assert ids == [0, 0, 1]
    assert runtime.progress.prompts == 3  # one decision phase for all three
    assert [m.kind for m in (first[0], first[1], second[0])] == ["conversation", "plan", "observation"]
    assert first[1].importance == second[0].importance == 7.0
    assert sorted(r.agent_id for r in runtime.log.records) == sorted(
        [first.agent.unique_id, first.agent.unique_id, second.agent.unique_id]
    )
    with pytest.raises(TypeError, match=r"remember takes \(stream, text, kind\) triples"):
        remember([(first, "text")])


def test_an_llm_agents_stream_asks_through_its_runtime_model_and_persona():
    runtime = LLMRuntime(FunctionChatModel(fn=answers_seven, model_name="seven"))
    model = mesa.Model(rng=0)
    agent = LLM(model, runtime=runtime)
    stream = MemoryStream(agent, HashingEmbeddings())
    stream.add("Isabella is planning a party")
    (record,) = runtime.log.records
    assert record.messages[0] == ("system", "You are a resident.")
    assert record.agent_id == agent.unique_id
    assert record.backend == "seven"


def test_bad_arguments_are_refused_at_construction():
    agent = resident()
    with pytest.raises(TypeError, match="embeddings must be a LangChain Embeddings"):
        MemoryStream(agent, lambda text: [1.0])
    with pytest.raises(TypeError, match="agent must be a Mesa agent"):
        MemoryStream(object(), HashingEmbeddings())
    with pytest.raises(ValueError, match="unknown retrieval preset"):
        MemoryStream(agent, HashingEmbeddings(), retrieval="authors")
    with pytest.raises(ValueError, match="fallback_importance must be at most 10"):
        MemoryStream(agent, HashingEmbeddings(), fallback_importance=11)
    with pytest.raises(TypeError, match="runtime must be an LLMRuntime or None"):
        MemoryStream(agent, HashingEmbeddings(), runtime="local")
    with pytest.raises(TypeError, match="reflection must be a Reflection or None"):
        MemoryStream(agent, HashingEmbeddings(), reflection={"threshold": 10})


def test_bad_memories_are_refused():
    stream = MemoryStream(resident(), HashingEmbeddings())
    with pytest.raises(ValueError, match="importance must be at most 10"):
        stream.add("x", importance=11)
    with pytest.raises(ValueError, match="unknown memory kind 'thought'"):
        stream.add("x", "thought", importance=3)
    with pytest.raises(ValueError, match="must not be empty"):
        stream.add("  ", importance=3)
    with pytest.raises(TypeError, match="text must be a string, got int"):
        stream.add(3, importance=3)
    stream.add("x", importance=3)
    with pytest.raises(ValueError, match="only a reflection cites memories"):
        stream.add("y", importance=3, cites=[0])
    with pytest.raises(ValueError, match=r"names ids this stream does not have \(0..0\)"):
        stream.add("y", "reflection", importance=3, cites=[0, 5])
    with pytest.raises(ValueError, match="has no runtime to ask its language model: pass runtime="):
        stream.add("y")
    with pytest.raises(KeyError, match=r"no memory 1: this stream's ids are 0..0"):
        stream[1]
    assert len(stream) == 1
    assert np.isclose(stream.importance_since_reflection, 3.0)
