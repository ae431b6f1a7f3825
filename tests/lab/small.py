"""Small Schelling runs shared by the tests of the application layer."""

from mesa_llm.lab import runs
from mesa_llm.lab.runs import RunConfig
from mesa_llm.lab.specs import model_parameters
from mesa_llm_models.schelling import SCENARIO


def config(steps=5, seed=1, backend="rule", cache=None, temperature=None, **settings):
    """A small Schelling run; settings as the command line gives them (text)."""
    settings = {"width": "8", "height": "8", **{k: str(v) for k, v in settings.items()}}
    params = model_parameters(SCENARIO, settings)
    return RunConfig(SCENARIO, params, steps, seed, backend, temperature, cache)


def execute(cfg, on_step=None):
    return runs.execute(cfg, on_step)
