"""Schelling residents: what they observe, how each kind decides, what the prompt says."""

import pytest

from mesa_llm_models.schelling import (
    LLMResident,
    Neighbourhood,
    RuleResident,
    SchellingModel,
    rule_following_backend,
)


@pytest.fixture
def empty_model():
    return SchellingModel(width=5, height=5, density=0.0, backend=rule_following_backend(0.4), rng=0)


def test_observe_counts_same_other_and_empty_cells(empty_model):
    grid = empty_model.grid
    me = RuleResident(empty_model, grid[(2, 2)], group=0)
    RuleResident(empty_model, grid[(1, 1)], group=0)
    RuleResident(empty_model, grid[(1, 2)], group=1)
    RuleResident(empty_model, grid[(3, 3)], group=1)
    RuleResident(empty_model, grid[(0, 0)], group=0)  # outside radius 1
    assert me.observe() == Neighbourhood(same=1, other=2, empty=5)
    empty_model.radius = 2
    assert me.observe() == Neighbourhood(same=2, other=2, empty=20)


def test_corner_cell_has_three_neighbours_without_torus(empty_model):
    corner = RuleResident(empty_model, empty_model.grid[(0, 0)], group=1)
    assert corner.observe() == Neighbourhood(same=0, other=0, empty=3)


@pytest.mark.parametrize(
    ("observation", "action"),
    [
        (Neighbourhood(2, 3, 3), "stay"),  # 0.4 >= 0.4
        (Neighbourhood(1, 2, 5), "move"),  # 0.33 < 0.4
        (Neighbourhood(0, 0, 8), "move"),  # no neighbours: similarity 0, as in mesa's example
        (Neighbourhood(4, 0, 4), "stay"),
    ],
)
def test_rule_decision_uses_the_homophily_threshold(empty_model, observation, action):
    resident = RuleResident(empty_model, empty_model.grid[(2, 2)], group=0)
    assert resident.decide(observation) == action


def test_llm_prompt_states_the_neighbourhood_and_the_allowed_answers(empty_model):
    resident = LLMResident(empty_model, empty_model.grid[(2, 2)], group=0, runtime=empty_model.llm)
    (_, system), (_, user) = resident.messages(Neighbourhood(same=3, other=4, empty=1))
    assert "resident" in system
    assert "there are 8 homes" in user
    assert "3 of them are occupied by people of your own group, 4 by people of the other group" in user
    assert "and 1 is empty" in user
    assert 'Answer with exactly one word, one of: "stay", "move".' in user
    # the facts come last, so backends that cache prompt prefixes reuse the rest
    assert user.index("Answer with") < user.index("there are 8 homes")
    assert user.endswith("Do you stay or move?")


@pytest.mark.parametrize(
    ("observation", "facts"),
    [
        (
            Neighbourhood(1, 0, 0),
            "there is 1 home: 1 of them is occupied by people of your own group, 0 by "
            "people of the other group, and 0 are empty.",
        ),
        (
            Neighbourhood(0, 1, 1),
            "there are 2 homes: 0 of them are occupied by people of your own group, 1 by "
            "people of the other group, and 1 is empty.",
        ),
        (
            Neighbourhood(2, 3, 3),
            "there are 8 homes: 2 of them are occupied by people of your own group, 3 by "
            "people of the other group, and 3 are empty.",
        ),
    ],
)
def test_every_count_of_the_prompt_agrees_with_its_verb(empty_model, observation, facts):
    resident = LLMResident(empty_model, empty_model.grid[(2, 2)], group=0, runtime=empty_model.llm)
    (_, user) = resident.messages(observation)[-1]
    assert f"Today, around your home {facts} Do you stay or move?" in user


def test_persona_can_be_set_per_resident(empty_model):
    resident = LLMResident(
        empty_model, empty_model.grid[(2, 2)], group=0, runtime=empty_model.llm, persona="You love diversity."
    )
    assert resident.messages(Neighbourhood(1, 1, 6))[0] == ("system", "You love diversity.")


def test_act_moves_to_an_empty_cell_and_counts_the_move(empty_model):
    resident = RuleResident(empty_model, empty_model.grid[(2, 2)], group=0)
    neighbour = RuleResident(empty_model, empty_model.grid[(2, 3)], group=1)
    resident.act("stay")
    assert resident.cell.coordinate == (2, 2)
    resident.act("move")
    assert resident.cell.coordinate != (2, 2)
    assert resident.cell is not neighbour.cell
    assert empty_model.moves == {"rule": 1, "llm": 0}
