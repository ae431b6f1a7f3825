"""Probing a scenario: the thresholds of known chat models are recovered, and the results are written."""

import dataclasses
import json

import pandas as pd
import pytest

from mesa_llm import FunctionChatModel, InMemoryCache
from mesa_llm.calibration import PROBE_FILES, ProbeError, find_probe, probe_scenario
from mesa_llm.calibration.scenarios import with_temperature
from mesa_llm_models.schelling import FRAMINGS, SCENARIO
from tests.calibration.models import constant, logistic_scorer, sampled_logistic


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
@pytest.mark.parametrize("threshold", [0.3, 0.6])
def test_the_threshold_of_the_rule_following_model_is_recovered(threshold, framing):
    result = probe_scenario(
        "schelling", backend="rule", parameters={"homophily": threshold, "framing": framing}
    )
    assert result.fit.verdict == "threshold"
    assert abs(result.fit.threshold - threshold) <= 0.05
    assert result.run.calls == 45  # every composition of 8 cells, each asked once


def test_the_probe_asks_the_residents_prompt_of_the_models_settings():
    """The probe's agent is one the model builds: its framing and tolerance are in every probed prompt."""
    result = probe_scenario(
        "schelling", backend="rule", parameters={"framing": "colours", "tolerance": "very low"}
    )
    system, user = result.run.records[0].messages
    assert "Your tolerance of neighbours unlike you is very low." in system[1]
    assert "token" in user[1]
    assert result.parameters["tolerance"] == "very low"
    assert result.settings == {"framing": "colours", "tolerance": "very low"}


def test_the_interval_of_a_noisy_scoring_model_covers_its_threshold():
    """P(move) = logistic(2 - 5 share + e), e ~ N(0, 0.3) per prompt: t* = 0.4 covered in 45+ of 50 seeds."""
    covered = 0
    for seed in range(50):
        fit = probe_scenario("schelling", backend=logistic_scorer(2.0, -5.0, noise=0.3, seed=seed)).fit
        assert fit.verdict == "threshold"
        covered += fit.threshold_ci[0] <= 0.4 <= fit.threshold_ci[1]
    assert covered >= 45


def test_a_sampling_model_is_sampled_and_its_threshold_covered():
    result = probe_scenario("schelling", backend=sampled_logistic(2.0, -5.0, seed=4), samples=20)
    assert result.run.calls == 45 * 20
    low, high = result.fit.threshold_ci
    assert low <= 0.4 <= high
    assert result.fit.method.startswith("binomial logit of the answer counts")


def test_a_model_that_ignores_the_neighbourhood_has_no_threshold():
    assert probe_scenario("schelling", backend=constant("stay")).describe().startswith("no threshold")
    flat = probe_scenario("schelling", backend=logistic_scorer(-1.0, 0.0))
    assert flat.fit.verdict == "flat"
    assert flat.fit.mean_p == pytest.approx(0.2689, abs=1e-3)


def test_a_second_identical_probe_makes_no_call():
    cache = InMemoryCache()
    first = probe_scenario("schelling", backend=sampled_logistic(2.0, -5.0), samples=5, cache=cache)
    again = probe_scenario("schelling", backend=sampled_logistic(2.0, -5.0), samples=5, cache=cache)
    assert first.run.calls == 225
    assert again.run.calls == 0
    assert again.table.equals(first.table)
    assert again.fit == first.fit


def test_temperature_sets_the_sampling_of_a_copy():
    model = FunctionChatModel(fn=lambda m: "stay", model_name="x")
    warm = with_temperature(model, 0.7)
    assert warm.temperature == 0.7
    assert model.temperature == 0.0
    result = probe_scenario("schelling", backend=model, temperature=1.0, samples=3)
    assert result.run.calls == 45 * 3  # at temperature 1 every sample is asked
    with pytest.raises(ValueError, match="temperature must be"):
        with_temperature(model, -1)


def test_unknown_probes_and_parameters_are_refused_naming_the_fix():
    with pytest.raises(ValueError, match="no probe 'tft'; its probes are: threshold"):
        probe_scenario("schelling", "tft", backend="rule")
    with pytest.raises(ValueError, match="no parameter 'homophilly'"):
        probe_scenario("schelling", backend="rule", parameters={"homophilly": 0.3})
    with pytest.raises(ValueError, match="declares no probes"):
        find_probe(dataclasses.replace(SCENARIO, probes=()))


def test_a_result_writes_its_table_fit_and_figure(tmp_path):
    result = probe_scenario("schelling", backend=logistic_scorer(3.0, -7.5))
    paths = result.write(tmp_path / "probe")
    assert {path.name for path in paths.values()} == set(PROBE_FILES.values())
    assert pd.read_csv(paths["table"]).shape == result.table.shape
    summary = json.loads(paths["fit"].read_text())
    assert summary["verdict"] == "threshold t* = 0.40 [0.40, 0.40]"
    assert summary["calls"] == 45
    assert summary["fit"]["threshold"] == pytest.approx(0.4)
    assert paths["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_backend_that_never_gives_a_usable_answer_is_reported_before_any_fit():
    with pytest.raises(
        ProbeError, match=r"Every answer of always-I have no idea\. fell back: none of its 45 "
    ):
        probe_scenario("schelling", backend=constant("I have no idea."))
