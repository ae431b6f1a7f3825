"""Solara components and dashboards for mesa_llm models (install the ``viz`` extra).

- :func:`ScenarioDashboard`: the page of a scenario (space, metrics, controls, LLM panel,
  agent inspector, transcript; or the scenario's own space, inspector and cards), used by
  every ``models/*/app.py``.
- :func:`CalibrationPanel`: the rule a scenario's LLM agents imply (its probe's curve and
  verdict), probed on demand in the background; in every dashboard of a scenario with probes.
- :func:`LLMPanel`, :func:`AgentInspector`, :func:`Transcript`: the LLM components, reusable
  in any Mesa ``SolaraViz`` page of a model with ``mesa_llm`` agents
  (:func:`make_llm_panel`, :func:`make_agent_inspector`, :func:`make_transcript`).
- :func:`population_portrayal`: a Mesa portrayal that marks rule and LLM agents apart
  (populations are those of :mod:`mesa_llm.populations`) and may draw some agents hollow;
  :class:`LegendEntry` and :func:`hollow_entry`: what a dashboard's legend says of a
  scenario's colours and marks.
"""

from mesa_llm.viz.calibration import CalibrationPanel
from mesa_llm.viz.components import (
    AgentInspector,
    LLMPanel,
    Transcript,
    make_agent_inspector,
    make_llm_panel,
    make_transcript,
)
from mesa_llm.viz.dashboard import ScenarioDashboard
from mesa_llm.viz.portrayal import LegendEntry, hollow_entry, population_portrayal

__all__ = [
    "AgentInspector",
    "CalibrationPanel",
    "LLMPanel",
    "LegendEntry",
    "ScenarioDashboard",
    "Transcript",
    "hollow_entry",
    "make_agent_inspector",
    "make_llm_panel",
    "make_transcript",
    "population_portrayal",
]
