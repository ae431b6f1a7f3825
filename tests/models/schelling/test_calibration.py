"""Schelling's implied-rule parameters: a rule threshold beside the homophily, logistic residents."""

import pytest

from mesa_llm_models.schelling import SCENARIO, LLMResident, SchellingModel
from mesa_llm_models.schelling.agents import LogisticResident, RuleResident, move_probabilities
from mesa_llm_models.schelling.calibration import THRESHOLD_PROBE, implied_rules, threshold_grid


def positions(model):
    return sorted((agent.unique_id, agent.cell.coordinate) for agent in model.agents)


def stepped(model, steps=6):
    for _ in range(steps):
        model.step()
    return model


def test_rule_residents_follow_the_rule_threshold_and_happiness_the_homophily():
    by_threshold = stepped(SchellingModel(width=12, height=12, homophily=0.5, rule_threshold=0.3, rng=3))
    by_homophily = stepped(SchellingModel(width=12, height=12, homophily=0.3, rng=3))
    assert positions(by_threshold) == positions(by_homophily)  # the same moves
    happy = by_threshold.datacollector.get_model_vars_dataframe()["pct_happy"]
    assert (happy < by_homophily.datacollector.get_model_vars_dataframe()["pct_happy"]).any()
    assert all(type(agent) is RuleResident for agent in by_threshold.agents)


def test_logistic_residents_draw_their_moves_from_the_model_rng():
    model = SchellingModel(width=12, height=12, move_intercept=2.0, move_slope=-5.0, rng=1)
    assert all(type(agent) is LogisticResident for agent in model.agents)
    again = SchellingModel(width=12, height=12, move_intercept=2.0, move_slope=-5.0, rng=1)
    assert positions(stepped(model)) == positions(stepped(again))
    frame = model.datacollector.get_model_vars_dataframe()
    assert frame["moves"].iloc[1:].gt(0).all()  # some move whatever their neighbourhood


def test_move_probabilities_are_the_logistic_curve():
    assert move_probabilities(0.4, 2.0, -5.0) == pytest.approx({"stay": 0.5, "move": 0.5})
    assert move_probabilities(0.0, 1e6, 0.0)["move"] == 1.0  # no overflow


def test_llm_residents_asking_the_logistic_rule_model_equal_logistic_residents():
    settings = {"width": 12, "height": 12, "move_intercept": 1.5, "move_slope": -4.0, "rng": 5}
    rule = stepped(SchellingModel(**settings))
    llm = stepped(SchellingModel(**settings, llm_share=1.0, backend="rule"))
    assert all(isinstance(agent, LLMResident) for agent in llm.agents)
    assert positions(llm) == positions(rule)
    columns = ["pct_happy", "segregation", "moves"]
    assert llm.datacollector.get_model_vars_dataframe()[columns].equals(
        rule.datacollector.get_model_vars_dataframe()[columns]
    )


def test_tolerance_is_told_in_the_persona():
    model = SchellingModel(width=4, height=4, llm_share=1.0, tolerance="very high", backend="rule", rng=0)
    resident = next(iter(model.agents))
    assert resident.persona.endswith("Your tolerance of neighbours unlike you is very high.")
    assert (
        "tolerance" not in SchellingModel(width=4, height=4, llm_share=1.0, backend="rule").llm_prompt.system
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rule_threshold": 1.5}, "rule_threshold must be a fraction in"),
        ({"move_intercept": 1.0}, "move_intercept and move_slope set the logistic rule together"),
        ({"move_intercept": 1.0, "move_slope": float("nan")}, "move_slope"),
        ({"tolerance": "  "}, "tolerance must be a word or phrase"),
    ],
)
def test_bad_rule_settings_are_refused_naming_the_fix(settings, message):
    with pytest.raises((TypeError, ValueError), match=message):
        SchellingModel(**settings)


def test_the_new_parameters_can_be_set_on_the_command_line():
    parameters = SCENARIO.parameters()
    for name in ("rule_threshold", "move_intercept", "move_slope", "tolerance"):
        assert parameters[name].default is None
    assert SCENARIO.convert({"move-slope": "-5", "tolerance": "low"}) == {
        "move_slope": -5.0,
        "tolerance": "low",
    }


@pytest.mark.parametrize(("radius", "points"), [(1, 45), (2, 325)])
def test_the_grid_is_every_composition_of_a_full_neighbourhood(radius, points):
    model = SchellingModel(**THRESHOLD_PROBE.parameters, radius=radius, backend="rule", rng=0)
    grid = threshold_grid(model)
    assert len(grid) == points
    cells = (2 * radius + 1) ** 2 - 1
    assert {p.observation.same + p.observation.other + p.observation.empty for p in grid} == {cells}
    assert len({p.observation for p in grid}) == points
    assert len({id(p.agent) for p in grid}) == 1


def test_the_implied_rules_of_a_logistic_fit_are_both_populations():
    from mesa_llm.calibration import probe_scenario
    from tests.calibration.models import logistic_scorer

    fit = probe_scenario("schelling", backend=logistic_scorer(2.0, -5.0)).fit
    rules = implied_rules(fit)
    assert rules["threshold"]["rule_threshold"] == pytest.approx(0.4)
    assert rules["logistic"] == pytest.approx({"move_intercept": 2.0, "move_slope": -5.0})


@pytest.mark.parametrize(
    ("b0", "b1", "deterministic"),
    [
        (-1.4, 0.0, {"threshold": {"rule_threshold": 0.0}}),  # P(move) 0.2 everywhere: argmax stays
        (-1.0, -2.0, {"threshold": {"rule_threshold": 0.0}}),  # falls, never reaching 0.5
        (3.0, -1.0, {"mover": {"move_intercept": 50.0, "move_slope": 0.0}}),  # above 0.5 everywhere
    ],
)
def test_a_curve_that_never_crosses_one_half_implies_its_most_probable_answer_as_a_rule(
    b0, b1, deterministic
):
    from mesa_llm.calibration import probe_scenario
    from tests.calibration.models import logistic_scorer

    rules = implied_rules(probe_scenario("schelling", backend=logistic_scorer(b0, b1)).fit)
    assert set(rules) == {*deterministic, "logistic"}
    assert {name: rules[name] for name in deterministic} == deterministic
    assert rules["logistic"] == pytest.approx({"move_intercept": b0, "move_slope": b1}, abs=1e-6)
