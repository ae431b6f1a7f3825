"""Players of the spatial prisoner's dilemma: one base class, rule strategies and (later) LLMs.

Every round each player chooses a move for each neighbour (its partners), payoffs are
computed in code from the payoff matrix, and every ``update_every`` rounds players may
imitate the strategy of the most successful player around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from mesa.discrete_space import Cell, CellAgent

if TYPE_CHECKING:
    from models.cooperation.model import CooperationModel

__all__ = [
    "STRATEGIES",
    "Move",
    "NeighbourView",
    "Play",
    "Player",
    "RulePlayer",
    "Situation",
    "strategy_move",
]


class Move(StrEnum):
    """A move of the prisoner's dilemma."""

    COOPERATE = "cooperate"
    DEFECT = "defect"


C, D = Move.COOPERATE, Move.DEFECT

STRATEGIES = ("ALLC", "ALLD", "TFT", "GRIM", "WSLS", "RANDOM")
"""The rule strategies: always cooperate, always defect, tit for tat, grim trigger,
win-stay lose-shift (Pavlov) and a fair coin."""


@dataclass(frozen=True, slots=True)
class NeighbourView:
    """What a player sees of one neighbour: its id, last move towards the player, score and strategy."""

    id: int
    move: Move | None
    score: float
    strategy: str


@dataclass(frozen=True, slots=True)
class Situation:
    """What a player observes at the start of a round.

    Attributes:
        round: rounds played so far.
        move: its own last move (towards most partners), None before the first round.
        score: its score as the model counts it (last round's payoff, or accumulated).
        strategy: its current strategy.
        neighbours: its neighbours, in Mesa's neighbourhood order.
        imitate: whether this round starts with a strategy update.
    """

    round: int
    move: Move | None
    score: float
    strategy: str
    neighbours: tuple[NeighbourView, ...]
    imitate: bool


@dataclass(frozen=True, slots=True)
class Play:
    """A player's decision for a round: its strategy and its move towards each partner."""

    strategy: str
    moves: dict[int, Move]


class Player(CellAgent):
    """A player on a cell: observes its neighbourhood's last round and plays its moves.

    Args:
        model: the cooperation model.
        cell: its cell (one player per cell).
        strategy: its initial strategy (a name of :data:`STRATEGIES`, or ``"LLM"``).
    """

    population = "rule"

    def __init__(self, model: CooperationModel, cell: Cell, strategy: str) -> None:
        super().__init__(model)
        self.cell = cell
        self.strategy = strategy
        self.score = 0.0
        self.payoff = 0.0  # this round's payoff
        self.moves: dict[int, Move] = {}  # this round's move towards each partner
        self.move: Move | None = None  # the move towards most partners (all, for one-move strategies)
        self.neighbours: list[Player] = []  # set by the model once every player is placed
        # per partner: (its last move towards me, my last move towards it, it ever defected)
        self.memory: dict[int, tuple[Move, Move, bool]] = {}

    def observe(self) -> Situation:
        """The last round around the player."""
        model = self.model
        me = self.unique_id
        return Situation(
            round=model.rounds,
            move=self.move,
            score=self.score,
            strategy=self.strategy,
            neighbours=tuple(
                NeighbourView(n.unique_id, n.moves.get(me, n.move), n.score, n.strategy)
                for n in self.neighbours
            ),
            imitate=model.imitation_round,
        )

    def act(self, play: Play | Move) -> None:
        """Adopt the decided strategy and moves; in sequential activation, collect the payoff at once."""
        if isinstance(play, Move):  # one move for every partner
            play = Play(self.strategy, dict.fromkeys((n.unique_id for n in self.neighbours), play))
        self.strategy = play.strategy
        self.moves = play.moves
        values = list(play.moves.values())
        self.move = max((C, D), key=values.count) if values else None
        if self.model.activation != "simultaneous":
            self.model.collect_payoff(self)


class RulePlayer(Player):
    """A player that follows its strategy and imitates by the model's rule."""

    def decide(self, situation: Situation) -> Play:
        """Imitate if it is time to, then play the strategy against each partner."""
        strategy = self.model.imitate(self, situation) if situation.imitate else self.strategy
        return Play(strategy, {n.unique_id: self.play(strategy, n.unique_id) for n in self.neighbours})

    def play(self, strategy: str, partner: int) -> Move:
        """The move of ``strategy`` towards ``partner``, from the memory of their last round."""
        return strategy_move(strategy, self.memory.get(partner), self.model)


def strategy_move(strategy: str, memory: tuple[Move, Move, bool] | None, model: Any) -> Move:
    """The move of a memory-one strategy.

    Args:
        strategy: a name of :data:`STRATEGIES`.
        memory: (partner's last move, own last move, partner ever defected), None in a
            first encounter.
        model: the model, whose ``random`` draws RANDOM's coin.
    """
    if strategy == "ALLC":
        return C
        # the unconditional strategies need no memory
    if strategy == "ALLD":
        return D
    if strategy == "RANDOM":
        return C if model.random.random() < 0.5 else D
    if memory is None:
        return C  # TFT, GRIM and WSLS open with cooperation
    theirs, mine, ever_defected = memory
    if strategy == "TFT":
        return theirs
    if strategy == "GRIM":
        return D if ever_defected else C
    # WSLS: a win (the partner cooperated: R or T) repeats the move, a loss switches it
    return mine if theirs is C else (D if mine is C else C)
