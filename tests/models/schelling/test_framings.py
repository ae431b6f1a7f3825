"""The framings of a Schelling resident's prompt: the same facts in other words, read back by the rule."""

import re
from pathlib import Path

import pytest

from mesa_llm import PromptTemplate
from mesa_llm_models.schelling import FRAMINGS, LLMResident, Neighbourhood, SchellingModel

SCENARIO_COLUMNS = ["happy", "pct_happy", "segregation", "moves"]

PLAIN = PromptTemplate(
    system="", user="Around you: {other} different, {same} alike, {empty} free. Stay or move?"
)
"""A user's own framing: other words, another order of the facts, no persona, instructions appended."""

# The neutral prompts as the template before framings rendered them, byte for byte.
TODAY_SYSTEM = "You are a resident of a town, deciding whether to keep living in your home."
TODAY_START = (
    "Each day you decide whether to stay in your home or move to a randomly chosen empty home elsewhere in "
    'town. Answer with exactly one word, one of: "stay", "move".\n\n'
)
TODAY = {
    Neighbourhood(2, 2, 4): "Today, around your home there are 8 homes: 2 of them are occupied by people of "
    "your own group, 2 by people of the other group, and 4 are empty. Do you stay or move?",
    Neighbourhood(1, 0, 7): "Today, around your home there are 8 homes: 1 of them is occupied by people of "
    "your own group, 0 by people of the other group, and 7 are empty. Do you stay or move?",
    Neighbourhood(0, 1, 0): "Today, around your home there is 1 home: 0 of them are occupied by people of "
    "your own group, 1 by people of the other group, and 0 are empty. Do you stay or move?",
    Neighbourhood(1, 1, 1): "Today, around your home there are 3 homes: 1 of them is occupied by people of "
    "your own group, 1 by people of the other group, and 1 is empty. Do you stay or move?",
}


def resident(framing="neutral", framings=None):
    """An LLM resident of an empty town with the framing's prompt."""
    model = SchellingModel(width=5, height=5, density=0.0, backend="rule", framing=framing, framings=framings)
    return LLMResident(
        model, model.grid[(2, 2)], 0, prompt=LLMResident.framing(framing, framings), runtime=model.llm
    )


def positions(model):
    return {a.unique_id: a.cell.coordinate for a in model.agents}


def reproduces_the_rule(seed, steps=8, **llm_params):
    """The LLM model of ``llm_params``, checked to follow the all-rule model of the seed exactly."""
    rule = SchellingModel(width=12, height=12, rng=seed)
    llm = SchellingModel(width=12, height=12, rng=seed, backend="rule", **llm_params)
    for _ in range(steps):
        rule.step()
        llm.step()
        assert positions(llm) == positions(rule)
    frame = llm.datacollector.get_model_vars_dataframe()
    assert frame[SCENARIO_COLUMNS].equals(rule.datacollector.get_model_vars_dataframe()[SCENARIO_COLUMNS])
    assert frame["moves_llm"].sum() > 0  # the LLM residents moved, by the answers read off the framing
    assert frame["llm_decisions"].iloc[-1] == steps * len(llm.agents_by_type[LLMResident]) > 0
    assert frame["llm_fallbacks"].iloc[-1] == frame["llm_parse_failures"].iloc[-1] == 0
    return llm


@pytest.mark.parametrize("observation", list(TODAY))
def test_the_neutral_prompt_is_the_prompt_before_framings_byte_for_byte(observation):
    assert resident().messages(observation) == (
        ("system", TODAY_SYSTEM),
        ("human", TODAY_START + TODAY[observation]),
    )
    default = SchellingModel(width=5, height=5, llm_share=1.0, backend="rule", rng=1)
    assert default.framing == "neutral"
    assert next(iter(default.agents)).template == FRAMINGS["neutral"]


def test_each_framing_words_the_same_facts_differently_with_the_same_answers():
    observation = Neighbourhood(3, 2, 1)
    prompts = {name: resident(name).messages(observation) for name in FRAMINGS}
    assert set(FRAMINGS) == {"neutral", "colours", "social"}
    assert len({system for (_, system), _ in prompts.values()}) == 3
    assert len({user for _, (_, user) in prompts.values()}) == 3
    for name, (_, (_, user)) in prompts.items():
        assert 'Answer with exactly one word, one of: "stay", "move".' in user, name
        facts = FRAMINGS[name].parse(user)
        assert (facts["same"], facts["other"], facts["empty"]) == ("3", "2", "1"), name
        assert user.endswith("Do you stay or move?")  # the facts come last, after the instructions


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize(("seed", "share"), [(0, 0.5), (1, 1.0), (2, 0.3)])
def test_rule_following_llm_residents_reproduce_the_all_rule_run_in_every_framing(framing, seed, share):
    llm = reproduces_the_rule(seed, llm_share=share, framing=framing)
    for system, user in llm.llm.log.to_dataframe()["messages"]:  # every prompt was the framing's
        assert system["content"] == FRAMINGS[framing].system
        FRAMINGS[framing].parse(user["content"])


@pytest.mark.parametrize("name", ["plain", "social"])  # a new name, and one replacing a built-in framing
@pytest.mark.parametrize("seed", [3, 4])
def test_a_user_s_own_framing_is_used_and_the_rule_backend_reads_it(name, seed):
    llm = reproduces_the_rule(seed, steps=6, llm_share=0.5, framing=name, framings={name: PLAIN})
    one = next(iter(llm.agents_by_type[LLMResident]))
    instructions = 'Answer with exactly one word, one of: "stay", "move".'
    text = f"Around you: 1 different, 2 alike, 5 free. Stay or move?\n\n{instructions}"
    assert one.messages(Neighbourhood(2, 1, 5)) == (("human", text),)


def test_an_unknown_framing_is_refused_at_construction_with_the_names():
    with pytest.raises(
        ValueError, match=r"Unknown framing 'sci-fi'; the framings are: neutral, colours, social\."
    ):
        SchellingModel(framing="sci-fi")
    with pytest.raises(ValueError, match=r"the framings are: neutral, colours, social, plain\."):
        SchellingModel(framing="Plain", framings={"plain": PLAIN})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"framing": 1}, "framing must be the name of a framing"),
        ({"framings": ["plain"]}, "framings must map a framing's name to a PromptTemplate"),
        ({"framings": {"plain": "Stay or move?"}}, r"got 'plain': str"),
    ],
)
def test_a_framing_of_the_wrong_type_is_refused_at_construction(params, message):
    with pytest.raises(TypeError, match=message):
        SchellingModel(**params)


README = Path(__file__).resolve().parents[3] / "models" / "schelling" / "README.md"


def test_the_readme_states_every_framing_word_for_word_and_its_example_runs():
    text = README.read_text(encoding="utf-8")
    for name, template in FRAMINGS.items():
        assert f"```text\n{template.system}\n---\n{template.user}\n```" in text, name
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "framings=" in b]
    namespace = {}
    exec(compile(block, str(README), "exec"), namespace)
    model = namespace["model"]
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["llm_decisions"].iloc[-1] > 0
    assert frame["llm_fallbacks"].iloc[-1] == 0
    assert next(iter(model.agents_by_type[LLMResident])).template == namespace["marbles"]
