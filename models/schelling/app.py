"""The Schelling dashboard: ``solara run models/schelling/app.py`` or ``mesa-llm viz schelling``.

Residents are coloured by group; LLM residents are squares with a dark outline, rule
residents circles; unhappy residents (fewer of their own group around them than the
homophily) are hollow. Works offline with the embedded local model (the default backend).
"""

from mesa_llm.viz import LegendEntry, ScenarioDashboard, hollow_entry, population_portrayal
from mesa_llm_models.schelling import FRAMINGS, SCENARIO

#: Colours of group 0 (majority) and group 1 (minority).
GROUP_COLOURS = {0: "#1f77b4", 1: "#ff7f0e"}

portrayal = population_portrayal(
    lambda resident: GROUP_COLOURS[resident.group],
    tooltip=lambda resident: {"group": resident.group, "happy": resident.happy},
    hollow=lambda resident: not resident.happy,
)

legend = (
    LegendEntry("group 0 (majority)", GROUP_COLOURS[0]),
    LegendEntry("group 1 (minority)", GROUP_COLOURS[1]),
    LegendEntry("filled: happy"),
    hollow_entry("hollow: unhappy (own group below the homophily)"),
)

model_params = {
    "width": {"type": "SliderInt", "value": 20, "label": "width", "min": 5, "max": 60, "step": 1},
    "height": {"type": "SliderInt", "value": 20, "label": "height", "min": 5, "max": 60, "step": 1},
    "density": {
        "type": "SliderFloat",
        "value": 0.8,
        "label": "density",
        "min": 0.1,
        "max": 0.95,
        "step": 0.05,
    },
    "minority_pc": {
        "type": "SliderFloat",
        "value": 0.5,
        "label": "minority share",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "homophily": {
        "type": "SliderFloat",
        "value": 0.4,
        "label": "homophily (rule threshold)",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "radius": {"type": "SliderInt", "value": 1, "label": "radius", "min": 1, "max": 3, "step": 1},
    "torus": {"type": "Checkbox", "value": False, "label": "torus"},
    "llm_share": {
        "type": "SliderFloat",
        "value": 0.25,
        "label": "LLM share",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "framing": {
        "type": "Select",
        "value": "neutral",
        "label": "LLM prompt framing",
        "values": list(FRAMINGS),
    },
}

page = ScenarioDashboard(SCENARIO, portrayal, model_params, seed=1, legend=legend)
