"""The cooperation scenario's metrics: each round's moves and payoffs, by population and by strategy."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mesa_llm.populations import ALL, POPULATIONS, per_population, ratio
from mesa_llm_models.cooperation.game import STRATEGIES, Move

if TYPE_CHECKING:
    from mesa_llm_models.cooperation.agents import Player

__all__ = ["Tally"]


class Tally:
    """This round's statistics of the players, counted in one pass, and the reporters that read them.

    For all players, each population and each strategy (``"LLM"`` for LLM players): the
    cooperative moves, all moves, the summed payoff and the number of players; and the
    players whose move towards most partners is to cooperate. All players are summed in
    one pass of their own, not as the sum of the populations' sums: float addition depends
    on the order, and this way a mixed run whose LLM players follow the rule reports
    exactly the all-rule run's values.
    """

    def __init__(self) -> None:
        self.groups: dict[str, list[float]] = {}
        self.cooperating = 0

    def measure(self, players: Iterable[Player]) -> None:
        """Count this round's moves and payoffs."""
        c = Move.COOPERATE
        groups = {
            key: [0, 0, 0.0, 0] for key in (ALL, *POPULATIONS, *STRATEGIES, "LLM")
        }  # C, moves, payoff, n
        cooperating = 0
        for player in players:
            if player.move is None:  # an LLM player that chooses its opening move, before it has
                cooperative = made = 0
            elif player.moves:
                values = [player.moves.get(n.unique_id, player.move) for n in player.neighbours]
                cooperative, made = values.count(c), len(values)
            else:
                made = len(player.neighbours)
                cooperative = made if player.move is c else 0
            cooperating += player.move is c
            for key in (ALL, player.population, player.strategy):
                group = groups[key]
                group[0] += cooperative
                group[1] += made
                group[2] += player.payoff
                group[3] += 1
        self.groups = groups
        self.cooperating = cooperating

    def share(self, key: str) -> float:
        """The share of cooperative moves among the moves of a group (NaN for none)."""
        group = self.groups[key]
        return ratio(group[0], group[1])

    def mean(self, key: str) -> float:
        """The mean payoff of the players of a group (NaN for none)."""
        group = self.groups[key]
        return ratio(group[2], group[3])

    def reporters(self) -> dict[str, Callable[[Any], Any]]:
        """Each metric for all players, for each population (``cooperation_rule``, ...) and strategy.

        The reporters are bound methods of the tally, so a model holding them pickles.
        """
        reporters: dict[str, Callable[[Any], Any]] = {
            "cooperation": functools.partial(self.report_share, key=ALL),
            "cooperating": self.report_cooperating,
            "mean_payoff": functools.partial(self.report_mean, key=ALL),
            **per_population(
                {
                    "cooperation": self.report_share,
                    "mean_payoff": self.report_mean,
                    "players": self.report_players,
                }
            ),
        }
        for strategy in STRATEGIES:
            reporters[f"strategy_{strategy}"] = functools.partial(self.report_players, key=strategy)
            reporters[f"payoff_{strategy}"] = functools.partial(self.report_mean, key=strategy)
        return reporters

    def report_share(self, _model: Any, key: str) -> float:
        """The reporter of :meth:`share`."""
        return self.share(key)

    def report_mean(self, _model: Any, key: str) -> float:
        """The reporter of :meth:`mean`."""
        return self.mean(key)

    def report_players(self, _model: Any, key: str) -> int:
        """The reporter of the number of players of a group."""
        return int(self.groups[key][3])

    def report_cooperating(self) -> int:
        """The reporter of the players whose move towards most partners is to cooperate.

        Without the model: Mesa calls a bound method reporter with no argument.
        """
        return self.cooperating
