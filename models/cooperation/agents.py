"""Players of the spatial prisoner's dilemma: one base class, rule strategies and (later) LLMs.

Every round each player chooses a move for each neighbour (its partners), payoffs are
computed in code from the payoff matrix, and every ``update_every`` rounds players may
imitate the strategy of the most successful player around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage
from mesa.discrete_space import Cell, CellAgent

from mesa_llm import ActionSpace, FunctionChatModel, LLMDecider, PromptTemplate

if TYPE_CHECKING:
    from models.cooperation.model import CooperationModel

__all__ = [
    "STRATEGIES",
    "LLMPlayer",
    "Move",
    "NeighbourView",
    "Play",
    "Player",
    "RulePlayer",
    "Situation",
    "rule_following_backend",
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

    def __init__(self, model: CooperationModel, cell: Cell, strategy: str, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.cell = cell
        self.strategy = strategy
        self.opening = strategy  # the strategy of its first move
        self.score = 0.0
        self.payoff = 0.0  # this round's payoff
        self.moves: dict[int, Move] = {}  # this round's move towards each partner
        self.move: Move | None = None  # the move towards most partners (cooperate on a tie)
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
                NeighbourView(n.unique_id, n.moves.get(me, n.move), n.score, n.imitable)
                for n in self.neighbours
            ),
            imitate=model.imitation_round,
        )

    @property
    def imitable(self) -> str:
        """The strategy a neighbour adopts by imitating this player: its own."""
        return self.strategy

    def act(self, play: Play | Move) -> None:
        """Adopt the decided strategy and moves; in sequential activation, collect the payoff at once."""
        if isinstance(play, Move):  # one move for every partner
            move = play
            play = Play(self.strategy, dict.fromkeys((n.unique_id for n in self.neighbours), play))
        elif play.moves:
            values = list(play.moves.values())
            move = max((C, D), key=values.count)  # the move towards most partners; C on a tie
        else:  # no partners: the strategy's move (played against itself with self-interaction)
            move = strategy_move(play.strategy, None, self.model)
        self.strategy = play.strategy
        self.moves = play.moves
        self.move = move
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


class LLMPlayer(LLMDecider, Player):
    """A player whose move each round (one for all partners) a language model chooses.

    It sees what a rule player sees: the round, its last move and score, and each
    neighbour's last move and score. Its strategy is ``"LLM"``; a rule player that
    imitates it copies its last move (``ALLC`` or ``ALLD``). The fallback is to cooperate.
    """

    population = "llm"
    action_space = ActionSpace(Move, fallback=Move.COOPERATE, description="cooperate or defect")
    prompt = PromptTemplate(
        system=(
            "You play a repeated game with each of your neighbours. Each round you choose one "
            "move for all of them: cooperate or defect."
        ),
        user=(
            "{rules} Your score is {scoring}. {instructions}\n\n"
            "Round {round} is starting. {history}\nYour neighbours' last moves and scores:\n"
            "{neighbours}\nDo you cooperate or defect?"
        ),
    )

    def __init__(self, model: CooperationModel, cell: Cell, strategy: str, **kwargs: Any) -> None:
        super().__init__(model, cell, strategy, **kwargs)
        self.strategy = "LLM"

    @property
    def imitable(self) -> str:
        """A rule player imitating this one copies its last move."""
        return "ALLC" if self.move is Move.COOPERATE else "ALLD"

    def messages(self, observation: Situation):  # noqa: D102
        payoffs = self.model.payoffs
        rules = (
            f"With a neighbour, if you both cooperate you each get {payoffs.R!r}; if you cooperate "
            f"and they defect you get {payoffs.S!r} and they get {payoffs.T!r}; if you both "
            f"defect you each get {payoffs.P!r}."
        )
        if observation.round == 0:
            history = "You have not played yet."
        else:
            history = f"Last round you played {observation.move} and your score is {observation.score!r}."
        neighbours = "\n".join(f"- played {n.move}, score {n.score!r}" for n in observation.neighbours)
        scoring = "this round's payoff" if self.model.scores == "round" else "the sum of all your payoffs"
        return self.prompt_for(
            observation,
            rules=rules,
            scoring=scoring,
            history=history,
            neighbours=neighbours,
            round=observation.round + 1,
        )


_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
_OWN = re.compile(r"you played (\w+) and your score is " + _NUMBER)
_NEIGHBOUR = re.compile(r"^- played (\w+), score " + _NUMBER + "$", re.MULTILINE)
_ROUND = re.compile(r"Round (\d+) is starting")


@dataclass(frozen=True)
class ImitationAnswer:
    """Answers an :class:`LLMPlayer`'s prompt as a rule player with unconditional strategies would.

    It reads the moves and scores from the prompt and, on an imitation round, plays the
    last move of the best-scoring player among the neighbours and itself (with the
    model's tie rule), otherwise repeats its own last move: with it, LLM players behave
    exactly like ALLC/ALLD rule players (PdGrid, Nowak and May).
    """

    ties: str
    update_every: int
    imitate_first: bool

    def __call__(self, messages: list[BaseMessage]) -> str:
        text = str(messages[-1].content)
        played = int(_ROUND.search(text).group(1)) - 1  # type: ignore[union-attr]
        own = _OWN.search(text)
        neighbours = [(m, float(s)) for m, s in _NEIGHBOUR.findall(text)]
        if own is None:  # first round: no own move yet; imitate (PdGrid) or open
            mine, score = None, 0.0
        else:
            mine, score = own.group(1), float(own.group(2))
        imitate = played % self.update_every == 0 and (played > 0 or self.imitate_first)
        if not imitate or not neighbours:
            return mine or Move.COOPERATE
        best_move, best_score = max(neighbours, key=lambda n: n[1])
        if mine is not None and (score > best_score or (self.ties == "keep" and score >= best_score)):
            return mine
        return best_move


def rule_following_backend(
    ties: str = "keep", update_every: int = 1, imitate_first: bool = False
) -> FunctionChatModel:
    """A deterministic chat model with which LLM players play like ALLC/ALLD rule players."""
    answer = ImitationAnswer(ties, update_every, imitate_first)
    return FunctionChatModel(
        fn=answer, model_name=f"cooperation-imitation-{ties}-{update_every}-{imitate_first}"
    )


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
