import warnings

import pytest

from mesa_llm import FunctionChatModel, InMemoryCache, LLMRuntime, ScoringChatModel
from mesa_llm.embeddings import HashingEmbeddings
from mesa_llm.memory import MemoryStream
from mesa_llm.runtime.phase import ArgmaxWarning
from tests.memory.town import resident


def three_or_seven(messages, options):
    """P("3") = 0.2, P("7") = 0.8, the other ratings 0."""
    return {option: {"3": 0.2, "7": 0.8}.get(option, 0.0) for option in options}


def stream_of(chat_model, **kwargs):
    runtime = LLMRuntime(chat_model, cache=kwargs.pop("cache", None))
    return MemoryStream(resident(), HashingEmbeddings(), runtime=runtime, **kwargs), runtime


def test_a_scoring_backend_gives_the_expected_rating_from_one_scoring():
    stream, runtime = stream_of(ScoringChatModel(scores=three_or_seven, model_name="scorer"))
    model = stream.agent.model
    model.time = 7.0
    rng_state, random_state = model.rng.bit_generator.state, model.random.getstate()
    memory_id = stream.add("Isabella invites me to her party", "conversation")
    # Expected value: 3 * 0.2 + 7 * 0.8 = 0.6 + 5.6 = 6.2 (the other ratings have probability 0).
    assert stream[memory_id].importance == pytest.approx(6.2)
    (record,) = runtime.log.records
    assert record.probabilities["3"] == pytest.approx(0.2)
    assert record.probabilities["7"] == pytest.approx(0.8)
    assert record.backend_calls == 1
    assert (record.agent_id, record.agent_type, record.time) == (
        stream.agent.unique_id,
        "ImportanceQuestion",
        7.0,
    )
    # The runtime's draw of a label for the record used a generator of its own.
    assert model.rng.bit_generator.state == rng_state
    assert model.random.getstate() == random_state


def test_rating_at_a_default_temperature_of_0_gives_no_argmax_notice():
    """The rating is the expected value of the scores, not the label drawn: no notice that 0 argmaxes."""
    scorer = ScoringChatModel.model_validate({"scores": three_or_seven, "model_name": "cold"})
    object.__setattr__(scorer, "temperature", 0.0)  # 0 as a backend's default, not set by the user
    assert "temperature" not in scorer.model_fields_set
    stream, _ = stream_of(scorer)
    with warnings.catch_warnings(record=True) as caught:  # raised in the runtime's loop thread, if at all
        warnings.simplefilter("always")
        memory_id = stream.add("Isabella invites me to her party", "conversation")
    assert stream[memory_id].importance == pytest.approx(6.2)
    assert not [w for w in caught if issubclass(w.category, ArgmaxWarning)]


def rates_eight(messages) -> str:
    return "I would say 8."


def test_a_text_backend_gives_the_rating_it_answers():
    stream, runtime = stream_of(
        FunctionChatModel(fn=rates_eight, model_name="eight"), persona="You are Klaus."
    )
    stream.add("Klaus finishes his paper")
    assert stream[0].importance == 8.0
    (record,) = runtime.log.records
    system, user = record.messages
    assert system == ("system", "You are Klaus.")
    assert "rate the likely poignancy of the following piece of memory" in user[1]
    assert 'Memory: "Klaus finishes his paper"' in user[1]  # quoted, as data
    assert record.action == "8"
    assert record.probabilities is None


ASKED: list[str] = []


def counts_and_rates_five(messages) -> str:
    ASKED.append(str(messages[-1].content))
    return "5"


def test_a_second_identical_question_is_answered_by_the_cache():
    ASKED.clear()
    cache = InMemoryCache()
    stream, runtime = stream_of(FunctionChatModel(fn=counts_and_rates_five, model_name="five"), cache=cache)
    stream.add("Maria studies for her exam")
    stream.add("Maria studies for her exam")
    assert len(ASKED) == 1
    first, second = runtime.log.records
    assert (first.backend_calls, first.cache_hit) == (1, False)
    assert (second.backend_calls, second.cache_hit) == (0, True)
    assert stream[0].importance == stream[1].importance == 5.0
    # Another stream and runtime on the same cache (a rerun): no call either.
    again, _ = stream_of(FunctionChatModel(fn=counts_and_rates_five, model_name="five"), cache=cache)
    again.add("Maria studies for her exam")
    assert len(ASKED) == 1


def shrugs(messages) -> str:
    return "hard to say"


def test_an_unusable_rating_falls_back_and_is_counted():
    stream, runtime = stream_of(FunctionChatModel(fn=shrugs, model_name="shrug"), fallback_importance=2)
    stream.add("something happened")
    assert stream[0].importance == 2.0
    assert stream.counts.importance_fallbacks == 1
    (record,) = runtime.log.records
    assert record.fallback
    assert record.attempts == 3  # retried twice, as every decision
    assert record.parse_failures == 3
