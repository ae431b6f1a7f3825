"""The robustness verdict through real sweeps of deterministic chat models whose truth is known."""

from mesa_llm import FunctionChatModel
from mesa_llm.experiments import Sweep
from tests.experiments.sweeps import FramingThreshold, noisy_backend, threshold_backend

GRID = {"width": 10, "height": 10, "homophily": 0.4}


def verdicts(axes, seeds=range(8), steps=8, **fixed):
    result = Sweep("schelling", fixed=GRID | fixed, axes=axes, seeds=seeds, steps=steps).run()
    report = result.robustness()
    overall = report.overall.set_index("metric")
    factors = report.factors.set_index(["metric", "factor"])
    return overall, factors, report


def test_two_language_models_that_follow_the_same_threshold_are_structural():
    same = {"a": threshold_backend(0.4, "a"), "b": threshold_backend(0.4, "b")}
    overall, factors, _ = verdicts({"llm_share": [1.0], "backend": same})
    assert overall.at["segregation", "verdict"] == "structural"
    assert factors.at[("segregation", "backend"), "text"] == "stable across language models"


def test_language_models_that_follow_different_thresholds_are_model_dependent():
    different = {"low": threshold_backend(0.1, "low"), "high": threshold_backend(0.5, "high")}
    overall, factors, _ = verdicts({"llm_share": [1.0], "backend": different})
    assert overall.at["segregation", "verdict"] == "model-dependent"
    row = factors.loc[("segregation", "backend")]
    assert row["text"] == "depends on the language model"
    assert row["ci_low"] * row["ci_high"] > 0  # the largest difference's interval excludes 0


def test_a_threshold_set_by_the_framings_words_is_framing_dependent():
    backend = FunctionChatModel(fn=FramingThreshold(in_tokens=0.5, otherwise=0.1), model_name="framed")
    overall, factors, _ = verdicts(
        {"llm_share": [1.0], "framing": ["neutral", "colours", "social"], "backend": {"framed": backend}}
    )
    assert overall.at["segregation", "verdict"] == "framing-dependent"
    assert factors.at[("segregation", "framing"), "text"] == "depends on the framing"


def test_too_few_seeds_of_noisy_models_are_inconclusive_with_the_seeds_that_would_decide():
    noisy = {"a": noisy_backend(), "b": noisy_backend().model_copy(update={"model_name": "coin-b"})}
    overall, factors, _ = verdicts({"llm_share": [1.0], "backend": noisy}, seeds=range(2), steps=3)
    assert overall.at["segregation", "verdict"] == "inconclusive"
    row = factors.loc[("segregation", "backend")]
    assert row["verdict"] == "inconclusive"
    assert row["seeds_needed"] > 2
    assert "seeds" in row["text"]


def test_llm_residents_that_follow_the_rule_reproduce_the_rule_baseline():
    _, _, report = verdicts({"llm_share": [0.0, 1.0], "backend": {"rule": threshold_backend(0.4, "rule")}})
    baseline = report.baseline.set_index("metric")
    assert baseline.at["segregation", "verdict"] == "stable"
    _, _, other = verdicts({"llm_share": [0.0, 1.0], "backend": {"strict": threshold_backend(0.8, "strict")}})
    assert other.baseline.set_index("metric").at["segregation", "verdict"] == "depends"
