"""The framings of a Life cell's prompt, with and without the rule: the same facts, read back by the rule."""

import re
from pathlib import Path

import pytest

from mesa_llm import PromptTemplate
from mesa_llm_models.life import FRAMINGS, OBSERVATIONS, CellState, LifeModel, LLMCell

PLAIN = PromptTemplate(system="", user="Neighbours alive: {live_neighbours}. You: {state}. {rule}Next?")
"""A user's own framing: other words, another order of the facts, no persona, instructions appended."""

INSTRUCTIONS = 'Answer with exactly one word, one of: "alive", "dead".'
CONWAY_WORDS = (
    "The rule: if you are dead and exactly 3 of your 8 neighbours are alive, you become alive; if you are "
    "alive and 2 or 3 of your 8 neighbours are alive, you stay alive; otherwise you are dead next. "
)


def cell(framing="neutral", framings=None, **params):
    """An LLM cell of a small board with the framing's prompt."""
    model = LifeModel(
        width=5, height=5, llm_share=1.0, backend="rule", framing=framing, framings=framings, **params
    )
    return next(iter(model.agents_by_type[LLMCell]))


def test_the_neutral_prompt_states_the_cell_and_its_live_neighbours():
    assert cell().messages(CellState(alive=True, live_neighbours=1)) == (
        (
            "system",
            "You are a cell on a square grid of cells whose edges wrap around, so that every cell has 8 "
            "neighbours.",
        ),
        (
            "human",
            "Every cell is either alive or dead. At each step, all cells at once become alive or dead for "
            "the next step, depending on whether they are alive now and on how many of their 8 neighbours "
            f"are alive now. {INSTRUCTIONS}\n\nYou are alive now, and 1 of your 8 neighbours is alive. "
            "Are you alive or dead in the next step?",
        ),
    )
    (_, user) = cell(rule_in_prompt=True).messages(CellState(alive=False, live_neighbours=3))[1]
    assert (
        f"are alive now. {CONWAY_WORDS}{INSTRUCTIONS}\n\nYou are dead now, and 3 of your 8 neighbours are"
        in user
    )


@pytest.mark.parametrize("rule_in_prompt", [False, True])
def test_each_framing_words_the_same_facts_differently_with_the_same_answers(rule_in_prompt):
    assert set(FRAMINGS) == {"neutral", "conway", "lights"}
    for observation in OBSERVATIONS:
        prompts = {name: cell(name, rule_in_prompt=rule_in_prompt).messages(observation) for name in FRAMINGS}
        assert len({system for (_, system), _ in prompts.values()}) == 3
        assert len({user for _, (_, user) in prompts.values()}) == 3
        for name, (_, (_, user)) in prompts.items():
            assert INSTRUCTIONS in user, name
            facts = FRAMINGS[name].parse(user)
            assert (facts["state"], facts["live_neighbours"]) == (
                "alive" if observation.alive else "dead",
                str(observation.live_neighbours),
            ), name
            assert (CONWAY_WORDS in user) == rule_in_prompt, name
            assert user.endswith("?")  # the facts come last, after the instructions
            assert user.rindex(str(observation.live_neighbours)) > user.index(INSTRUCTIONS)


def test_the_rule_in_the_prompt_is_the_model_s_rule_and_changes_nothing_else():
    observation = CellState(alive=True, live_neighbours=6)
    plain = cell("lights").messages(observation)
    stated = cell("lights", rule="B36/S23", rule_in_prompt=True).messages(observation)
    words = "The rule: if you are dead and 3 or 6 of your 8 neighbours are alive, you become alive;"
    assert words in stated[1][1]
    assert stated[0] == plain[0]
    assert (
        stated[1][1].replace(
            stated[1][1][stated[1][1].index("The rule: ") : stated[1][1].index(INSTRUCTIONS)], ""
        )
        == plain[1][1]
    )


def reproduces_the_rule(seed, steps=8, **llm_params):
    """The LLM model of ``llm_params``, checked to follow the all-rule model of the seed exactly."""
    params = {"width": 12, "height": 12, "initial_fraction_alive": 0.35, "rng": seed}
    rule = LifeModel(**params, rule=llm_params.get("rule", "B3/S23"))
    llm = LifeModel(**params, backend="rule", **llm_params)
    for step in range(steps):
        rule.step()
        llm.step()
        assert {a.cell.coordinate: a.alive for a in llm.agents} == {
            a.cell.coordinate: a.alive for a in rule.agents
        }, step
    frame = llm.datacollector.get_model_vars_dataframe()
    assert frame["alive"].equals(rule.datacollector.get_model_vars_dataframe()["alive"])
    assert (
        frame["alive_llm"].iloc[1:].gt(0).any()
    )  # LLM cells were alive, by the answers read off the framing
    assert frame["llm_decisions"].iloc[-1] == steps * len(llm.agents_by_type[LLMCell]) > 0
    assert frame["llm_fallbacks"].iloc[-1] == frame["llm_parse_failures"].iloc[-1] == 0
    return llm


@pytest.mark.parametrize("rule_in_prompt", [False, True])
@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize(
    ("seed", "share", "rule"), [(0, 0.5, "B3/S23"), (1, 1.0, "B3/S23"), (2, 0.4, "B36/S23")]
)
def test_rule_following_llm_cells_reproduce_the_all_rule_run_in_every_framing(
    framing, rule_in_prompt, seed, share, rule
):
    llm = reproduces_the_rule(
        seed, llm_share=share, framing=framing, rule_in_prompt=rule_in_prompt, rule=rule
    )
    for system, user in llm.llm.log.to_dataframe()["messages"]:  # every prompt was the framing's
        assert system["content"] == FRAMINGS[framing].system
        FRAMINGS[framing].parse(user["content"])
        assert ("The rule: " in user["content"]) == rule_in_prompt


@pytest.mark.parametrize("name", ["plain", "conway"])  # a new name, and one replacing a built-in framing
@pytest.mark.parametrize("rule_in_prompt", [False, True])
def test_a_user_s_own_framing_is_used_and_the_rule_backend_reads_it(name, rule_in_prompt):
    llm = reproduces_the_rule(
        3, steps=6, llm_share=0.5, framing=name, framings={name: PLAIN}, rule_in_prompt=rule_in_prompt
    )
    one = next(iter(llm.agents_by_type[LLMCell]))
    rule = CONWAY_WORDS if rule_in_prompt else ""
    text = f"Neighbours alive: 2. You: dead. {rule}Next?\n\n{INSTRUCTIONS}"
    assert one.messages(CellState(False, 2)) == (("human", text),)


def test_a_framing_without_a_rule_field_is_refused_only_where_the_rule_is_to_be_stated():
    terse = {"terse": PromptTemplate("", "You: {state}, {live_neighbours} alive around you. Next?")}
    with pytest.raises(
        ValueError, match=r"The framing 'terse' has no \{rule\} field, where rule_in_prompt=True"
    ):
        LifeModel(width=5, height=5, framing="terse", framings=terse, rule_in_prompt=True)
    reproduces_the_rule(4, steps=3, llm_share=0.5, framing="terse", framings=terse)


def test_an_unknown_framing_is_refused_at_construction_with_the_names():
    with pytest.raises(
        ValueError, match=r"Unknown framing 'sci-fi'; the framings are: neutral, conway, lights\."
    ):
        LifeModel(framing="sci-fi")
    with pytest.raises(ValueError, match=r"the framings are: neutral, conway, lights, plain\."):
        LifeModel(framing="Plain", framings={"plain": PLAIN})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"framings": ["plain"]}, "framings must map a framing's name to a PromptTemplate"),
        ({"framings": {"plain": "Alive or dead?"}}, r"got 'plain': str"),
    ],
)
def test_a_framing_of_the_wrong_type_is_refused_at_construction(params, message):
    with pytest.raises(TypeError, match=message):
        LifeModel(**params)


README = Path(__file__).resolve().parents[3] / "models" / "life" / "README.md"


def test_the_readme_states_every_framing_word_for_word_and_its_example_runs():
    text = README.read_text(encoding="utf-8")
    for name, template in FRAMINGS.items():
        assert f"```text\n{template.system}\n---\n{template.user}\n```" in text, name
    assert CONWAY_WORDS.strip() in " ".join(text.split())  # the stated rule, as the README wraps it
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "framings=" in b]
    namespace = {}
    exec(compile(block, str(README), "exec"), namespace)
    model = namespace["model"]
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["llm_decisions"].iloc[-1] > 0
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert next(iter(model.agents_by_type[LLMCell])).template == namespace["dial"]
