"""Prompt templates: rendering observations into messages, and LangChain messages."""

import dataclasses
import typing
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from mesa_llm import PromptTemplate
from mesa_llm.prompts import observation_fields, to_langchain

TEMPLATE = PromptTemplate(system="You are a resident.", user="{same} neighbours like you, {other} unlike.")


@dataclasses.dataclass(frozen=True, slots=True)
class DataObs:
    same: int
    other: int


class PydanticObs(BaseModel):
    same: int
    other: int


@pytest.mark.parametrize(
    "observation",
    [
        DataObs(3, 1),
        {"same": 3, "other": 1},
        MappingProxyType({"same": 3, "other": 1}),
        PydanticObs(same=3, other=1),
    ],
    ids=["dataclass", "dict", "mapping", "pydantic"],
)
def test_render_reads_fields_of_any_observation_kind(observation):
    assert TEMPLATE.render(observation) == (
        ("system", "You are a resident."),
        ("human", "3 neighbours like you, 1 unlike."),
    )


def test_render_appends_instructions_after_a_blank_line():
    messages = TEMPLATE.render(DataObs(2, 0), "Answer stay or move.")
    assert messages[-1] == ("human", "2 neighbours like you, 0 unlike.\n\nAnswer stay or move.")


def test_render_with_extra_fields():
    template = PromptTemplate(system="", user="{same} of {cells} cells")
    assert template.render(DataObs(2, 1), cells=8) == (("human", "2 of 8 cells"),)


def test_empty_system_gives_only_a_human_message():
    messages = PromptTemplate(system="", user="{same}").render({"same": 1})
    assert messages == (("human", "1"),)


def test_missing_field_raises_key_error_naming_the_field():
    template = PromptTemplate(system="s", user="{same} and {colour}")
    with pytest.raises(KeyError, match="colour") as info:
        template.render(DataObs(1, 2))
    assert "DataObs" in str(info.value)


def test_unrenderable_observation_raises_type_error():
    with pytest.raises(TypeError, match="dataclass, a NamedTuple, a pydantic model or a mapping"):
        TEMPLATE.render((3, 1))


def test_render_from_a_named_tuple():
    class Seen(typing.NamedTuple):
        same: int
        other: int

    assert TEMPLATE.render(Seen(same=2, other=5)) == (
        ("system", "You are a resident."),
        ("human", "2 neighbours like you, 5 unlike."),
    )


def test_observation_fields_of_a_dataclass_are_not_recursed():
    @dataclasses.dataclass
    class Outer:
        inner: DataObs

    fields = observation_fields(Outer(DataObs(1, 2)))
    assert fields == {"inner": DataObs(1, 2)}


def test_rendered_messages_are_hashable_and_equal_for_equal_observations():
    a = TEMPLATE.render(DataObs(1, 1), "x")
    b = TEMPLATE.render({"same": 1, "other": 1}, "x")
    assert a == b
    assert hash(a) == hash(b)


def test_template_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TEMPLATE.system = "changed"  # type: ignore[misc]


def test_to_langchain_maps_roles_to_message_classes():
    messages = to_langchain((("system", "persona"), ("human", "question"), ("ai", "answer")))
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage]
    assert [m.content for m in messages] == ["persona", "question", "answer"]


def test_to_langchain_rejects_unknown_roles():
    with pytest.raises(KeyError):
        to_langchain((("robot", "beep"),))


def test_instructions_go_where_the_template_places_them():
    template = PromptTemplate("", "Decide. {instructions}\n\nFacts: {crowd}.")
    ((_, text),) = template.render({"crowd": 3}, "Answer yes or no.")
    assert text == "Decide. Answer yes or no.\n\nFacts: 3."


def test_instructions_are_appended_when_the_template_does_not_place_them():
    ((_, text),) = PromptTemplate("", "Facts: {crowd}.").render({"crowd": 3}, "Answer yes or no.")
    assert text == "Facts: 3.\n\nAnswer yes or no."


def test_extra_fields_replace_observation_fields_of_the_same_name():
    ((_, text),) = PromptTemplate("", "Round {round}.").render({"round": 0}, round=1)
    assert text == "Round 1."


# ------------------------------------------------------------------ parse: the inverse of render
def test_parse_reads_back_the_fields_and_the_appended_instructions():
    messages = TEMPLATE.render(DataObs(3, 1), "Answer stay or move.")
    assert TEMPLATE.parse(messages[-1][1]) == {
        "same": "3",
        "other": "1",
        "instructions": "Answer stay or move.",
    }
    assert TEMPLATE.parse("3 neighbours like you, 1 unlike.") == {"same": "3", "other": "1"}


def test_parse_reads_instructions_placed_inline_multi_line_fields_and_repeats():
    template = PromptTemplate(
        "", "Decide. {instructions}\n\nAround you:\n{lines}\n{lines} again, {n!r} {{n}}."
    )
    ((_, text),) = template.render({"lines": "- a\n- b", "n": "x"}, "Answer yes or no.")
    assert text == "Decide. Answer yes or no.\n\nAround you:\n- a\n- b\n- a\n- b again, 'x' {n}."
    assert template.parse(text) == {"instructions": "Answer yes or no.", "lines": "- a\n- b", "n": "'x'"}
    assert template.fields == ("instructions", "lines", "n")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("hello", "at ' neighbours like you, ', looked for in 'hello'."),
        ("3 neighbours like you; 1 unlike.", "at ' neighbours like you, ', looked for in '3 neighbours"),
        ("3 neighbours like you, 1 unlike!", "at ' unlike.', looked for in '1 unlike!'."),
        ("3 neighbours like you, 1 unlike. Really.", "goes on after the template's end, with ' Really.'"),
    ],
)
def test_parse_of_text_the_template_did_not_render_says_where_it_departs(text, where):
    with pytest.raises(ValueError, match="The text does not match the prompt template") as info:
        TEMPLATE.parse(text)
    assert where in str(info.value)


def test_parse_refuses_a_field_repeated_with_other_text():
    template = PromptTemplate("", "{x} and {x}.")
    assert template.parse("a and a.") == {"x": "a"}
    with pytest.raises(ValueError, match=r"departs from it at the field \{x\}, looked for in 'b\.'"):
        template.parse("a and b.")


_VALUES = st.text(alphabet="abcxyz0123456789 .", max_size=12)  # never a character that separates fields
_SEPARATORS = st.text(alphabet="abc :;,|{}\n-", min_size=1, max_size=8).filter(
    lambda t: set(t) & set(":;|{}\n")
)


@st.composite
def _templates(draw):
    """A template of fields (some repeated) with text between them that no value contains, and values."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=6))
    if draw(st.booleans()):
        names.insert(draw(st.integers(0, len(names))), "instructions")
    user = _escape(draw(st.text(alphabet="xyz {}\n", max_size=6)))  # the text before the first field: any
    for name in names:
        user += "{" + name + "}" + _escape(draw(_SEPARATORS))
    values = {name: draw(_VALUES) for name in set(names) - {"instructions"}}
    return PromptTemplate("", user), values


def _escape(text):
    return text.replace("{", "{{").replace("}", "}}")


@settings(max_examples=300, deadline=None)
@given(_templates(), _VALUES)
def test_parse_inverts_render(template_and_values, instructions):
    template, values = template_and_values
    ((_, text),) = template.render(values, instructions)
    expected = dict(values)
    if "{instructions}" in template.user or instructions:
        expected["instructions"] = instructions
    assert template.parse(text) == expected


def test_parse_first_reads_the_first_user_message_the_template_rendered():
    template = PromptTemplate("s", "{same} like you, {other} unlike.")
    retry = [HumanMessage("3 like you, 1 unlike."), AIMessage("garbage"), HumanMessage("That answer ...")]
    assert template.parse_first(retry) == {"same": "3", "other": "1"}
    with pytest.raises(ValueError, match="there is no user message"):
        template.parse_first([AIMessage("3 like you, 1 unlike.")])
    with pytest.raises(ValueError, match="hello"):
        template.parse_first([HumanMessage("hello")])
