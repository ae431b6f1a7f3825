import json
import re

import pytest

from mesa_llm import FunctionChatModel, LLMRuntime
from mesa_llm.embeddings import HashingEmbeddings
from mesa_llm.memory import MemoryStream, Reflection, Retrieval
from tests.memory.town import resident

MEMORIES = [
    "Isabella is planning a Valentine's Day party at Hobbs Cafe",
    "Isabella works at Hobbs Cafe",
    "Klaus likes coffee at Hobbs Cafe",
    "Maria studies physics",
    "Isabella asks Maria to come to the party",
]


def shown_ids(prompt: str) -> list[int]:
    return [int(i) for i in re.findall(r"^\[(\d+)\] ", prompt, re.MULTILINE)]


def reflective(messages) -> str:
    """Four questions (one too many); per question one insight citing every memory 0-4 and 99; ratings 6."""
    prompt = str(messages[-1].content)
    if "most salient high-level questions" in prompt:
        questions = ["What is Isabella planning?", "Where does Isabella work?", "Who likes coffee?", "Extra?"]
        return json.dumps({"questions": questions})
    if "high-level insights" in prompt:
        first = shown_ids(prompt)[0]
        return json.dumps(
            {"insights": [{"insight": f"Memory {first} matters", "cites": [4, 3, 2, 1, 0, 0, 99]}]}
        )
    return "6"


def town(fn, reflection=None):
    runtime = LLMRuntime(FunctionChatModel(fn=fn, model_name=fn.__name__))
    stream = MemoryStream(
        resident(),
        HashingEmbeddings(),
        runtime=runtime,
        retrieval=Retrieval(k=2),
        reflection=reflection if reflection is not None else Reflection(threshold=20),
    )
    for hour, text in enumerate(MEMORIES):
        stream.agent.model.time = hour
        stream.add(text, importance=5)
    stream.agent.model.time = 10
    return stream, runtime


def test_a_due_reflection_stores_insights_citing_the_memories_they_were_shown():
    stream, runtime = town(reflective)
    assert stream.importance_since_reflection == 25.0  # exceeds 20
    ids = stream.reflect_if_due()
    assert ids == [5, 6, 7]  # one insight for each of the first 3 questions
    kinds = [r.agent_type for r in runtime.log.records]
    assert kinds == ["ReflectionQuestions"] + ["InsightQuestion"] * 3 + ["ImportanceQuestion"] * 3
    insight_prompts = [
        str(r.messages[-1][1]) for r in runtime.log.records if r.agent_type == "InsightQuestion"
    ]
    for memory_id, prompt in zip(ids, insight_prompts, strict=True):
        reflection = stream[memory_id]
        shown = shown_ids(prompt)
        assert len(shown) == 2  # the retrieval's k
        assert reflection.kind == "reflection"
        assert reflection.text == f"Memory {shown[0]} matters"
        assert reflection.cites == tuple(i for i in (4, 3, 2, 1, 0) if i in shown)  # in order, once each
        assert reflection.importance == 6.0  # asked
        assert reflection.created == 10.0
    # Each insight cited 0-4 and 99: the 3 of 0-4 it was not shown and 99 are dropped.
    assert stream.counts.unknown_citations == 3 * 4
    assert (stream.counts.reflections, stream.counts.insights, stream.counts.failed_reflections) == (1, 3, 0)
    assert stream.importance_since_reflection == 0.0
    assert not stream.reflection_due
    assert stream.reflect_if_due() == []
    assert len(runtime.log.records) == 7  # no more questions


def test_questions_are_about_the_most_recent_memories_only():
    stream, runtime = town(reflective, Reflection(threshold=20, recent=2, importance=7))
    ids = stream.reflect()
    question = str(runtime.log.records[0].messages[-1][1])
    assert "Given only the information above, what are the 3 most salient high-level questions" in question
    assert '"Maria studies physics"' in question
    assert '"Isabella asks Maria to come to the party"' in question
    assert "Klaus" not in question
    assert [stream[i].importance for i in ids] == [7.0, 7.0, 7.0]  # given: no rating asked
    assert "ImportanceQuestion" not in {r.agent_type for r in runtime.log.records}


def confused(messages) -> str:
    return "I have no questions."


def test_an_unusable_question_answer_gives_no_reflection_and_is_counted():
    stream, runtime = town(confused)
    assert stream.reflect_if_due() == []
    assert len(stream) == len(MEMORIES)
    assert stream.counts.failed_reflections == 1
    assert stream.counts.reflections == 0
    (record,) = runtime.log.records
    assert record.fallback
    assert stream.importance_since_reflection == 0.0  # reset, as after any reflection


def questions_but_no_insights(messages) -> str:
    prompt = str(messages[-1].content)
    if "most salient high-level questions" in prompt:
        return json.dumps({"questions": ["What is Isabella planning?", "Who likes coffee?"]})
    return '{"insights": [{"insight": "a thought without citations"}]}'  # cites missing


def test_unusable_insight_answers_give_no_reflection_and_are_counted():
    stream, runtime = town(questions_but_no_insights)
    assert stream.reflect() == []
    assert (stream.counts.reflections, stream.counts.failed_reflections, stream.counts.insights) == (1, 2, 0)
    assert [r.fallback for r in runtime.log.records] == [False, True, True]


def test_an_empty_stream_asks_nothing_and_a_stream_without_runtime_cannot_reflect():
    runtime = LLMRuntime(FunctionChatModel(fn=reflective, model_name="reflective"))
    assert MemoryStream(resident(), HashingEmbeddings(), runtime=runtime).reflect() == []
    assert len(runtime.log.records) == 0
    alone = MemoryStream(resident(), HashingEmbeddings())
    alone.add("something", importance=3)
    with pytest.raises(ValueError, match="has no runtime to ask its language model"):
        alone.reflect()


def test_reflection_settings_are_checked():
    with pytest.raises(ValueError, match="threshold must be at least 0"):
        Reflection(threshold=-1)
    with pytest.raises(ValueError, match="questions must be at least 1"):
        Reflection(questions=0)
    with pytest.raises(TypeError, match="recent must be a whole number"):
        Reflection(recent=2.5)
    with pytest.raises(ValueError, match="importance must be at most 10"):
        Reflection(importance=11)
