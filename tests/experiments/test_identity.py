"""What a design is known by (its description) and whether its values can travel (pickle)."""

import pytest

from mesa_llm import PromptTemplate
from mesa_llm.experiments.identity import check_sendable, described
from mesa_llm.lab import find_scenario


def test_a_prompt_template_is_described_by_its_words():
    template = PromptTemplate(system="s", user="{same} like you. {instructions}")
    assert described(template, "The fixed parameter 'framings'") == {
        "object": "mesa_llm.prompts.PromptTemplate",
        "system": "s",
        "user": template.user,
    }


def test_an_object_is_described_by_its_type_and_pickle_digest_and_equal_objects_alike():
    first, second = described({1, 2}, "x"), described({2, 1}, "x")
    assert first == second
    assert first["object"] == "builtins.set"
    assert len(first["sha256"]) == 64
    assert described([1.5, None, {"a": (1, "b")}], "x") == [1.5, None, {"a": [1, "b"]}]


def test_an_object_that_cannot_be_pickled_has_no_description_and_the_error_names_it():
    with pytest.raises(ValueError, match=r"The level 'f' of the axis 'rule' .* cannot be pickled.*out=None"):
        described(lambda: 0, "The level 'f' of the axis 'rule'")


def test_check_sendable_names_the_first_value_that_cannot_travel():
    scenario = find_scenario("schelling")
    check_sendable([("The scenario 'schelling'", scenario), ("The fixed parameter 'width'", 10)])
    with pytest.raises(ValueError, match=r"parameter 'rule' \(<function .*cannot be sent to a worker"):
        check_sendable([("The fixed parameter 'width'", 10), ("The fixed parameter 'rule'", lambda: 0)])
