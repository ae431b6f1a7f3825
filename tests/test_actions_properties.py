"""Property tests of answer parsing: any text gives an action of the space or an ActionParseError."""

import enum
import functools
import json
from collections.abc import Callable
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from mesa_llm import ActionParseError, ActionSpace

Move = Literal["stay", "move"]


class Play(enum.StrEnum):
    COOPERATE = "cooperate"
    DEFECT = "defect"


class Tell(BaseModel):
    target: int
    topic: Literal["news", "rumour"]


class Note(BaseModel):
    target: int
    text: str


MOVES = ActionSpace(Move, fallback="stay")
PLAYS = ActionSpace(Play, fallback=Play.COOPERATE)
TELLS = ActionSpace(Tell, fallback=Tell(target=0, topic="news"))
NOTES = ActionSpace(Note, fallback=Note(target=0, text=""))

NEGATIONS = ["not", "no", "never", "don't", "dont", "do not", "won't", "will not", "shouldn't", "wouldn't"]
NEGATIONS += ["can't", "cannot", "rather not", "refuse to", "instead of", "don’t", "won’t", "nor"]
FRAGMENTS = [
    *("stay", "move", "STAY", "Move", "cooperate", "defect", "ѕtay", "ｍｏｖｅ", "st\u200bay", "moving"),
    *NEGATIONS,
    *("final answer:", "Answer:", "**Decision:**", "choice:", "action:", "but", "so", "I will", "maybe"),
    *(" ", "\n", ". ", ", ", "? ", "! ", "; ", ": ", "-", "'", "’", '"', "\\", '\\"', "`", "**"),
    *(
        "{",
        "}",
        "[",
        "]",
        '{"action": "stay"}',
        '{"action": "move"}',
        '{"a":',
        '"target": 3',
        ', "topic": "news"',
    ),
    *('{"target": 3, "topic": "news"}', "null", "true", "1" * 30, "\u202e", "\ufeff", "是"),
]
HOSTILE = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=300).map("".join)
ANY_TEXT = st.text(max_size=5000)
FEW = settings(max_examples=150, deadline=None, database=None)


def read_or_rejected(read: Callable[[str], Any], text: str) -> Any:
    """``read(text)`` (a space's ``parse`` or ``validate``), or None if it raised ActionParseError."""
    try:
        return read(text)
    except ActionParseError:
        return None


@pytest.mark.parametrize("space", [MOVES, PLAYS], ids=["literal", "enum"])
@FEW
@given(text=ANY_TEXT | HOSTILE)
def test_a_choice_answer_is_an_option_or_a_parse_error(space, text):
    for read in (space.parse, space.validate, functools.partial(space.parse, mode="reasoning")):
        action = read_or_rejected(read, text)
        assert action is None or action in space.options


@pytest.mark.parametrize("space", [TELLS, NOTES], ids=["tell", "note"])
@FEW
@given(text=ANY_TEXT | HOSTILE)
def test_a_structured_answer_is_a_schema_instance_or_a_parse_error(space, text):
    for read in (space.parse, space.validate, functools.partial(space.parse, mode="reasoning")):
        action = read_or_rejected(read, text)
        assert action is None or isinstance(action, space.schema)


@pytest.mark.parametrize("space", [MOVES, PLAYS], ids=["literal", "enum"])
@FEW
@given(reasoning=ANY_TEXT | HOSTILE, index=st.integers(0, 1))
def test_a_reasoning_ending_in_an_answer_line_is_read_as_that_answer(space, reasoning, index):
    label = space.labels[index]
    assert space.label(space.parse(f"{reasoning}\nAnswer: {label}", "reasoning")) == label


FILLER = st.lists(st.sampled_from(["i", "really", "think", "today", "here", "want", "to"]), max_size=3)


@FEW
@given(
    before=FILLER,
    negation=st.sampled_from(NEGATIONS),
    between=FILLER,
    label=st.sampled_from(MOVES.labels),
    end=st.sampled_from(["", ".", "!", " here."]),
)
def test_an_option_under_a_negation_is_never_chosen(before, negation, between, label, end):
    text = " ".join([*before, negation, *between, label]) + end
    with pytest.raises(ActionParseError, match="negates an option"):
        MOVES.parse(text)


@FEW
@given(
    first=st.sampled_from(MOVES.labels),
    between=st.lists(st.sampled_from(["or", "and", "\n", ",", "maybe", "then", "I will"]), max_size=4),
    after=FILLER,
)
def test_an_answer_naming_two_options_is_rejected(first, between, after):
    second = next(label for label in MOVES.labels if label != first)
    text = " ".join([first, *between, second, *after])
    with pytest.raises(ActionParseError, match="names several options"):
        MOVES.parse(text)


@FEW
@given(
    label=st.sampled_from(MOVES.labels),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    wrap=st.sampled_from(["{}", " {} ", '"{}"', "**{}**", "{}.", "I will {}.", "Final answer: {}", "ｘ {}"]),
)
def test_an_option_named_alone_is_read(label, case, wrap):
    assert MOVES.parse(wrap.format(case(label))) == label


@FEW
@given(
    prose=st.text(alphabet=st.characters(blacklist_characters="{"), max_size=300),
    target=st.integers(),
    text=st.text(max_size=200),
    after=st.text(max_size=300),
)
def test_a_json_object_in_prose_is_read_exactly(prose, target, text, after):
    note = Note(target=target, text=text)
    assert NOTES.parse(prose + json.dumps(note.model_dump()) + after) == note
