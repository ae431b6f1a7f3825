"""The Schelling dashboard with the gated backend of :mod:`tests.viz.gated`."""

from mesa_llm.viz import ScenarioDashboard
from mesa_llm_models.schelling import SCENARIO
from mesa_llm_models.schelling.app import model_params, portrayal
from tests.viz.gated import BACKEND

page = ScenarioDashboard(SCENARIO, portrayal, model_params, backend="gated", backends={"gated": BACKEND})
