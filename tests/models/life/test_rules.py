"""Life-like rules in B/S notation, and the rule tables of stochastic rule cells."""

import itertools
import math

import pytest

from mesa_llm_models.life import CONWAY, HIGHLIFE, LifeRule, RuleTable

CASES = list(itertools.product((False, True), range(9)))


def conway(alive, n):
    """Conway's rule as it is usually stated."""
    return n in (2, 3) if alive else n == 3


def test_conway_and_highlife_decide_every_case_as_stated():
    for alive, n in CASES:
        assert CONWAY.next_alive(alive, n) == conway(alive, n), (alive, n)
        assert HIGHLIFE.next_alive(alive, n) == (conway(alive, n) or (not alive and n == 6)), (alive, n)
    assert (str(CONWAY), str(HIGHLIFE)) == ("B3/S23", "B36/S23")


@pytest.mark.parametrize(
    ("text", "birth", "survival", "canonical"),
    [
        ("B3/S23", {3}, {2, 3}, "B3/S23"),
        ("b36/s23", {3, 6}, {2, 3}, "B36/S23"),
        (" B 3 / S 32 ", {3}, {2, 3}, "B3/S23"),
        ("B/S", set(), set(), "B/S"),
        ("B012345678/S012345678", set(range(9)), set(range(9)), "B012345678/S012345678"),
        ("B2/S", {2}, set(), "B2/S"),  # Seeds
    ],
)
def test_any_b_s_rule_is_read_and_written_back(text, birth, survival, canonical):
    rule = LifeRule.parse(text)
    assert (rule.birth, rule.survival) == (birth, survival)
    assert str(rule) == canonical
    assert LifeRule.parse(str(rule)) == rule


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("23/3", "is not in B/S notation"),
        ("B3S23", "is not in B/S notation"),
        ("B3/S2x", "is not in B/S notation"),
        ("life", "is not in B/S notation"),
        ("B39/S23", "names 9 live neighbours after B: a cell has 8"),
        ("B3/S233", "names a count twice after S"),
    ],
)
def test_a_bad_rule_names_the_problem_and_the_notation(text, problem):
    with pytest.raises(ValueError, match=problem) as info:
        LifeRule.parse(text)
    assert "a rule is written B<digits>/S<digits>" in str(info.value)
    assert repr(text) in str(info.value)


def test_a_rule_that_is_not_text_is_a_type_error():
    with pytest.raises(TypeError, match="rule must be text in B/S notation"):
        LifeRule.parse(23)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "B3/S23",
            "if you are dead and exactly 3 of your 8 neighbours are alive, you become alive; if you are "
            "alive and 2 or 3 of your 8 neighbours are alive, you stay alive; otherwise you are dead next.",
        ),
        (
            "B368/S1",
            "if you are dead and 3, 6 or 8 of your 8 neighbours are alive, you become alive; if you are "
            "alive and exactly 1 of your 8 neighbours is alive, you stay alive; otherwise you are dead next.",
        ),
        (
            "B/S012345678",
            "if you are alive, you stay alive whatever your neighbours; otherwise you are dead next.",
        ),
        ("B/S", "you are dead next, whatever your state and your neighbours."),
    ],
)
def test_a_rule_is_stated_in_words_from_its_counts(text, words):
    assert LifeRule.parse(text).describe() == words


def test_a_rule_s_table_is_its_zeros_and_ones_and_reads_back():
    table = RuleTable.of(HIGHLIFE)
    for alive, n in CASES:
        assert table.probability(alive, n) == float(HIGHLIFE.next_alive(alive, n))
    assert str(table) == "B:0,0,0,1,0,0,1,0,0/S:0,0,1,1,0,0,0,0,0"
    assert RuleTable.parse(str(table)) == table
    assert table.rule() == HIGHLIFE


def test_a_stochastic_table_reads_back_exactly_and_rounds_to_its_nearest_rule():
    table = RuleTable.parse("b: 0, 0.1, 0.2, 0.9, 0, 0, 0.51, 0, 0 / s: 0,0,0.75,1,0.5,0,0,0,1e-3")
    assert table.birth == (0.0, 0.1, 0.2, 0.9, 0.0, 0.0, 0.51, 0.0, 0.0)
    assert table.probability(True, 8) == 0.001
    assert RuleTable.parse(str(table)) == table
    assert str(table.rule()) == "B36/S23"  # above 0.5; exactly 0.5 is not
    third = RuleTable((1 / 3,) * 9, (2 / 3,) * 9)
    assert RuleTable.parse(str(third)) == third  # floats written so they read back bit for bit


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("B3/S23", "is not a rule table"),
        ("B:0,0,0,1,0,0,0,0/S:0,0,1,1,0,0,0,0,0", "birth holds 8 probabilities, not 9"),
        ("B:0,0,0,1,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0,0", "survival holds 10 probabilities, not 9"),
        ("B:0,0,0,1.5,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0", "probability for 3 live neighbours is 1.5, not in"),
        ("B:0,0,0,nan,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0", "probability for 3 live neighbours is nan"),
        ("B:0,0,0,x,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0", "a value that is not a number"),
        ("B:0,0,0,1,0,0,0,0,0/S:", "survival holds 0 probabilities"),
    ],
)
def test_a_bad_rule_table_names_the_problem_and_the_form(text, problem):
    with pytest.raises(ValueError, match=problem) as info:
        RuleTable.parse(text)
    assert "'B:p0,p1,...,p8/S:p0,p1,...,p8'" in str(info.value)


def test_a_table_of_the_wrong_types_is_a_type_error():
    with pytest.raises(TypeError, match="rule_table must be text"):
        RuleTable.parse(0.5)
    with pytest.raises(
        TypeError, match="rule table's birth probability for 0 live neighbours is True, not a number"
    ):
        RuleTable((True,) * 9, (0.0,) * 9)
    assert math.isclose(RuleTable((1,) * 9, (0,) * 9).birth[0], 1.0)  # whole numbers are probabilities
