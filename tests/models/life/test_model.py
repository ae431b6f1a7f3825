"""Behaviour of the Life scenario: Mesa's trajectory, rules and tables, mixing, gliders, reporters."""

import math

import numpy as np
import pytest
from mesa.examples import ConwaysGameOfLife

from mesa_llm import FunctionChatModel, LLMRuntime
from mesa_llm.lab import model_parameters
from mesa_llm_models.life import (
    FRAMINGS,
    OBSERVATIONS,
    SCENARIO,
    LifeModel,
    LLMCell,
    RuleCell,
    RuleTable,
    glider_at,
    translation,
)

CONWAY_TABLE = "B:0,0,0,1,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0"


def board(model):
    """Every cell's state, by coordinate: ours (``alive``) or Mesa's example's (``state``)."""
    return {a.cell.coordinate: bool(getattr(a, "alive", getattr(a, "state", None))) for a in model.agents}


def trajectory(model, steps):
    """The board after construction and after every step."""
    states = [board(model)]
    for _ in range(steps):
        model.step()
        states.append(board(model))
    return states


def always(answer):
    return FunctionChatModel(fn=lambda _messages: answer, model_name=f"always-{answer}")


@pytest.mark.parametrize(
    ("seed", "params"),
    [
        *((seed, {}) for seed in range(4)),
        *((seed, {"width": 17, "height": 11, "initial_fraction_alive": 0.35}) for seed in range(4, 10)),
        (10, {"width": 3, "height": 3, "initial_fraction_alive": 0.5}),
    ],
)
def test_rule_cells_give_mesa_s_conways_game_of_life_trajectory(seed, params):
    ours, theirs = LifeModel(rng=seed, **params), ConwaysGameOfLife(rng=seed, **params)
    assert [a.cell.coordinate for a in ours.agents] == [a.cell.coordinate for a in theirs.agents]
    for step in range(25):
        assert board(ours) == board(theirs), step
        ours.step()
        theirs.step()
    assert ours.random.random() == theirs.random.random()  # the same draws, no more
    alive = ours.datacollector.get_model_vars_dataframe()["alive"]
    assert len(set(alive)) > 1  # the board changed
    assert alive.iloc[-1] == sum(board(theirs).values()) / len(theirs.agents)


@pytest.mark.parametrize(("share", "seed"), [(0.5, 1), (1.0, 2), (0.3, 3)])
def test_rule_following_llm_cells_reproduce_the_all_rule_trajectory(share, seed):
    params = {"width": 20, "height": 20, "rng": seed}
    rule = LifeModel(**params)
    mixed = LifeModel(**params, llm_share=share, backend="rule")
    llm_cells = mixed.agents_by_type[LLMCell]
    assert len(llm_cells) == round(share * 400)
    assert trajectory(rule, 12) == trajectory(mixed, 12)
    columns = ["alive", "glider"]
    assert mixed.datacollector.get_model_vars_dataframe()[columns].equals(
        rule.datacollector.get_model_vars_dataframe()[columns]
    )
    frame = mixed.datacollector.get_model_vars_dataframe()
    assert frame["llm_decisions"].iloc[-1] == 12 * len(llm_cells)
    assert frame["llm_fallbacks"].iloc[-1] == frame["llm_parse_failures"].iloc[-1] == 0
    assert frame["llm_rule_agreement"].iloc[1:].eq(1.0).all()
    assert frame["llm_calls"].iloc[-1] <= 18 * 12  # one call per distinct prompt of a step, at most 18


def test_which_cells_ask_a_model_is_drawn_from_the_numpy_rng_and_leaves_the_start_alone():
    starts = [
        board(LifeModel(width=15, height=15, llm_share=share, backend="rule", rng=4)) for share in (0, 0.5, 1)
    ]
    assert starts[0] == starts[1] == starts[2]

    def llm_ids(seed):
        model = LifeModel(width=15, height=15, llm_share=0.3, backend="rule", rng=seed)
        return sorted(a.unique_id for a in model.agents_by_type[LLMCell])

    assert llm_ids(1) == llm_ids(1) != llm_ids(2)


def test_snapshot_equals_what_every_cell_observes_and_is_one_of_18_objects():
    model = LifeModel(width=12, height=9, initial_fraction_alive=0.4, llm_share=0.5, backend="rule", rng=5)
    interned = {id(o) for o in OBSERVATIONS}
    for _ in range(5):
        assert model.snapshot == {cell: cell.observe() for cell in model.agents}
        assert {id(o) for o in model.snapshot.values()} <= interned
        model.step()
    assert len(OBSERVATIONS) == 18 == len(set(OBSERVATIONS))


def test_a_table_of_zeros_and_ones_is_its_rule():
    rule = LifeModel(width=20, height=20, rng=6)
    table = LifeModel(width=20, height=20, rng=6, rule_table=CONWAY_TABLE)
    assert table.rule_table == RuleTable.parse(CONWAY_TABLE) == RuleTable.of(rule.rule)
    assert rule.rule_table is None
    assert trajectory(rule, 15) == trajectory(table, 15)
    assert rule.random.getstate() == table.random.getstate()  # the table draws from model.rng only


def test_a_stochastic_table_makes_cells_alive_with_its_probabilities_drawn_from_the_model_rng():
    half = "B:0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5/S:0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25,0.25"
    model = LifeModel(width=40, height=40, initial_fraction_alive=0.0, rule_table=half, rng=7)
    model.step()  # every cell was dead: each is born with 0.5
    born = model.datacollector.get_model_vars_dataframe()["alive"].iloc[-1]
    assert abs(born - 0.5) < 4 * math.sqrt(0.25 / 1600)
    alive_before = {c for c in model.agents if c.alive}
    model.step()
    survived = sum(c.alive for c in alive_before) / len(alive_before)
    assert abs(survived - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(alive_before))
    again = LifeModel(width=40, height=40, initial_fraction_alive=0.0, rule_table=half, rng=7)
    again.run_for(2)
    assert board(again) == board(model)  # the same seed, the same draws
    other = LifeModel(width=40, height=40, initial_fraction_alive=0.0, rule_table=half, rng=8)
    other.run_for(2)
    assert board(other) != board(model)


NOISY = "B:0,0,0.05,0.9,0,0,0.2,0,0/S:0,0.1,0.8,0.95,0.3,0,0,0,0"


@pytest.mark.parametrize("seed", [0, 1])
def test_llm_cells_asking_the_table_s_rule_backend_reproduce_the_stochastic_rule_run(seed):
    params = {"width": 15, "height": 15, "initial_fraction_alive": 0.4, "rule_table": NOISY, "rng": seed}
    rule = LifeModel(**params)
    llm = LifeModel(**params, llm_share=1.0, backend="rule")
    assert trajectory(rule, 10) == trajectory(llm, 10)
    records = llm.llm.log.to_dataframe()
    assert len(records) == 10 * 225
    table = RuleTable.parse(NOISY)
    for probabilities, (_, user) in zip(records["probabilities"], records["messages"], strict=True):
        facts = llm.llm_prompt.parse(user["content"])
        alive = facts["state"] == "alive"
        assert probabilities == table.probabilities(alive, int(facts["live_neighbours"]))
    # some draws went against the most probable answer: the cells drew, they did not argmax
    assert (records["action"] != records["rule_action"]).any()


def test_highlife_is_another_trajectory_from_the_same_start():
    conway = LifeModel(width=30, height=30, initial_fraction_alive=0.4, rng=1)
    highlife = LifeModel(width=30, height=30, initial_fraction_alive=0.4, rule="B36/S23", rng=1)
    first, second = trajectory(conway, 10), trajectory(highlife, 10)
    assert first[0] == second[0]
    assert first[-1] != second[-1]
    assert str(highlife.rule) == "B36/S23"


@pytest.mark.parametrize(("rule", "llm_share"), [("B3/S23", 0.0), ("B36/S23", 0.0), ("B3/S23", 1.0)])
def test_a_glider_survives_indefinitely_with_cells_that_follow_conway_or_highlife(rule, llm_share):
    model = LifeModel(width=9, height=7, start="glider", rule=rule, llm_share=llm_share, backend="rule")
    start = model.live_pattern()
    assert start == glider_at(0, model.glider_origin, (9, 7))
    model.run_for(4)
    assert translation(start, model.live_pattern(), (9, 7)) == (1, 1)
    model.run_for(60)  # round the torus and back, several times
    glider = model.datacollector.get_model_vars_dataframe()["glider"]
    assert glider.tolist() == [1.0] * 65
    assert SCENARIO.outcomes[1].summarise(model.datacollector.get_model_vars_dataframe()) == 1.0


def test_a_glider_dies_with_cells_that_answer_dead_and_with_a_rule_that_breaks_it():
    dead = LifeModel(width=8, height=8, start="glider", llm_share=1.0, backend=always("dead"))
    dead.run_for(3)
    frame = dead.datacollector.get_model_vars_dataframe()
    assert frame["glider"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert frame["alive"].tolist()[1:] == [0.0, 0.0, 0.0]
    assert frame["llm_rule_agreement"].iloc[1] < 1.0  # the rule would have kept some alive
    broken = LifeModel(width=8, height=8, start="glider", rule="B3/S2")
    broken.run_for(8)
    assert broken.datacollector.get_model_vars_dataframe()["glider"].iloc[1:].eq(0.0).all()


def test_a_glider_start_draws_nothing_and_a_random_start_has_no_glider():
    first, second = (LifeModel(width=10, height=10, start="glider", rng=seed) for seed in (1, 2))
    assert board(first) == board(second)
    assert sum(board(first).values()) == 5
    random_start = LifeModel(width=10, height=10, rng=1)
    assert np.isnan(random_start.datacollector.get_model_vars_dataframe()["glider"]).all()


def test_failed_answers_fall_back_to_dead_and_are_counted():
    def broken(_messages):
        raise ConnectionError("provider is down")

    runtime = LLMRuntime(FunctionChatModel(fn=broken, model_name="down"), backoff_s=0.001, retries=1)
    model = LifeModel(width=10, height=10, initial_fraction_alive=0.5, llm_share=0.5, runtime=runtime, rng=3)
    model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["alive_llm"].iloc[-1] == 0.0
    assert frame["alive_rule"].iloc[-1] > 0.0
    assert frame["llm_fallbacks"].iloc[-1] == frame["cells_llm"].iloc[-1] == 50
    assert {r.action for r in model.llm.log.records} == {"dead"}


def test_reporters_split_by_population():
    model = LifeModel(width=10, height=10, initial_fraction_alive=0.5, llm_share=0.25, backend="rule", rng=9)
    model.run_for(3)
    row = model.datacollector.get_model_vars_dataframe().iloc[-1]
    assert (row["cells_rule"], row["cells_llm"]) == (75, 25)
    live = sum(a.alive for a in model.agents)
    assert row["alive"] == live / 100
    assert row["alive_llm"] == sum(a.alive for a in model.agents_by_type[LLMCell]) / 25
    assert row["alive_rule"] == sum(a.alive for a in model.agents_by_type[RuleCell]) / 75
    agents = model.datacollector.get_agent_vars_dataframe()
    assert set(agents.columns) == {"alive", "population"}
    assert agents.xs(model.time, level="Step")["alive"].sum() == live
    rule_only = LifeModel(width=5, height=5, rng=0).datacollector.get_model_vars_dataframe()
    assert np.isnan(rule_only["alive_llm"].iloc[0])
    assert rule_only["cells_llm"].iloc[0] == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("width", "20"),
        ("height", 20.0),
        ("initial_fraction_alive", "0.2"),
        ("start", 1),
        ("rule", 23),
        ("rule_table", 0.5),
        ("rule_in_prompt", "false"),
        ("llm_share", None),
        ("framing", 1),
        ("backend", 42),
        ("runtime", "fast"),
        ("rng", "seed"),
    ],
)
def test_a_parameter_of_the_wrong_type_raises_a_type_error_naming_it(name, value):
    with pytest.raises(TypeError, match=name):
        LifeModel(**{name: value})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"width": 2}, "width and height must be at least 3"),
        ({"height": 0}, "width and height must be at least 3"),
        ({"width": 4, "start": "glider"}, "start='glider' needs width and height of at least 5"),
        ({"initial_fraction_alive": 1.5}, "initial_fraction_alive must be a fraction"),
        ({"llm_share": -0.1}, "llm_share must be a fraction"),
        ({"llm_share": float("nan")}, "llm_share must be a finite number"),
        ({"start": "soup"}, "start must be one of 'random', 'glider'"),
        ({"rule": "B3/S23/G4"}, "is not in B/S notation"),
        ({"rule_table": "B:1/S:1"}, "birth holds 1 probabilities, not 9"),
        ({"framing": "sci-fi"}, "Unknown framing 'sci-fi'; the framings are: neutral, conway, lights"),
        ({"answer_mode": "shout"}, "answer_mode"),
        ({"llm_share": 0.5, "backend": "no_such_provider:model"}, "Unknown backend 'no_such_provider:model'"),
        ({"rng": -1}, "rng"),
    ],
)
def test_a_parameter_of_a_wrong_value_raises_a_value_error_naming_it(params, message):
    with pytest.raises(ValueError, match=message):
        LifeModel(**params)


def error_of(call, params):
    """The type and message of the error ``call(**params)`` raises."""
    with pytest.raises((TypeError, ValueError)) as info:
        call(**params)
    return type(info.value), str(info.value)


@pytest.mark.parametrize(
    "params",
    [
        {"width": "20"},
        {"width": 2},
        {"start": "glider", "height": 4},
        {"rule": "B9/S"},
        {"rule_table": "B:0.5/S:0.5"},
        {"rule_in_prompt": "yes"},
        {"framing": "sci-fi"},
        {"answer_mode": "shout"},
        {"rng": "seed"},
    ],
)
def test_the_scenario_check_rejects_what_the_constructor_rejects_with_its_error(params):
    assert error_of(lambda **p: SCENARIO.check(p), params) == error_of(LifeModel, params)


def test_the_scenario_check_accepts_the_defaults_and_refuses_unknown_names():
    SCENARIO.check(model_parameters(SCENARIO, {}))
    SCENARIO.check({"rule": "B36/S23", "rule_table": CONWAY_TABLE, "start": "glider", "llm_share": 1.0})
    with pytest.raises(TypeError, match="colour"):
        SCENARIO.check({"colour": "green"})


def test_text_settings_of_the_lab_reach_the_model_typed():
    settings = {
        "rule": "B36/S23",
        "rule_table": CONWAY_TABLE,
        "rule_in_prompt": "yes",
        "start": "glider",
        "width": "6",
        "height": "7",
        "llm_share": "0.5",
    }
    params = model_parameters(SCENARIO, settings)
    assert (params["rule_in_prompt"], params["width"], params["llm_share"]) == (True, 6, 0.5)
    assert model_parameters(SCENARIO, {"rule_table": "None"})["rule_table"] is None
    model = LifeModel(**params, backend="rule", rng=0)
    assert (str(model.rule), str(model.rule_table), model.start) == ("B36/S23", CONWAY_TABLE, "glider")
    assert model.rule_statement.startswith("The rule: if you are dead and 3 or 6 of your 8 neighbours")


def test_the_scenario_declares_its_outcomes_and_rule_backend():
    assert [(o.metric, o.margin, o.last) for o in SCENARIO.outcomes] == [
        ("alive", 0.02, 10),
        ("glider", 0.1, 10),
    ]
    model = LifeModel(width=20, height=20, rng=2)
    model.run_for(12)
    frame = model.datacollector.get_model_vars_dataframe()
    alive, glider = (outcome.summarise(frame) for outcome in SCENARIO.outcomes)
    assert alive == frame["alive"].iloc[-10:].mean()
    assert math.isnan(glider)  # undefined without a glider start
    backend = SCENARIO.rule_backend(model_parameters(SCENARIO, {"rule": "B36/S23", "framing": "lights"}))
    assert backend.model_name == "life-rule-B36/S23"
    assert "framings" not in SCENARIO.parameters()  # a mapping of templates: set in Python only


def test_an_llm_cell_off_the_board_asks_the_prompts_of_the_model_s_cells():
    model = LifeModel(width=5, height=5, llm_share=0.5, framing="lights", rule_in_prompt=True, backend="rule")
    on_board = next(iter(model.agents_by_type[LLMCell]))
    off_board = model.llm_cell()
    assert off_board.cell is None
    assert (off_board.template, off_board.runtime) == (FRAMINGS["lights"], model.llm)
    for observation in OBSERVATIONS:
        assert off_board.messages(observation) == on_board.messages(observation)
    assert "The rule: if you are dead and exactly 3" in off_board.messages(OBSERVATIONS[3])[1][1]
    assert off_board not in model.cells
    model.step()  # the board steps without it
    assert model.llm.log.totals.decisions == len(model.agents_by_type[LLMCell]) - 1
