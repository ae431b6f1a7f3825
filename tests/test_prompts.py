"""Prompt templates: rendering observations into messages, and LangChain messages."""

import dataclasses
import typing
from types import MappingProxyType

import pytest
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
