"""Life's rule-table probe: known models recovered, run back through rule cells; the local model probed."""

import json
import random
from dataclasses import dataclass, field

import pandas as pd
import pytest
from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel
from mesa_llm.backends.local import LocalChatModel
from mesa_llm.calibration import PROBE_COLUMNS, find_probe, knob_map, probe_scenario, round_trip
from mesa_llm_models.life import (
    CONWAY,
    FRAMINGS,
    OBSERVATIONS,
    SCENARIO,
    TABLE_PROBE,
    LifeModel,
    LifeRule,
    LifeRuleAnswer,
    RuleTable,
    fit_rule_table,
)
from mesa_llm_models.life.calibration import implied_rules, table_grid

NOISY = "B:0,0.1,0,0.9,0,0,0.3,0,0/S:0,0.2,0.8,0.95,0.1,0,0,0,0"
BOARD = {"width": 12, "height": 12, "initial_fraction_alive": 0.35}


def differing_cells(rule: LifeRule) -> int:
    return len(rule.birth ^ CONWAY.birth) + len(rule.survival ^ CONWAY.survival)


def test_the_table_probe_is_the_scenarios_and_asks_the_18_observations_of_one_cell():
    assert find_probe(SCENARIO) is TABLE_PROBE
    model = LifeModel(**TABLE_PROBE.parameters, rule="B36/S23", backend="rule", rng=0)
    grid = table_grid(model)
    assert [point.observation for point in grid] == list(OBSERVATIONS)
    assert len({id(point.agent) for point in grid}) == 1
    assert grid[0].agent not in model.cells  # off the board
    assert [(p.coordinates["alive"], p.coordinates["live_neighbours"]) for p in grid] == [
        (alive, n) for alive in (0, 1) for n in range(9)
    ]
    assert [p.coordinates["rule_alive"] for p in grid] == [
        int(model.rule.next_alive(*o)) for o in OBSERVATIONS
    ]


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize("rule", ["B3/S23", "B36/S23", "B2/S"])
def test_the_rule_of_a_rule_following_model_is_recovered_exactly(rule, framing):
    result = probe_scenario("life", backend="rule", parameters={"rule": rule, "framing": framing})
    fit = result.fit
    assert str(fit.rule) == rule
    assert fit.table == RuleTable.of(LifeRule.parse(rule))  # every probability 0 or 1, as the rule's
    assert fit.deterministic
    assert fit.follows_model_rule
    assert fit.conway == (rule == "B3/S23")
    assert fit.differs == differing_cells(LifeRule.parse(rule))
    assert fit.distance == pytest.approx(fit.differs / 18)
    assert result.run.calls == 18


def test_the_sentence_names_the_rule_and_its_distance_from_conways():
    conway = probe_scenario("life", backend="rule").describe()
    assert conway == "B3/S23 (Conway's rule; 0 of 18 cells differ, mean |ΔP| 0.00)"
    highlife = probe_scenario("life", backend="rule", parameters={"rule": "B36/S23"}).describe()
    assert highlife == "B36/S23 (the model's rule; 1 of 18 cells differ from Conway's B3/S23, mean |ΔP| 0.06)"


def test_a_conway_model_asked_under_another_rule_is_conway_not_the_models():
    """The prompt states HighLife; a model that follows Conway whatever it is told does not follow it."""
    backend = FunctionChatModel(fn=LifeRuleAnswer(CONWAY), model_name="stubborn-conway")
    fit = probe_scenario("life", backend=backend, parameters={"rule": "B36/S23", "rule_in_prompt": True}).fit
    assert fit.conway
    assert fit.model_rule == LifeRule.parse("B36/S23")
    assert fit.follows_model_rule is False


def test_a_stochastic_table_is_recovered_exactly_with_one_call_per_point():
    result = probe_scenario("life", backend="rule", parameters={"rule_table": NOISY})
    fit = result.fit
    assert result.run.calls == 18
    assert fit.source == "scored"
    assert fit.table == RuleTable.parse(NOISY)
    assert str(fit.rule) == "B3/S23"
    assert not fit.deterministic
    truth = RuleTable.parse(NOISY)
    conway = RuleTable.of(CONWAY)
    expected = sum(abs(truth.probability(*o) - conway.probability(*o)) for o in OBSERVATIONS) / 18
    assert fit.distance == pytest.approx(expected)
    assert fit.distance_ci == pytest.approx((expected, expected))


@dataclass
class SampledTable:
    """Answers "alive" with the table's probability for the cell the prompt states, from its own generator."""

    table: RuleTable
    seed: int
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, messages: list[BaseMessage]) -> str:
        observed = LifeRuleAnswer().observation(messages)
        return "alive" if self.rng.random() < self.table.probability(*observed) else "dead"


def test_the_intervals_of_a_sampling_model_cover_its_probabilities():
    truth = RuleTable.parse(NOISY)
    cells = distances = 0
    seeds = range(8)
    for seed in seeds:
        backend = FunctionChatModel(
            fn=SampledTable(truth, seed), model_name=f"sampled-{seed}", temperature=1.0
        )
        result = probe_scenario("life", backend=backend, samples=30)
        fit = result.fit
        assert result.run.calls == 18 * 30
        assert fit.source == "sampled"
        for alive, values in ((False, fit.birth_ci), (True, fit.survival_ci)):
            cells += sum(low <= truth.probability(alive, n) <= high for n, (low, high) in enumerate(values))
        true_distance = sum(abs(truth.probability(*o) - CONWAY.next_alive(*o)) for o in OBSERVATIONS) / 18
        distances += fit.distance_ci[0] <= true_distance <= fit.distance_ci[1]
    assert cells >= 0.9 * 18 * len(seeds)
    assert distances >= len(seeds) - 1


def undecided_at_birth(messages: list[BaseMessage]) -> str:
    """Conway's answer, except for a dead cell with 3 live neighbours: no usable answer at all."""
    observed = LifeRuleAnswer().observation(messages)
    return "perhaps" if observed == (False, 3) else LifeRuleAnswer()(messages)


def test_a_point_without_valid_answers_implies_no_rule_and_writes_json_without_nan(tmp_path):
    backend = FunctionChatModel(fn=undecided_at_birth, model_name="undecided-at-birth")
    result = probe_scenario("life", backend=backend)
    assert result.run.fallbacks == 1
    assert result.fit.table is None
    assert result.describe() == "no rule: no valid answer for a cell dead with 3 live neighbours"
    assert implied_rules(result.fit) == {}
    paths = result.write(tmp_path)
    fit = json.loads(paths["fit"].read_text())["fit"]
    assert fit["distance"] is None
    assert fit["birth"][3] is None
    assert fit["survival"][2] == 1.0
    json.dumps(result.summary(), allow_nan=False)


def test_a_result_writes_its_table_fit_and_figure(tmp_path):
    result = probe_scenario("life", backend="rule", parameters={"rule_table": NOISY, "framing": "lights"})
    paths = result.write(tmp_path)
    assert pd.read_csv(paths["table"]).shape == result.table.shape == (36, 3 + len(PROBE_COLUMNS))
    summary = json.loads(paths["fit"].read_text())
    assert summary["fit"]["rule_table"] == NOISY
    assert summary["fit"]["rule"] == "B3/S23"
    assert summary["fit"]["survival"][2] == 0.8
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fit_refuses_a_table_without_every_observation():
    table = probe_scenario("life", backend="rule").table
    with pytest.raises(ValueError, match="each of the 18 observations"):
        fit_rule_table(table[table["point"] != 3])
    with pytest.raises(ValueError, match="no live_neighbours"):
        fit_rule_table(table.drop(columns="live_neighbours"))
    with pytest.raises(ValueError, match="no action 'born'"):
        fit_rule_table(table, action="born")


def test_the_implied_rules_are_the_majority_rule_and_the_table():
    fit = probe_scenario("life", backend="rule", parameters={"rule_table": NOISY}).fit
    assert implied_rules(fit) == {
        "table": {"rule_table": NOISY},
        "rule": {"rule": "B3/S23", "rule_table": None},
    }


@pytest.mark.parametrize("rule", ["B3/S23", "B36/S23"])
def test_round_trips_of_rule_following_models_reproduce(rule):
    result = probe_scenario("life", backend="rule", parameters={**BOARD, "rule": rule})
    trip = round_trip(result, seeds=range(3), steps=12)
    assert trip.verdicts == {"table": "reproduces", "rule": "reproduces"}
    alive = trip.comparisons[trip.comparisons["outcome"] == "alive"]
    assert (alive["diff"] == 0).all()
    glider = trip.comparisons[trip.comparisons["outcome"] == "glider"]
    assert (glider["seeds"] == 0).all()  # a random start has no glider: it takes no part
    assert "glider undefined in every run" in trip.describe()


def test_a_glider_round_trip_compares_both_outcomes():
    result = probe_scenario("life", backend="rule", parameters={"start": "glider", "width": 8, "height": 8})
    trip = round_trip(result, seeds=range(3), steps=12)
    assert trip.verdicts == {"table": "reproduces", "rule": "reproduces"}
    assert (trip.comparisons["seeds"] == 3).all()
    assert (trip.comparisons.loc[trip.comparisons["outcome"] == "glider", "llm_mean"] == 1.0).all()


def test_stochastic_table_cells_reproduce_the_scoring_table_model_exactly():
    """Table cells draw as LLM cells draw from the table's scores; the majority rule does not."""
    result = probe_scenario("life", backend="rule", parameters={**BOARD, "rule_table": NOISY})
    trip = round_trip(result, seeds=range(4), steps=12)
    table = trip.comparisons[(trip.comparisons["population"] == "table") & (trip.comparisons["seeds"] > 0)]
    assert (table["diff"] == 0).all()
    assert trip.verdicts["table"] == "reproduces"
    assert trip.verdicts["rule"] != "reproduces"


def test_the_knob_map_of_the_rule_is_its_distance_from_conways():
    curve = knob_map("life", "rule", ["B3/S23", "B36/S23", "B2/S"], backend="rule", n_boot=200)
    assert curve.curve["estimate"].tolist() == pytest.approx([0, 1 / 18, 4 / 18])
    assert curve.inverse(0.05) == "B36/S23"


@pytest.fixture(scope="module")
def local_probes():
    return [probe_scenario("life", backend="local") for _ in range(2)]


def test_the_embedded_model_is_probed_for_real(local_probes):
    first, again = local_probes
    assert isinstance(first.chat_model, LocalChatModel)
    assert first.run.calls == 18  # scored: one call per point
    assert first.fit.source == "scored"
    totals = first.table.groupby("point")["p"].sum()
    assert len(totals) == 18
    assert totals.to_numpy() == pytest.approx(1.0)
    assert again.fit == first.fit  # deterministic scoring: the same fit
    assert first.fit.table is not None
