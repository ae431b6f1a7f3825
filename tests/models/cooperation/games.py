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


def towards_all(model):
    """Every player's move towards each neighbour, and its score, by cell."""
    return {
        p.cell.coordinate: (*map(p.move_towards, (n.unique_id for n in p.neighbours)), p.score)
        for p in model.agents
    }


def plays_tit_for_tat(mixed, rule, rounds):
    """Assert that ``mixed``'s LLM players play as ``rule``'s players in their places would with TFT.

    Both models are stepped: the opening round, then ``rounds`` more, in which the rule
    model's players at the LLM players' cells play tit for tat. Returns those cells.
    """
    llm_cells = {p.cell.coordinate for p in mixed.agents if p.population == "llm"}
    mixed.step()
    rule.step()  # the opening round: everyone plays its initial strategy's move
    for player in rule.agents:  # from now on the LLM players' places play tit for tat
        if player.cell.coordinate in llm_cells:
            player.strategy = "TFT"
    for _ in range(rounds):
        mixed.step()
        rule.step()
        assert towards_all(mixed) == towards_all(rule)
    return llm_cells
