"""Small hand-made games shared by the cooperation tests."""

from mesa_llm_models.cooperation import CooperationModel
from mesa_llm_models.cooperation.game import strategy_move


def game(graph, *strategies, **kwargs):
    """A model on ``graph`` whose player on node i starts with ``strategies[i]`` (kept unless told)."""
    model = CooperationModel(graph=graph, **{"strategies": ("ALLC",), "update": "keep", "rng": 0, **kwargs})
    players = sorted(model.agents, key=lambda p: p.cell.coordinate)
    for player, strategy in zip(players, strategies, strict=True):
        opening = strategy_move(strategy, None, model)
        player.strategy = player.opening = strategy
        player.move, player.moves = opening, {}
    return model, players
