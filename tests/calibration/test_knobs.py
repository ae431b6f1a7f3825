"""Knob maps and calibration: a persona word that sets the threshold is recovered, and inverted."""

import math
import re

import pytest
from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel
from mesa_llm.calibration import calibrate, knob_map
from mesa_llm.experiments import Sweep
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer
from tests.calibration.models import constant

WORDS = ["very low", "low", "medium", "high", "very high"]
THRESHOLDS = dict(zip(WORDS, [0.7, 0.6, 0.5, 0.4, 0.3], strict=True))


def tolerant(messages: list[BaseMessage]) -> str:
    """Schelling's rule at a threshold its persona's tolerance word sets (the more tolerant, the lower)."""
    word = re.search(r"tolerance of neighbours unlike you is (.+)\.", str(messages[0].content))
    return SchellingRuleAnswer(THRESHOLDS[word.group(1)])(messages)


def test_a_tolerance_word_that_sets_the_threshold_is_a_monotone_map_and_its_inverse_picks_the_word():
    backend = FunctionChatModel(fn=tolerant, model_name="tolerant")
    mapped = knob_map("schelling", "tolerance", WORDS, backend=backend)
    estimates = mapped.curve["estimate"].tolist()
    for word, estimate in zip(WORDS, estimates, strict=True):
        assert abs(estimate - THRESHOLDS[word]) <= 0.05
    assert mapped.monotone
    assert mapped.spearman == pytest.approx(-1.0)
    assert mapped.spearman_ci[1] < 0
    assert mapped.span == pytest.approx(estimates[0] - estimates[-1])
    assert mapped.inverse(0.42) == "high"
    assert mapped.inverse(0.68) == "very low"
    assert "monotone: t* falls with tolerance" in mapped.describe()


def test_a_knob_the_model_ignores_is_not_monotone():
    mapped = knob_map("schelling", "framing", ["neutral", "colours", "social"], backend="rule")
    assert mapped.curve["estimate"].nunique() == 1  # the rule-following model: the same t* in every framing
    assert not mapped.monotone
    assert mapped.span == 0.0
    flat = knob_map("schelling", "tolerance", WORDS[:3], backend=constant("stay"))
    assert flat.curve["estimate"].isna().all()
    assert math.isnan(flat.spearman)
    assert flat.describe() == "tolerance -> t*: no value implies a t*"
    with pytest.raises(ValueError, match="nothing to invert"):
        flat.inverse(0.4)


def indifferent_at_medium(messages: list[BaseMessage]) -> str:
    """:func:`tolerant`, but a resident of medium tolerance always stays: no threshold there."""
    return "stay" if "unlike you is medium." in str(messages[0].content) else tolerant(messages)


def test_a_map_with_too_few_implied_values_says_so_and_inverts_the_others():
    backend = FunctionChatModel(fn=indifferent_at_medium, model_name="indifferent")
    mapped = knob_map("schelling", "tolerance", WORDS[1:4], backend=backend)
    assert mapped.curve["estimate"].isna().tolist() == [False, True, False]
    assert mapped.describe() == "tolerance -> t*: only 2 of 3 values imply a t*, too few for a trend"
    assert (mapped.inverse(0.65), mapped.inverse(0.35)) == ("low", "high")


def test_a_knob_map_needs_values():
    with pytest.raises(ValueError, match="at least two values"):
        knob_map("schelling", "tolerance", ["low"], backend="rule")


def test_calibrate_finds_the_homophily_of_an_observed_segregation():
    settings = {"width": 12, "height": 12}
    observed = Sweep(
        "schelling", fixed={**settings, "homophily": 0.45}, seeds=range(3), steps=20, backend="rule"
    )
    target = float(observed.run().summary["segregation"].mean())
    found = calibrate(
        "schelling", "homophily", "segregation", target, fixed=settings, seeds=range(3), steps=20
    )
    assert abs(found.achieved - target) < 0.01
    assert abs(found.value - 0.45) < 0.1
    assert len(found.evaluations) >= 9
    assert found.describe().startswith("homophily = ")


def test_calibrate_refuses_bad_bounds_and_metrics():
    with pytest.raises(ValueError, match="low < high"):
        calibrate("schelling", "homophily", "segregation", 0.5, bounds=(0.5, 0.2))
    with pytest.raises(ValueError, match="neither an outcome nor a reporter"):
        calibrate("schelling", "homophily", "nonsense", 0.5, seeds=range(1), steps=1, grid=3)
