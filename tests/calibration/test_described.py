"""Calibration results show themselves by their verdict sentence, not by every field they hold."""

import pytest

from mesa_llm.calibration import (
    Described,
    calibrate,
    fit_imitation,
    fit_memory_one,
    knob_map,
    probe_scenario,
    round_trip,
)
from mesa_llm_models.diffusion.calibration import CascadeFit
from mesa_llm_models.life.calibration import LifeTableFit
from tests.calibration.test_strategy import imitation_table, memory_table

SMALL = {"width": 12, "height": 12}


def shows_its_sentence(result):
    shown = repr(result)
    assert shown == f"<{type(result).__name__}: {result.describe()}>"
    assert "DataFrame" not in shown
    assert "\n   " not in shown  # no frame printed


def test_probes_round_trips_knob_maps_and_calibrations_show_their_sentences():
    result = probe_scenario("schelling", backend="rule", parameters={**SMALL, "homophily": 0.3})
    shows_its_sentence(result)
    assert repr(result).startswith("<ProbeResult: threshold t* = ")
    shows_its_sentence(result.fit)
    trip = round_trip(result, seeds=range(2), steps=3)
    shows_its_sentence(trip)
    assert "reproduces the LLM population" in repr(trip)
    mapped = knob_map("schelling", "framing", ["neutral", "colours", "social"], backend="rule")
    shows_its_sentence(mapped)
    found = calibrate("schelling", "homophily", "segregation", 0.6, fixed=SMALL, seeds=[0], steps=3, grid=3)
    shows_its_sentence(found)
    assert repr(found).startswith("<Calibration: homophily = ")


def test_the_strategy_fits_show_their_sentences():
    shows_its_sentence(fit_memory_one(memory_table((1.0, 1.0, 0.0, 1.0, 0.0))))
    assert "nearest TFT" in repr(fit_memory_one(memory_table((1.0, 1.0, 0.0, 1.0, 0.0))))
    shows_its_sentence(fit_imitation(imitation_table([1.0, 0.9, 0.8, 1.0])))


@pytest.mark.parametrize("fit", [CascadeFit, LifeTableFit])
def test_the_scenarios_own_fits_are_described_results(fit):
    assert issubclass(fit, Described)
    assert fit.__repr__ is Described.__repr__
