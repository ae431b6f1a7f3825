"""The framings of an LLM player's prompt: the same game in other words, read back by the rule."""

import json
import re
from pathlib import Path

import pytest

from mesa_llm import FunctionChatModel, PromptTemplate
from mesa_llm_models.cooperation import EACH_MOVE, ONE_MOVE, CooperationModel, LLMPlayer
from mesa_llm_models.cooperation.rule_backend import TitForTatAnswer
from tests.models.cooperation.games import plays_tit_for_tat

SCENARIO_COLUMNS = ["cooperation", "cooperating", "mean_payoff"]
TODAY = json.loads((Path(__file__).parent / "neutral_prompts.json").read_text())
"""The prompts of neutral_prompt_cases as the code before framings rendered them, saved then."""

PLAIN = PromptTemplate(
    system="",
    user="Payoffs R={R} S={S} T={T} P={P}; score: {scoring}.\nRound {round}. {history}\n"
    "Others:\n{neighbours}\nMove?",
)
"""A user's own framing for both kinds of player: no persona, instructions appended."""


def state(model):
    return {p.cell.coordinate: (p.move, p.score) for p in model.agents}


def neutral_prompt_cases():
    """The prompts of TODAY by name: a player's before the first round and after 2, of both kinds."""
    for llm_moves in ("one", "each"):
        for settings in ({}, {"imitate_first": True, "scores": "round"}):
            model = CooperationModel(
                width=4, height=4, rng=3, llm_share=1.0, llm_moves=llm_moves, backend="rule", **settings
            )
            player = next(iter(model.agents))
            yield f"{llm_moves}-{sorted(settings)}-r0", player.messages(player.observe())
            model.run_for(2)
            yield f"{llm_moves}-{sorted(settings)}-r2", player.messages(player.observe())


def test_the_neutral_prompts_are_the_prompts_before_framings_byte_for_byte():
    cases = dict(neutral_prompt_cases())
    assert set(cases) == set(TODAY)
    for name, messages in cases.items():
        assert messages == tuple(map(tuple, TODAY[name])), name


def test_each_framing_words_the_same_facts_differently_with_the_same_answers():
    assert set(ONE_MOVE) == set(EACH_MOVE) == {"neutral", "matrix", "business", "neighbours"}
    for llm_moves, framings in (("one", ONE_MOVE), ("each", EACH_MOVE)):
        prompts = {}
        for name in framings:
            model = CooperationModel(
                width=4, height=4, rng=3, llm_share=1.0, llm_moves=llm_moves, backend="rule", framing=name
            )
            model.run_for(2)
            player = next(iter(model.agents))
            prompts[name] = player.messages(player.observe())
            facts = framings[name].parse(prompts[name][1][1])
            assert facts["round"] == "3", name
            assert "Last round you played" in facts["history"], name
            assert facts["neighbours"] == player.neighbour_lines(player.observe()), name
            assert player.instructions() in prompts[name][1][1], name
        assert len({system for (_, system), _ in prompts.values()}) == 4
        assert len({user for _, (_, user) in prompts.values()}) == 4
    matrix = ONE_MOVE["matrix"].render(
        {},
        **dict(zip("RSTP", (3, 0, 5, 1), strict=True)),
        **dict.fromkeys(("scoring", "round", "history", "neighbours"), ""),
    )
    assert (
        "| you cooperate | 3, 3 | 0, 5 |\n| you defect | 5, 0 | 1, 1 |" in matrix[1][1]
    )  # the payoff matrix


def reproduces_the_rule(seed, steps=6, **llm_params):
    """The LLM model of ``llm_params``, checked to follow the all-rule model of the seed exactly."""
    rule = CooperationModel(width=6, height=6, rng=seed)
    llm = CooperationModel(width=6, height=6, rng=seed, backend="rule", **llm_params)
    for _ in range(steps):
        rule.step()
        llm.step()
        assert state(llm) == state(rule)
    frame = llm.datacollector.get_model_vars_dataframe()
    assert frame[SCENARIO_COLUMNS].equals(rule.datacollector.get_model_vars_dataframe()[SCENARIO_COLUMNS])
    players = sum(p.population == "llm" for p in llm.agents)
    assert frame["llm_decisions"].iloc[-1] == (steps - 1) * players > 0  # the opening round asks nobody
    assert frame["llm_fallbacks"].iloc[-1] == frame["llm_parse_failures"].iloc[-1] == 0
    assert set(frame["cooperation"].iloc[1:]) - {0.0, 1.0}  # both moves were played: the rule mattered
    return llm


@pytest.mark.parametrize("framing", sorted(ONE_MOVE))
@pytest.mark.parametrize("llm_moves", ["one", "each"])
@pytest.mark.parametrize(("seed", "share"), [(0, 0.5), (1, 1.0), (2, 0.3)])
def test_rule_following_llm_players_reproduce_the_all_rule_run_in_every_framing(
    framing, llm_moves, seed, share
):
    llm = reproduces_the_rule(seed, llm_share=share, llm_moves=llm_moves, framing=framing)
    template = (EACH_MOVE if llm_moves == "each" else ONE_MOVE)[framing]
    for system, user in llm.llm.log.to_dataframe()["messages"]:  # every prompt was the framing's
        assert system["content"] == template.system
        template.parse(user["content"])


@pytest.mark.parametrize("name", ["plain", "business"])  # a new name, and one replacing a built-in framing
@pytest.mark.parametrize("llm_moves", ["one", "each"])
def test_a_user_s_own_framing_is_used_and_the_rule_backend_reads_it(name, llm_moves):
    llm = reproduces_the_rule(4, llm_share=0.5, llm_moves=llm_moves, framing=name, framings={name: PLAIN})
    player = next(p for p in llm.agents if isinstance(p, LLMPlayer))
    ((role, text),) = player.messages(player.observe())
    assert role == "human"
    assert text.startswith("Payoffs R=1.0 S=0.0 T=1.6 P=0.0; score: the sum of all your payoffs.\nRound 7. ")
    assert text.endswith(f"\nMove?\n\n{player.instructions()}")


@pytest.mark.parametrize("framing", [*sorted(EACH_MOVE), "plain"])
def test_tit_for_tat_partner_players_equal_tft_rule_players_in_every_framing(framing):
    tft = FunctionChatModel(fn=TitForTatAnswer.of(framing, {"plain": PLAIN}), model_name="tit-for-tat")
    params = {"width": 6, "height": 6, "strategies": ("ALLC", "ALLD"), "update": "keep", "rng": 8}
    mixed = CooperationModel(
        **params, llm_share=0.4, llm_moves="each", backend=tft, framing=framing, framings={"plain": PLAIN}
    )
    rule = CooperationModel(**params)
    llm_cells = plays_tit_for_tat(mixed, rule, 4)
    records = mixed.llm.log.to_dataframe()
    assert len(records) == 4 * len(llm_cells)
    assert not records["fallback"].any()


def test_an_unknown_framing_is_refused_at_construction_with_the_names():
    names = "neutral, matrix, business, neighbours"
    with pytest.raises(ValueError, match=rf"Unknown framing 'village'; the framings are: {names}\."):
        CooperationModel(framing="village")
    with pytest.raises(ValueError, match=rf"the framings are: {names}, plain\."):
        CooperationModel(framing="Plain", framings={"plain": PLAIN}, llm_moves="each")
    with pytest.raises(TypeError, match="framings must map a framing's name"):
        CooperationModel(framings=("plain", PLAIN))


def test_a_framing_without_the_facts_the_rule_reads_is_refused_by_name():
    vague = {"vague": PromptTemplate("", "Round {round}. Your neighbours:\n{neighbours}\nMove?")}
    with pytest.raises(ValueError, match=r"does not state \{history\}, which the rules read"):
        CooperationModel(width=4, height=4, backend="rule", framing="vague", framings=vague)
    with pytest.raises(ValueError, match=r"does not state \{history\}"):
        TitForTatAnswer.of("vague", vague)


README = Path(__file__).resolve().parents[3] / "models" / "cooperation" / "README.md"


def test_the_readme_states_every_framing_word_for_word_and_its_example_runs():
    text = README.read_text(encoding="utf-8")
    for name, template in ONE_MOVE.items():
        assert f"```text\n{template.system}\n---\n{template.user}\n```" in text, name
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "framings=" in b]
    namespace = {}
    exec(compile(block, str(README), "exec"), namespace)
    model = namespace["model"]
    rule = CooperationModel(width=10, height=10, rng=1)
    rule.run_for(5)
    assert state(model) == state(rule)  # the rule-following chat model read the user's framing
    assert model.datacollector.get_model_vars_dataframe()["llm_decisions"].iloc[-1] > 0
