"""mesa_llm's LLM components in a user's own Solara page, refreshed by Mesa's ``update_counter``.

Stepping goes through ``mesa.visualization.utils.force_update``, as in Mesa's ``SolaraViz``.
"""

import solara
from mesa.visualization.utils import force_update

from mesa_llm.viz import make_agent_inspector, make_llm_panel, make_transcript
from mesa_llm_models.schelling import SchellingModel, rule_following_backend

model = SchellingModel(width=8, height=8, llm_share=0.5, backend=rule_following_backend(0.4), rng=3)
LLM_AGENTS = sorted(a.unique_id for a in model.agents if a.population == "llm")
COMPONENTS = [make_llm_panel(), make_agent_inspector(), make_transcript()]


@solara.component
def Page():  # noqa: N802 - the name Solara looks for
    def step():
        model.step()
        force_update()

    solara.Button("Step", on_click=step)
    for make in COMPONENTS:
        make(model)
