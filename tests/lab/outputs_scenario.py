"""Schelling with outputs of its own and a run length of its parameters, for the tests of both hooks.

The hooks are module-level functions, so that the specs pickle; ``mesa-llm run
tests.lab.outputs_scenario:SCENARIO`` runs them from the repository root.
"""

import dataclasses
import json

from mesa_llm_models.schelling import SCENARIO as SCHELLING

SUMMARY = "summary.json"
"""The file the scenario's own outputs write."""


def run_length(params):
    """One step per row of the grid: a run length that depends on a parameter."""
    return params["height"] + 1


def summary(model, folder):
    """The steps the model took and its agents, as the run left it."""
    (folder / SUMMARY).write_text(json.dumps({"steps": model.steps, "agents": len(model.agents)}))
    return [SUMMARY]


def failing(model, folder):
    """Writes half its outputs, then fails."""
    (folder / SUMMARY).write_text("half")
    raise RuntimeError("the summary failed")


def unwritten(model, folder):
    """Names a file it never wrote."""
    return ["missing.txt"]


def standard(model, folder):
    """Writes and names a standard file of the run's folder."""
    (folder / "model.csv").write_text("not the frame")
    return ["model.csv"]


SCENARIO = dataclasses.replace(SCHELLING, outputs=summary, steps_of=run_length)
FAILING = dataclasses.replace(SCHELLING, outputs=failing)
