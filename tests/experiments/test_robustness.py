"""The robustness verdict on synthetic sweeps whose truth is known."""

import math

import numpy as np
import pandas as pd
import pytest

from mesa_llm.experiments.robustness import robustness
from mesa_llm.lab import Outcome
from tests.experiments.synthetic import BACKENDS, OUTCOMES, by_backend, by_framing, same, summary

FACTORS = ["backend", "framing"]


def verdict(report, metric="segregation", factor="backend"):
    return report.factors.set_index(["metric", "factor"]).loc[(metric, factor)]


def overall(report, metric="segregation"):
    return report.overall.set_index("metric").loc[metric]


def test_the_same_distribution_for_two_backends_is_stable_and_structural():
    report = robustness(summary(same), OUTCOMES, FACTORS)
    for metric in ("segregation", "pct_happy"):
        assert verdict(report, metric, "backend")["verdict"] == "stable"
        assert verdict(report, metric, "backend")["text"] == "stable across language models"
        assert verdict(report, metric, "framing")["text"] == "stable across framings"
        assert overall(report, metric)["verdict"] == "structural"
    assert report.pairs["equivalent"].all()
    assert len(report.pairs) == 2 * 2 * 2  # metrics x factors x strata, one pair each


def test_shifted_means_depend_on_the_language_model_and_the_interval_covers_the_shift():
    one_framing = robustness(summary(by_backend, framings=("neutral",)), OUTCOMES, FACTORS)
    row = verdict(one_framing)  # one stratum: its only difference is not selected as the largest of several
    assert row["verdict"] == "depends"
    assert row["text"] == "depends on the language model"
    assert row["p"] < 0.05
    assert row["largest_pair"] == f"{BACKENDS[0]} − {BACKENDS[1]}"
    assert row["ci_low"] <= -0.2 <= row["ci_high"]
    assert row["ci_high"] - row["ci_low"] < 0.05
    assert math.isnan(row["seeds_needed"])
    report = robustness(summary(by_backend), OUTCOMES, FACTORS)
    assert verdict(report)["verdict"] == "depends"
    assert verdict(report)["largest_pair"].startswith(f"{BACKENDS[0]} − {BACKENDS[1]} (framing=")
    pairs = report.pairs.query("metric == 'segregation' and factor == 'backend'")
    assert ((pairs["ci_low"] <= -0.2) & (pairs["ci_high"] >= -0.2)).any()
    assert verdict(report, factor="framing")["verdict"] == "stable"
    assert overall(report)["verdict"] == "model-dependent"
    assert overall(report, "pct_happy")["verdict"] == "structural"
    shares = report.variance[report.variance["metric"] == "segregation"].set_index("source")["share"]
    assert shares["backend"] > 0.9
    assert shares.sum() == pytest.approx(1.0)  # balanced: the shares add up


def test_a_shift_with_the_framing_only_is_framing_dependent():
    report = robustness(summary(by_framing), OUTCOMES, FACTORS)
    assert verdict(report, factor="framing")["text"] == "depends on the framing"
    assert verdict(report, factor="backend")["verdict"] == "stable"
    assert overall(report)["verdict"] == "framing-dependent"


def test_a_shift_with_both_is_model_and_framing_dependent():
    report = robustness(summary(lambda b, f: by_backend(b, f) + by_framing(b, f)), OUTCOMES, FACTORS)
    assert overall(report)["verdict"] == "model- and framing-dependent"


def test_two_noisy_seeds_are_inconclusive_with_a_seed_estimate():
    report = robustness(summary(same, sd=0.05, seeds=2), OUTCOMES, FACTORS)
    for factor in FACTORS:
        row = verdict(report, factor=factor)
        assert row["verdict"] == "inconclusive"
        assert 2 < row["seeds_needed"] < math.inf
        assert f"about {int(row['seeds_needed'])} seeds per level would decide it" in row["text"]
    assert overall(report)["verdict"] == "inconclusive"


def test_more_seeds_than_the_estimate_decide_it():
    few = robustness(summary(same, sd=0.05, seeds=3, seed=1), OUTCOMES, FACTORS)
    needed = int(few.factors["seeds_needed"].max())
    many = robustness(summary(same, sd=0.05, seeds=2 * needed, seed=2), OUTCOMES, FACTORS)
    assert set(many.factors["verdict"]) == {"stable"}


def test_the_rule_baseline_is_reproduced_where_equal_and_not_where_shifted():
    report = robustness(summary(same, rule=0.6), OUTCOMES, [*FACTORS, "llm_share"])
    assert verdict(report, factor="llm_share")["verdict"] == "not varied"  # only rule runs have 0
    assert report.matched == ("backend", "framing")
    baseline = report.baseline.set_index("metric")
    assert (baseline["verdict"] == "stable").all()
    assert set(baseline.loc["segregation", "text"]) == {"reproduces the rule baseline"}
    assert (baseline["n_rule"] == 10).all()  # matched on backend and framing, not pooled
    assert "4 of 4" in overall(report)["baseline"]
    shifted = robustness(summary(same, rule=0.7), OUTCOMES, [*FACTORS, "llm_share"])
    rows = shifted.baseline[shifted.baseline["metric"] == "segregation"]
    assert set(rows["text"]) == {"differs from the rule baseline"}
    assert ((rows["ci_low"] <= -0.1) & (rows["ci_high"] >= -0.1)).mean() >= 0.75
    assert "0 of 4" in overall(shifted)["baseline"]


def test_rule_runs_are_pooled_over_factors_that_do_not_vary_among_them():
    frame = summary(same, rule=0.6)
    frame.loc[frame["llm_agents"] == 0, ["backend", "framing"]] = "rule"
    report = robustness(frame, OUTCOMES, FACTORS)
    assert report.matched == ()
    assert (report.baseline["n_rule"] == 40).all()
    assert verdict(report)["verdict"] == "stable"  # the rule runs' own levels are not a backend


def test_a_factor_varied_only_among_rule_runs_is_not_varied():
    frame = summary(same, rule=0.6, backends=BACKENDS)
    frame = frame[(frame["llm_agents"] == 0) | (frame["backend"] == BACKENDS[0])]
    report = robustness(frame, OUTCOMES, FACTORS)
    assert verdict(report)["text"] == "backend not varied among LLM runs"
    assert overall(report)["verdict"] == "structural"
    assert "backend not varied" in overall(report)["text"]
    assert (report.baseline["n_rule"] == 10).all()  # matched to the rule runs of that backend


def test_failed_runs_are_left_out_and_counted():
    frame = summary(same)
    frame.loc[[0, 1], "status"] = "failed"
    frame.loc[[0, 1], "error"] = "ValueError: the model could not be built"
    frame.loc[[0, 1], "segregation"] = 100.0  # a value a failed run should never contribute
    report = robustness(frame, OUTCOMES, FACTORS)
    assert list(report.failed["run"]) == ["0000", "0001"]
    assert len(report.runs) == len(frame) - 2
    assert verdict(report)["verdict"] == "stable"
    assert report.pairs["n_a"].min() == 8


def test_the_same_rng_gives_the_same_report():
    frame = summary(by_backend)
    first, second = (robustness(frame, OUTCOMES, FACTORS, rng=7) for _ in range(2))
    pd.testing.assert_frame_equal(first.pairs, second.pairs)
    pd.testing.assert_frame_equal(first.factors, second.factors)
    assert first.markdown() == second.markdown()
    other = robustness(frame, OUTCOMES, FACTORS, rng=8)
    assert not np.allclose(other.pairs["ci_low"], first.pairs["ci_low"])
    generator = robustness(frame, OUTCOMES, FACTORS, rng=np.random.default_rng(7))
    pd.testing.assert_frame_equal(generator.pairs, first.pairs)


def test_identical_constant_groups_are_equivalent_with_an_exact_difference():
    frame = summary(same)
    frame["segregation"] = 0.5
    report = robustness(frame, OUTCOMES, FACTORS)
    row = verdict(report)
    assert row["verdict"] == "stable"
    assert (row["largest_diff"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
    assert "zero variance" in row["note"]
    assert verdict(report, factor="framing")["statistic"] == 0.0
    shares = report.variance[report.variance["metric"] == "segregation"]
    assert shares["share"].isna().all()
    assert set(shares["design"]) == {"no variance"}


def test_constant_groups_further_apart_than_the_margin_are_not_equivalent():
    frame = summary(same, seeds=2)
    frame["segregation"] = np.where(frame["backend"] == BACKENDS[0], 0.5, 0.7)
    row = verdict(robustness(frame, OUTCOMES, FACTORS))
    assert row["verdict"] == "inconclusive"  # two seeds cannot make a rank test significant
    assert row["largest_diff"] == pytest.approx(-0.2)
    assert row["seeds_needed"] > 2


def test_a_level_with_one_run_cannot_be_tested():
    frame = summary(same)
    lonely = frame.index[frame["backend"] == BACKENDS[0]][1:]
    report = robustness(frame.drop(lonely), OUTCOMES, ["backend"])
    row = verdict(report)
    assert row["verdict"] == "inconclusive"
    assert "fewer than 2 runs" in row["note"]
    assert report.pairs["p_tost"].isna().all()


def test_a_metric_no_run_gives_a_value_is_undefined_not_inconclusive():
    """A glider's survival from a random start, say: no seeds would decide it."""
    frame = summary(same)
    frame["segregation"] = np.nan
    report = robustness(frame, OUTCOMES, FACTORS)
    assert overall(report)["verdict"] == "undefined"
    assert overall(report)["text"] == "no run gives it a value"
    assert "segregation" not in set(report.factors["metric"])
    assert verdict(report, "pct_happy")["verdict"] == "stable"
    assert report.variance[report.variance["metric"] == "segregation"].empty
    assert "| segregation | **undefined** | no run gives it a value |" in report.markdown()


def test_a_detectable_difference_within_the_margin_is_stable():
    frame = summary(lambda b, f: 0.6 if b == BACKENDS[0] else 0.61, sd=0.001)
    report = robustness(frame, OUTCOMES, ["backend"])
    assert report.strata.query("metric == 'segregation'")["p_holm"].max() < 0.05
    assert verdict(report)["verdict"] == "stable"


def test_margins_replace_the_outcomes_own():
    frame = summary(by_backend)
    assert verdict(robustness(frame, OUTCOMES, FACTORS, margins={"segregation": 0.5}))["verdict"] == "stable"


def test_a_factor_with_three_levels_compares_every_pair():
    frame = summary(same, backends=("a", "b", "c"))
    report = robustness(frame, OUTCOMES, FACTORS)
    pairs = report.pairs.query("metric == 'segregation' and factor == 'backend'")
    assert (
        sorted(zip(pairs["level_a"], pairs["level_b"], strict=True))
        == [("a", "b")] * 2 + [("a", "c")] * 2 + [("b", "c")] * 2
    )
    assert verdict(report)["levels"] == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"factors": ["backend", "temperature"]}, "no column \\['temperature'\\]"),
        ({"factors": ["seed"]}, "distinct swept axes, not \\['seed'\\]"),
        ({"factors": ["backend", "backend"]}, "distinct swept axes"),
        ({"outcomes": [Outcome("moves", 1.0)]}, "no column \\['moves'\\]"),
        ({"margins": {"moves": 0.1}}, "not outcome metrics"),
        ({"margins": {"segregation": -1}}, "greater than 0"),
        ({"alpha": 1.5}, "alpha must be less than 1"),
        ({"n_boot": 10}, "n_boot must be at least 100"),
        ({"steps": pd.DataFrame({"run": []})}, "steps frame has no column"),
    ],
)
def test_bad_input_fails_naming_the_problem(change, message):
    arguments = {"outcomes": OUTCOMES, "factors": FACTORS} | change
    with pytest.raises(ValueError, match=message):
        robustness(summary(same, seeds=2), **arguments)


def test_factors_as_one_string_or_a_bare_metric_name_fail_with_the_fix():
    with pytest.raises(TypeError, match="pass \\['backend'\\]"):
        robustness(summary(same, seeds=2), OUTCOMES, "backend")
    with pytest.raises(TypeError, match="a mesa_llm\\.lab\\.Outcome"):
        robustness(summary(same, seeds=2), ["segregation"], FACTORS)


def test_without_backend_or_framing_varied_the_overall_verdict_is_not_tested():
    report = robustness(summary(same, rule=0.6), OUTCOMES, [])
    assert report.factors.empty
    assert set(report.overall["verdict"]) == {"not tested"}
    assert (report.baseline["n_rule"] == 40).all()
    assert set(report.baseline["verdict"]) == {"stable"}


def test_an_llm_condition_without_matching_rule_runs_says_so():
    frame = summary(same, rule=0.6, backends=(*BACKENDS, "local:other"))
    frame = frame[(frame["llm_agents"] > 0) | (frame["backend"] != "local:other")]
    report = robustness(frame, OUTCOMES, FACTORS)
    rows = report.baseline[report.baseline["backend"] == "local:other"]
    assert len(rows) == 4  # two metrics x two framings
    assert (rows["n_rule"] == 0).all()
    assert set(rows["verdict"]) == {"inconclusive"}
    assert set(rows["note"]) == {"no rule runs with the same backend, framing"}
    assert "4 of 6" in overall(report)["baseline"]


# --------------------------------------------------------------------------- paired by seed
def shifted(shift):
    """The first backend ``shift`` above the second."""
    return lambda backend, framing: 0.6 + (shift if backend == BACKENDS[0] else 0.0)


def test_pairing_by_seed_removes_the_worlds_variation_and_decides_equivalence():
    """Each seed's world moves every condition by N(0, 0.1); the conditions differ by nothing."""
    frame = summary(same, sd=0.002, world=0.1)
    unpaired = robustness(frame, OUTCOMES, FACTORS, margins={"segregation": 0.01})
    paired = robustness(frame, OUTCOMES, FACTORS, margins={"segregation": 0.01}, paired=True)
    assert verdict(unpaired)["verdict"] == "inconclusive"
    assert verdict(unpaired)["seeds_needed"] > 100
    assert verdict(paired)["verdict"] == "stable"
    assert overall(paired)["verdict"] == "structural"
    assert paired.paired
    assert not unpaired.paired


def test_pairing_by_seed_detects_a_shift_the_worlds_hide_and_covers_it():
    frame = summary(shifted(0.02), sd=0.002, world=0.1)
    unpaired = robustness(frame, OUTCOMES, FACTORS, margins={"segregation": 0.01})
    paired = robustness(frame, OUTCOMES, FACTORS, margins={"segregation": 0.01}, paired=True)
    assert verdict(unpaired)["verdict"] == "inconclusive"
    found = verdict(paired)
    assert found["verdict"] == "depends"
    assert found["ci_low"] <= 0.02 <= found["ci_high"]
    assert found["ci_high"] - found["ci_low"] < 0.01  # the worlds' 0.1 is gone from the interval
    assert verdict(paired, factor="framing")["verdict"] == "stable"
    strata = paired.strata[
        (paired.strata["metric"] == "segregation") & (paired.strata["factor"] == "backend")
    ]
    assert (strata["p"] < 0.01).all()  # Wilcoxon's signed-rank test: every seed shifted alike


def test_without_a_world_pairing_keeps_the_verdicts():
    for mean, expected in ((same, "stable"), (by_backend, "depends")):
        frame = summary(mean)
        for paired in (False, True):
            assert verdict(robustness(frame, OUTCOMES, FACTORS, paired=paired))["verdict"] == expected


def test_paired_seeds_needed_follow_the_sd_of_the_differences():
    """Two seeds too few: the estimate is the paired t's, far below the unpaired one under a big world."""
    frame = summary(shifted(0.004), sd=0.002, world=0.1, seeds=3)
    margins = {"segregation": 0.01}
    paired = verdict(robustness(frame, OUTCOMES, FACTORS, margins=margins, paired=True))
    unpaired = verdict(robustness(frame, OUTCOMES, FACTORS, margins=margins))
    assert paired["verdict"] == unpaired["verdict"] == "inconclusive"
    assert 3 < paired["seeds_needed"] < 30 < unpaired["seeds_needed"]


def test_a_seed_without_a_run_at_every_level_is_left_out_of_its_stratum():
    frame = summary(same, seed=3)
    frame.loc[0, "status"] = "failed"  # backend 1, framing neutral, seed 0
    report = robustness(frame, OUTCOMES, FACTORS, paired=True)
    pairs = report.pairs.set_index(["metric", "factor", "stratum"])
    assert pairs.loc[("segregation", "backend", "framing=neutral"), "n_a"] == 9
    assert pairs.loc[("segregation", "backend", "framing=social"), "n_a"] == 10


def test_pairing_needs_every_axis_as_a_factor():
    with pytest.raises(ValueError, match="one run per seed and level of backend"):
        robustness(summary(same), OUTCOMES, ["backend"], paired=True)
    with pytest.raises(TypeError, match="paired must be True or False"):
        robustness(summary(same), OUTCOMES, FACTORS, paired="yes")


def test_the_rule_baseline_is_paired_by_seed_too():
    frame = summary(same, sd=0.002, world=0.1, rule=0.6)
    margins = {"segregation": 0.01}
    paired = robustness(frame, OUTCOMES, FACTORS, margins=margins, paired=True).baseline
    unpaired = robustness(frame, OUTCOMES, FACTORS, margins=margins).baseline
    segregation = paired[paired["metric"] == "segregation"]
    assert segregation["text"].eq("reproduces the rule baseline").all()
    assert not unpaired[unpaired["metric"] == "segregation"]["text"].eq("reproduces the rule baseline").any()
