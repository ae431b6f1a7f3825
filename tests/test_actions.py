"""Action spaces: construction, tolerant parsing, structured parsing, validation, instructions."""

import enum
import gc
import json
import sys
import time
import unicodedata
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from mesa_llm import ActionParseError, ActionSpace
from mesa_llm.actions import ANSWER_MODES, check_answer_mode

Move = Literal["stay", "move"]


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Direction(enum.StrEnum):
    STAY = "stay"
    MOVE = "move"


class Tell(BaseModel):
    target: int
    topic: Literal["news", "rumour"]


@pytest.fixture
def move_space() -> ActionSpace:
    return ActionSpace(Move, fallback="stay")


def test_literal_space_options_labels_and_fallback(move_space):
    assert move_space.kind == "choice"
    assert move_space.options == ("stay", "move")
    assert move_space.labels == ("stay", "move")
    assert move_space.fallback == "stay"


def test_enum_space_labels_use_string_values_else_names():
    colours = ActionSpace(Colour, fallback=Colour.RED)
    assert colours.options == (Colour.RED, Colour.GREEN)
    assert colours.labels == ("red", "green")
    assert colours.label(Colour.GREEN) == "green"
    levels = ActionSpace(Level, fallback=Level.LOW)
    assert levels.labels == ("LOW", "HIGH")
    assert levels.label(Level.HIGH) == "HIGH"


def test_enum_space_parses_to_members():
    colours = ActionSpace(Colour, fallback=Colour.RED)
    assert colours.parse("GREEN") is Colour.GREEN
    assert colours.parse("I pick red.") is Colour.RED
    levels = ActionSpace(Level, fallback=Level.LOW)
    assert levels.parse("high") is Level.HIGH


def test_enum_fallback_given_as_label_becomes_the_member():
    assert ActionSpace(Colour, fallback="green").fallback is Colour.GREEN
    assert ActionSpace(Level, fallback="HIGH").fallback is Level.HIGH


def test_str_enum_fallback_given_as_label_becomes_the_member():
    space = ActionSpace(Direction, fallback="stay")
    assert space.fallback is Direction.STAY
    assert space.validate("move") is Direction.MOVE


def test_int_literal_space_parses_numbers():
    space = ActionSpace(Literal[1, 2, 3], fallback=1)
    assert space.labels == ("1", "2", "3")
    assert space.parse("2") == 2
    assert space.parse("I choose 3.") == 3
    with pytest.raises(ActionParseError):
        space.parse("4")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("move", "move"),
        ("MOVE", "move"),
        ("  Stay  ", "stay"),
        ("move.", "move"),
        ("Move!", "move"),
        ('"move"', "move"),
        ("'stay'", "stay"),
        ("**stay**", "stay"),
        ("I will MOVE.", "move"),
        ("I think I should stay here.", "stay"),
        ('{"action": "move"}', "move"),
        ('{"action": "Stay", "reason": "I like it"}', "stay"),
        (
            "Let me think about whether to stay or move.\nOn balance, moving is better.\nFinal answer: move",
            "move",
        ),
        ("Weighing stay against move...\n\nFinal answer: STAY", "stay"),
        ("**Final answer:** move", "move"),
        ("Decision:\n\nstay", "stay"),
        ("Answer: stay. Final answer: move", "move"),
        ("stay, or move?\nMy choice: move", "move"),
        ('{"action": "move", "reason": "I do not want to stay"}', "move"),
        ("No, I will stay.", "stay"),
        ("Not sure, but stay", "stay"),
        ("I'll stay, no doubt.", "stay"),
        ("I'll stay instead of moving.", "stay"),
        ("Stay.", "stay"),
    ],
)
def test_choice_parse_is_tolerant(move_space, answer, expected):
    assert move_space.parse(answer) == expected


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "hmm",
        "I don't know",
        "movement",
        "stay or move",
        "I could stay, or I could move.",
        "¯\\_(ツ)_/¯",
        # Several options and no final-answer marker: no longer read by its last line.
        "Let me think about whether to stay or move.\nOn balance, moving is better.\nmove",
    ],
)
def test_choice_parse_rejects_no_option_or_several(move_space, answer):
    with pytest.raises(ActionParseError, match="exactly one"):
        move_space.parse(answer)


def test_accented_labels_are_found_in_sentences():
    space = ActionSpace(Literal["rester", "déménager"], fallback="rester")
    assert space.parse("Je vais déménager.") == "déménager"
    assert space.parse("RESTER !") == "rester"


@pytest.mark.parametrize("answer", ["是。", '"是"', "答案：是"])
def test_non_ascii_labels_are_parsed_tolerantly(answer):
    space = ActionSpace(Literal["是", "否"], fallback="否")
    assert space.parse(answer) == "是"


def test_parse_error_is_a_value_error(move_space):
    with pytest.raises(ValueError):  # noqa: PT011 - the documented base class
        move_space.parse("neither")


def test_validate_choice_accepts_options_labels_and_decision_models(move_space):
    assert move_space.validate("move") == "move"
    assert move_space.validate(" MOVE ") == "move"
    assert move_space.validate(move_space.schema(action="stay")) == "stay"
    with pytest.raises(ActionParseError):
        move_space.validate("jump")
    with pytest.raises(ActionParseError):
        move_space.validate(["move"])


def test_fallback_outside_the_space_raises_at_construction():
    with pytest.raises(ActionParseError):
        ActionSpace(Move, fallback="jump")
    with pytest.raises(ValueError):  # noqa: PT011
        ActionSpace(Colour, fallback="blue")
    with pytest.raises(ValueError):  # noqa: PT011
        ActionSpace(Tell, fallback={"target": "nobody"})


@pytest.mark.parametrize("type_", [str, int, list[str], dict, "stay", None])
def test_unsupported_type_raises_type_error(type_):
    with pytest.raises(TypeError, match="Unsupported action type"):
        ActionSpace(type_, fallback="stay")


def test_duplicate_labels_are_rejected():
    with pytest.raises(ValueError, match="distinct"):
        ActionSpace(Literal["1", 1], fallback=1)


def test_choice_instructions_name_every_option(move_space):
    text = move_space.instructions()
    assert '"stay"' in text
    assert '"move"' in text
    assert "exactly one" in text
    assert '"red", "green"' in ActionSpace(Colour, fallback=Colour.RED).instructions()


def test_choice_schema_is_a_decision_model_over_the_labels(move_space):
    schema = json.loads(move_space.schema_json)
    assert schema["properties"]["action"]["enum"] == ["stay", "move"]
    assert move_space.schema(action="move").action == "move"


def test_description_goes_into_the_schema():
    space = ActionSpace(Move, fallback="stay", description="stay in your home or move")
    assert "stay in your home or move" in space.schema_json


# ----------------------------------------------------------------- structured spaces
@pytest.fixture
def tell_space() -> ActionSpace:
    return ActionSpace(Tell, fallback=Tell(target=0, topic="news"))


def test_structured_space_kind_and_fallback(tell_space):
    assert tell_space.kind == "structured"
    assert tell_space.options == ()
    assert tell_space.labels == ()
    assert tell_space.fallback == Tell(target=0, topic="news")
    assert tell_space.schema is Tell


def test_structured_fallback_may_be_a_dict():
    space = ActionSpace(Tell, fallback={"target": 4, "topic": "rumour"})
    assert space.fallback == Tell(target=4, topic="rumour")


@pytest.mark.parametrize(
    "answer",
    [
        '{"target": 3, "topic": "rumour"}',
        '```json\n{"target": 3, "topic": "rumour"}\n```',
        'Sure! Here is my action:\n```\n{"target": 3,\n "topic": "rumour"}\n```\nThat is all.',
    ],
)
def test_structured_parse_reads_the_json_object(tell_space, answer):
    assert tell_space.parse(answer) == Tell(target=3, topic="rumour")


def test_structured_parse_without_json_raises(tell_space):
    with pytest.raises(ActionParseError, match="no JSON object"):
        tell_space.parse("tell agent 3 the rumour")


@pytest.mark.parametrize(
    "answer",
    [
        '{"target": "three", "topic": "rumour"}',
        '{"target": 3, "topic": "gossip"}',
        '{"target": 3}',
    ],
)
def test_structured_parse_rejects_invalid_objects(tell_space, answer):
    with pytest.raises(ActionParseError, match="does not match Tell"):
        tell_space.parse(answer)


@pytest.mark.parametrize("answer", ["{not json}", "tell 3 the rumour", '["a list", 3]'])
def test_structured_parse_rejects_answers_without_an_object(tell_space, answer):
    with pytest.raises(ActionParseError, match="no JSON object"):
        tell_space.parse(answer)


def test_structured_parse_takes_the_first_object_even_with_braces_after_it(tell_space):
    answer = '{"target": 3, "topic": "news"}\nI followed the schema {target, topic}.'
    assert tell_space.parse(answer) == Tell(target=3, topic="news")


def test_structured_validate_and_label(tell_space):
    action = tell_space.validate({"target": 2, "topic": "news"})
    assert action == Tell(target=2, topic="news")
    assert tell_space.validate(action) is action
    assert tell_space.validate('{"target": 2, "topic": "news"}') == action
    assert json.loads(tell_space.label(action)) == {"target": 2, "topic": "news"}


def test_structured_instructions_contain_the_schema(tell_space):
    text = tell_space.instructions()
    assert "JSON" in text
    schema = json.loads(text.split("JSON schema: ", 1)[1])
    assert set(schema["properties"]) == {"target", "topic"}
    assert schema["properties"]["topic"]["enum"] == ["news", "rumour"]


# --------------------------------------------------------------------------- answer modes


def test_direct_instructions_are_the_default_and_unchanged(move_space, tell_space):
    assert move_space.instructions() == move_space.instructions("direct")
    assert move_space.instructions() == 'Answer with exactly one word, one of: "stay", "move".'
    assert tell_space.instructions() == (
        f"Answer with a single JSON object that matches this JSON schema: {tell_space.schema_json}"
    )


def test_reasoning_instructions_ask_for_reasoning_then_the_final_answer_at_the_end(move_space, tell_space):
    choice = move_space.instructions("reasoning")
    assert choice.startswith("Think step by step in a few sentences")
    assert choice.endswith(
        'end with a final line "Answer: <option>", where <option> is exactly one of: "stay", "move".'
    )
    structured = tell_space.instructions("reasoning")
    assert structured.startswith("Think step by step in a few sentences")
    assert structured.endswith(
        f"then end with a single JSON object that matches this JSON schema: {tell_space.schema_json}"
    )


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("Staying is calm, but the crowd is large.\nAnswer: move", "move"),
        ("Answer: move, I first thought. Yet moving costs a lot.\nFinal answer: **Stay**", "stay"),
        ("I could stay or move.\nAnswer:\nmove", "move"),
        ("Moving costs a lot; staying is calm, not move.\nSo I stay.", "stay"),  # the last line, no marker
        ("Stay or move? Hmm.\n\n**move**\n", "move"),
        ("stay", "stay"),
    ],
)
def test_a_reasoning_is_read_from_its_end(move_space, text, action):
    assert move_space.parse(text, "reasoning") == action


def test_a_reasoning_that_names_both_options_is_read_otherwise_than_a_direct_answer(move_space):
    text = "I could stay near my friends, or move to find new ones.\nI will move."
    with pytest.raises(ActionParseError, match="several options"):
        move_space.parse(text)
    assert move_space.parse(text, "reasoning") == "move"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("I weigh stay against move.", "ends without a final answer"),
        ("Let me think about it.\nHmm.", "ends without a final answer"),
        ("Staying is fine.\nI would rather not move.", "ends without a final answer"),  # negated
        ("", "ends without a final answer"),
        ("Answer: stay or move", "names several options"),
    ],
)
def test_a_reasoning_without_one_final_answer_is_rejected_naming_the_fix(move_space, text, problem):
    with pytest.raises(ActionParseError, match=problem) as error:
        move_space.parse(text, "reasoning")
    assert "Answer: <option>" in str(error.value) or "Final answer: <option>" in str(error.value)


def test_a_structured_reasoning_takes_its_last_json_object(tell_space):
    text = (
        'For example {"target": 1, "topic": "news"}; {not json}. I choose:\n{"target": 2, "topic": "rumour"}'
    )
    assert tell_space.parse(text) == Tell(target=1, topic="news")
    assert tell_space.parse(text, "reasoning") == Tell(target=2, topic="rumour")
    with pytest.raises(ActionParseError, match="does not match Tell"):
        tell_space.parse('{"target": 1, "topic": "news"} then {"target": "x"}', "reasoning")
    with pytest.raises(ActionParseError, match="no JSON object"):
        tell_space.parse("I would tell someone.", "reasoning")


def test_answer_modes_are_checked_naming_both():
    assert ANSWER_MODES == ("direct", "reasoning")
    assert [check_answer_mode(mode) for mode in ANSWER_MODES] == ["direct", "reasoning"]
    for wrong in ("cot", "DIRECT", None, 0):
        with pytest.raises(ValueError, match=r"answer_mode must be 'direct' .* or 'reasoning' .*, got"):
            check_answer_mode(wrong)


def test_repr_names_options_and_fallback(move_space, tell_space):
    assert repr(move_space) == "ActionSpace(('stay', 'move'), fallback='stay')"
    assert "Tell" in repr(tell_space)


# ------------------------------------------------------- hostile and ambiguous answers
class Play(enum.StrEnum):
    COOPERATE = "cooperate"
    DEFECT = "defect"


class Note(BaseModel):
    target: int
    detail: Any = None


@pytest.fixture
def play_space() -> ActionSpace:
    return ActionSpace(Play, fallback=Play.COOPERATE)


@pytest.mark.parametrize(
    "answer",
    [
        "I will not stay",
        "Don't move.",
        "Don’t move.",  # a curly apostrophe
        "dont move",
        "I won't move",
        "I do not want to move",
        "I'd rather not move",
        "I refuse to move",
        "I cannot stay",
        "I can't stay here",
        "I shouldn't move",
        "I wouldn't stay.",
        "I never move",
        "I don't think I should stay",
        "I will not, under any circumstances, move",
        "Not sure, stay",
        "Stay? No.",
        "move - not really",
        "Instead of move, I pick nothing",
        "Final answer: I will not move",
    ],
)
def test_an_answer_negating_an_option_is_rejected(move_space, answer):
    with pytest.raises(ActionParseError, match="negates an option"):
        move_space.parse(answer)


@pytest.mark.parametrize("answer", ["I will not cooperate", "never defect", "I won’t defect."])
def test_negated_enum_options_are_rejected(play_space, answer):
    with pytest.raises(ActionParseError, match="negates an option"):
        play_space.parse(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "stay\nmove",
        "move\nstay",
        "stay or move",
        "I will stay, not move",
        "I won't move; I'll stay",
        '{"first": "stay", "then": "move"}',
        "Final answer: stay or move",
    ],
)
def test_an_answer_naming_several_options_is_rejected(move_space, answer):
    with pytest.raises(ActionParseError, match="names several options"):
        move_space.parse(answer)


def test_the_last_final_answer_marker_naming_an_option_wins(move_space):
    assert move_space.parse("stay\nFinal answer: move") == "move"
    assert move_space.parse("Final answer: stay\nAnswer: (see above)") == "stay"
    assert move_space.parse("Answer: move\n**FINAL ANSWER**: stay") == "stay"


@pytest.mark.parametrize(
    "answer",
    [
        "ѕtay",
        "Cyrillic ѕtay",
        "I will ѕtay.",
        "mоve",
        "ＭＯＶＥ",
        "ｓｔａｙ",
        "st\u200bay",
        "mo\u200dve",
        "s\u0301tay",
    ],
)
def test_confusable_answers_give_an_option_or_a_parse_error(move_space, answer):
    try:
        action = move_space.parse(answer)
    except ActionParseError:
        return
    assert action in move_space.options


@pytest.mark.parametrize("answer", ["ѕtay", "Cyrillic ѕtay", "mоve", "s\u0301tay"])
def test_letters_of_another_script_name_no_option(move_space, answer):
    with pytest.raises(ActionParseError, match="names none"):
        move_space.parse(answer)


def test_full_width_letters_read_as_their_plain_letters(move_space):
    assert move_space.parse("ＭＯＶＥ") == "move"
    assert move_space.parse("I will ｓｔａｙ.") == "stay"
    assert move_space.validate("ｍｏｖｅ") == "move"


def test_every_format_character_is_ignored(move_space):
    formats = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(formats) > 100
    for char in formats:
        assert move_space.parse(f"st{char}ay") == "stay", hex(ord(char))


def test_a_negation_hidden_by_a_zero_width_character_still_counts(move_space):
    with pytest.raises(ActionParseError, match="negates an option"):
        move_space.parse("Do\u200bn't move")


@pytest.mark.parametrize("answer", ["", "   ", "\n\t \n"])
def test_empty_answers_are_parse_errors(move_space, tell_space, answer):
    with pytest.raises(ActionParseError, match="names none"):
        move_space.parse(answer)
    with pytest.raises(ActionParseError, match="no JSON object"):
        tell_space.parse(answer)


@pytest.mark.parametrize("answer", ['{"a":' * 2000, "{" * 1_000_000, "[" * 100_000, '{"a": [' * 1000])
def test_deep_or_huge_answers_are_parse_errors(move_space, tell_space, answer):
    with pytest.raises(ActionParseError) as choice:
        move_space.parse(answer)
    with pytest.raises(ActionParseError) as structured:
        tell_space.parse(answer)
    with pytest.raises(ActionParseError):
        tell_space.validate(answer)
    with pytest.raises(ActionParseError):
        move_space.validate(answer)
    assert len(str(choice.value)) < 600  # the answer is quoted in part only
    assert len(str(structured.value)) < 600


def test_a_megabyte_of_option_words_is_read(move_space):
    assert move_space.parse("stay " * 200_000) == "stay"
    with pytest.raises(ActionParseError, match="several"):
        move_space.parse("stay move " * 100_000)


def test_json_nested_64_levels_is_read_and_65_is_not():
    space = ActionSpace(Note, fallback=Note(target=0))

    def answer(levels: int) -> str:  # the object itself is one level
        return '{"target": 1, "detail": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    assert space.parse(answer(64)).target == 1
    with pytest.raises(ActionParseError, match="no JSON object"):
        space.parse(answer(65))


def test_an_integer_too_long_to_convert_is_a_parse_error(tell_space):
    with pytest.raises(ActionParseError, match="no JSON object"):
        tell_space.parse('{"target": ' + "1" * 5000 + ', "topic": "news"}')


def test_braces_and_quotes_inside_json_strings_do_not_count(tell_space):
    answer = 'Here: {"target": 3, "topic": "news", "why": "a } and a \\" and a {"} done'
    assert tell_space.parse(answer) == Tell(target=3, topic="news")


def test_a_braced_span_that_is_not_json_is_skipped_whole(tell_space):
    assert tell_space.parse('I followed {target, topic}: {"target": 3, "topic": "news"}') == Tell(
        target=3, topic="news"
    )
    with pytest.raises(ActionParseError, match="no JSON object"):  # not searched inside
        tell_space.parse('{broken {"target": 3, "topic": "news"}}')


def test_an_unclosed_brace_ends_the_search(tell_space):
    with pytest.raises(ActionParseError, match="no JSON object"):
        tell_space.parse('{ oops {"target": 3, "topic": "news"}')


def test_labels_that_collide_after_normalisation_are_rejected():
    with pytest.raises(ValueError, match="distinct"):
        ActionSpace(Literal["Stay", "stay"], fallback="stay")
    with pytest.raises(ValueError, match="distinct"):
        ActionSpace(Literal["tit-for-tat", "tit for tat"], fallback="tit-for-tat")


def test_the_longest_label_wins_and_negation_words_in_labels_are_labels():
    verdicts = ActionSpace(Literal["guilty", "not guilty"], fallback="guilty")
    assert verdicts.parse("Not guilty.") == "not guilty"
    assert verdicts.parse("I find him not guilty") == "not guilty"
    assert verdicts.parse("guilty!") == "guilty"
    answers = ActionSpace(Literal["yes", "no"], fallback="no")
    assert answers.parse("No.") == "no"
    assert answers.parse("I say no") == "no"
    with pytest.raises(ActionParseError, match="negates"):
        answers.parse("not yes")


# Inputs that made the old parser quadratic (a decode from every "{") or deep (RecursionError).
ADVERSARIAL = {
    "braces": ("choice", "", "{"),
    "quotes": ("choice", "", '"{\\"'),
    "option words": ("choice", "", "I will not stay "),
    "json fragments": ("structured", '{"a": [', '{"b": {}}, "\\"}{", '),
    "quoted braces": ("structured", '{"a": "', '}{\\"'),
}


@pytest.mark.parametrize("mode", ANSWER_MODES)
@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_parsing_takes_linear_time(move_space, tell_space, case, mode):
    kind, head, unit = ADVERSARIAL[case]
    space = move_space if kind == "choice" else tell_space
    n = 100_000

    def best_of_3(length: int) -> float:
        text = head + unit * (length // len(unit))
        times = []
        for _ in range(3):
            gc.collect()
            started = time.perf_counter()
            with pytest.raises(ActionParseError):
                space.parse(text, mode)
            times.append(time.perf_counter() - started)
        return min(times)

    small, large = best_of_3(n), best_of_3(8 * n)
    assert large / small < 24, f"{case}: {small:.4f} s for {n}, {large:.4f} s for {8 * n} characters"
