"""The cooperation dashboard: ``solara run models/cooperation/app.py`` or ``mesa-llm viz cooperation``.

Players are coloured by their last move (blue cooperate, red defect, grey before the first
round); LLM players are squares with a dark outline, rule players circles. Works offline
with the embedded local model (the default backend).
"""

from mesa_llm.viz import LegendEntry, ScenarioDashboard, population_portrayal
from mesa_llm_models.cooperation import ONE_MOVE, PD_GRID_PAYOFFS, STRATEGIES, Move, Player, Situation

#: Colours of the last move.
MOVE_COLOURS = {Move.COOPERATE: "#1f77b4", Move.DEFECT: "#d62728", None: "#bbbbbb"}


def _tooltip(player: Player) -> dict:
    return {"strategy": player.strategy, "move": str(player.move), "score": round(player.score, 2)}


portrayal = population_portrayal(lambda player: MOVE_COLOURS[player.move], tooltip=_tooltip)

legend = (
    LegendEntry("cooperated (last move)", MOVE_COLOURS[Move.COOPERATE]),
    LegendEntry("defected (last move)", MOVE_COLOURS[Move.DEFECT]),
    LegendEntry("no move yet", MOVE_COLOURS[None]),
)


def situation_view(situation: Situation) -> dict:
    """A situation as the LLM player's prompt words it: the round that is starting.

    A :class:`Situation` counts the rounds played so far; its prompt says "Round
    {rounds played + 1} is starting", and so does the inspector.
    """
    return {
        "round (starting)": situation.round + 1,
        "move (last round)": situation.move,
        "score": situation.score,
        "strategy": situation.strategy,
        "imitate": situation.imitate,
    }


model_params = {
    "width": {"type": "SliderInt", "value": 12, "label": "width", "min": 3, "max": 50, "step": 1},
    "height": {"type": "SliderInt", "value": 12, "label": "height", "min": 3, "max": 50, "step": 1},
    "torus": {"type": "Checkbox", "value": True, "label": "torus"},
    "neighbourhood": {
        "type": "Select",
        "value": "moore",
        "label": "neighbourhood",
        "values": ["moore", "von_neumann"],
    },
    "payoffs": {
        "type": "InputText",
        "value": ",".join(map(str, PD_GRID_PAYOFFS)),
        "label": "payoffs R,S,T,P",
    },
    "strategies": {
        "type": "InputText",
        "value": "ALLC,ALLD",
        "label": f"strategies ({', '.join(STRATEGIES)})",
    },
    "memory_one": {"type": "InputText", "value": "TFT", "label": "MEMORY1: P(C) first, CC, CD, DC, DD"},
    "update": {"type": "Select", "value": "imitate", "label": "update", "values": ["imitate", "keep"]},
    "update_every": {
        "type": "SliderInt",
        "value": 1,
        "label": "update every (rounds)",
        "min": 1,
        "max": 10,
        "step": 1,
    },
    "scores": {"type": "Select", "value": "cumulative", "label": "scores", "values": ["cumulative", "round"]},
    "activation": {
        "type": "Select",
        "value": "simultaneous",
        "label": "activation",
        "values": ["simultaneous", "random", "sequential"],
    },
    "llm_share": {
        "type": "SliderFloat",
        "value": 0.15,
        "label": "LLM share",
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
    },
    "llm_moves": {"type": "Select", "value": "one", "label": "LLM moves", "values": ["one", "each"]},
    "llm_opening": {
        "type": "Select",
        "value": "strategy",
        "label": "LLM opening move",
        "values": ["strategy", "llm"],
    },
    "framing": {
        "type": "Select",
        "value": "neutral",
        "label": "LLM prompt framing",
        "values": list(ONE_MOVE),
    },
}

page = ScenarioDashboard(
    "cooperation", portrayal, model_params, seed=1, legend=legend, observation_view=situation_view
)
