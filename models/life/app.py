"""The Life dashboard: ``solara run models/life/app.py`` or ``mesa-llm viz life``.

Live cells are dark green, dead cells light grey; LLM cells are squares with a dark
outline, rule cells circles. Works offline with the embedded local model (the default
backend); ``rule`` answers by the model's rule, so a mixed board then runs as the all-rule one.
"""

from mesa_llm.viz import LegendEntry, ScenarioDashboard, population_portrayal
from mesa_llm_models.life import FRAMINGS, SCENARIO, LifeCell
from mesa_llm_models.life.parameters import STARTS

#: Colours of a live and a dead cell.
STATE_COLOURS = {True: "#1b5e20", False: "#e0e0e0"}


def _tooltip(cell: LifeCell) -> dict:
    return {"alive": cell.alive, "coordinate": str(cell.cell.coordinate)}


portrayal = population_portrayal(lambda cell: STATE_COLOURS[cell.alive], tooltip=_tooltip)

legend = (
    LegendEntry("alive", STATE_COLOURS[True]),
    LegendEntry("dead", STATE_COLOURS[False]),
)

model_params = {
    "width": {"type": "SliderInt", "value": 20, "label": "width", "min": 5, "max": 60, "step": 1},
    "height": {"type": "SliderInt", "value": 20, "label": "height", "min": 5, "max": 60, "step": 1},
    "start": {"type": "Select", "value": "random", "label": "start", "values": list(STARTS)},
    "initial_fraction_alive": {
        "type": "SliderFloat",
        "value": 0.2,
        "label": "initial fraction alive (random start)",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "rule": {"type": "InputText", "value": "B3/S23", "label": "rule (B/S notation)"},
    "rule_table": {
        "type": "InputText",
        "value": "",
        "label": "rule table B:p0,...,p8/S:p0,...,p8 (optional)",
    },
    "rule_in_prompt": {"type": "Checkbox", "value": False, "label": "state the rule in the prompt"},
    "llm_share": {
        "type": "SliderFloat",
        "value": 0.1,
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
