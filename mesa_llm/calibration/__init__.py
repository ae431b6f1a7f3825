"""Implied rules: probe what rule an LLM agent follows, fit it, and run it back through rule agents.

A threshold rule can be calibrated and ablated; a prompt cannot, directly. This package
makes a prompt inspectable (docs/calibration.md states the method):

- :func:`run_probe` asks an LLM agent about a grid of its scenario's own observations and
  estimates P(action | observation) with intervals; :func:`probe_scenario` does it for a
  scenario's declared :class:`Probe`, and fits the answers;
- :func:`fit_threshold` fits a Schelling-like threshold (a logistic curve against a share)
  and gives its verdict; :func:`fit_memory_one` a memory-one strategy and its nearest
  named one, :func:`fit_imitation` the rate of copying the best-scoring neighbour;
- :func:`round_trip` runs rule agents parameterised by a fit against the LLM population
  on the same seeds and says whether the implied rule reproduces it;
- :func:`knob_map` maps a prompt knob to the implied parameter (and back, to calibrate an
  LLM population); :func:`calibrate` finds the rule parameter of a macro outcome.
"""

from typing import TYPE_CHECKING

from mesa_llm.lazy import lazy_exports

if TYPE_CHECKING:
    from mesa_llm.calibration.described import Described
    from mesa_llm.calibration.knobs import Calibration, KnobMap, calibrate, knob_map
    from mesa_llm.calibration.probe import PROBE_COLUMNS, ProbePoint, ProbeRun, run_probe, wilson_interval
    from mesa_llm.calibration.roundtrip import LLM_POPULATION, RoundTrip, round_trip
    from mesa_llm.calibration.scenarios import (
        PROBE_FILES,
        Probe,
        ProbeError,
        ProbeResult,
        find_probe,
        probe_scenario,
    )
    from mesa_llm.calibration.strategy import (
        MEMORY_ONE_STATES,
        NAMED_STRATEGIES,
        ImitationFit,
        MemoryOne,
        MemoryOneFit,
        fit_imitation,
        fit_memory_one,
    )
    from mesa_llm.calibration.threshold import ThresholdFit, fit_threshold

__all__ = [
    "LLM_POPULATION",
    "MEMORY_ONE_STATES",
    "NAMED_STRATEGIES",
    "PROBE_COLUMNS",
    "PROBE_FILES",
    "Calibration",
    "Described",
    "ImitationFit",
    "KnobMap",
    "MemoryOne",
    "MemoryOneFit",
    "Probe",
    "ProbeError",
    "ProbePoint",
    "ProbeResult",
    "ProbeRun",
    "RoundTrip",
    "ThresholdFit",
    "calibrate",
    "find_probe",
    "fit_imitation",
    "fit_memory_one",
    "fit_threshold",
    "knob_map",
    "probe_scenario",
    "round_trip",
    "run_probe",
    "wilson_interval",
]


# Every public name is imported from its module when first asked for (PEP 562): the fits
# need scipy and statsmodels, which take a while, and a scenario that declares its probes
# needs neither. The names of each module, by module:
_EXPORTS = {
    "described": ("Described",),
    "knobs": ("Calibration", "KnobMap", "calibrate", "knob_map"),
    "probe": ("PROBE_COLUMNS", "ProbePoint", "ProbeRun", "run_probe", "wilson_interval"),
    "roundtrip": ("LLM_POPULATION", "RoundTrip", "round_trip"),
    "scenarios": ("PROBE_FILES", "Probe", "ProbeError", "ProbeResult", "find_probe", "probe_scenario"),
    "strategy": (
        "MEMORY_ONE_STATES",
        "NAMED_STRATEGIES",
        "ImitationFit",
        "MemoryOne",
        "MemoryOneFit",
        "fit_imitation",
        "fit_memory_one",
    ),
    "threshold": ("ThresholdFit", "fit_threshold"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
