"""The cooperation scenario's metrics: each round's moves and payoffs, by population and by strategy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mesa_llm.populations import POPULATIONS, per_population, ratio
from mesa_llm_models.cooperation.game import STRATEGIES, Move

if TYPE_CHECKING:
    from mesa_llm_models.cooperation.agents import Player

__all__ = ["Tally"]


class Tally:
    """This round's statistics of the players, counted in one pass, and the reporters that read them.

    For each population and each strategy (``"LLM"`` for LLM players): the cooperative
    moves, all moves, the summed payoff and the number of players; and the players whose
    move towards most partners is to cooperate.
    """

    def __init__(self) -> None:
        self.groups: dict[str, list[float]] = {}
        self.cooperating = 0

    def measure(self, players: Iterable[Player]) -> None:
        """Count this round's moves and payoffs."""
        c = Move.COOPERATE
        groups = {key: [0, 0, 0.0, 0] for key in (*POPULATIONS, *STRATEGIES, "LLM")}  # C, moves, payoff, n
        cooperating = 0
        for player in players:
            if player.moves:
                values = [player.moves.get(n.unique_id, player.move) for n in player.neighbours]
                cooperative, made = values.count(c), len(values)
            else:
                made = len(player.neighbours)
                cooperative = made if player.move is c else 0
            cooperating += player.move is c
            for key in (player.population, player.strategy):
                group = groups[key]
                group[0] += cooperative
                group[1] += made
                group[2] += player.payoff
                group[3] += 1
        self.groups = groups
        self.cooperating = cooperating

    def share(self, *keys: str) -> float:
        """The share of cooperative moves among the moves of these groups (NaN for none)."""
        return ratio(sum(self.groups[k][0] for k in keys), sum(self.groups[k][1] for k in keys))

    def mean(self, *keys: str) -> float:
        """The mean payoff of the players of these groups (NaN for none)."""
        return ratio(sum(self.groups[k][2] for k in keys), sum(self.groups[k][3] for k in keys))

    def reporters(self) -> dict[str, Callable[[Any], Any]]:
        """Each metric for all players, for each population (``cooperation_rule``, ...) and strategy."""
        reporters: dict[str, Callable[[Any], Any]] = {
            "cooperation": lambda _m: self.share(*POPULATIONS),
            "cooperating": lambda _m: self.cooperating,
            "mean_payoff": lambda _m: self.mean(*POPULATIONS),
            **per_population(
                {
                    "cooperation": lambda _m, q: self.share(q),
                    "mean_payoff": lambda _m, q: self.mean(q),
                    "players": lambda _m, q: self.groups[q][3],
                }
            ),
        }
        for strategy in STRATEGIES:
            reporters[f"strategy_{strategy}"] = lambda _m, s=strategy: self.groups[s][3]
            reporters[f"payoff_{strategy}"] = lambda _m, s=strategy: self.mean(s)
        return reporters
