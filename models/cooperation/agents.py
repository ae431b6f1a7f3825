"""Players of the spatial prisoner's dilemma: one base class, rule players and LLM players.

Every round each player chooses a move for each neighbour (its partners), payoffs are
computed in code from the payoff matrix, and every ``update_every`` rounds players may
imitate the strategy of the most successful player around them. The LLM player that
chooses a move towards each neighbour is in :mod:`~mesa_llm_models.cooperation.partners`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from mesa.discrete_space import Cell, CellAgent

from mesa_llm import ActionSpace, LLMDecider, PromptTemplate
from mesa_llm.populations import RULE
from mesa_llm_models.cooperation.framings import NEUTRAL, ONE_MOVE
from mesa_llm_models.cooperation.game import Memory, Move, strategy_move
from mesa_llm_models.cooperation.situation import (
    NO_MOVES,
    NeighbourView,
    Play,
    RuleFacts,
    Situation,
    seen_score,
)

if TYPE_CHECKING:
    from mesa_llm_models.cooperation.model import CooperationModel

__all__ = [
    "LLMPlayer",
    "NeighbourView",
    "Play",
    "Player",
    "RuleFacts",
    "RulePlayer",
    "Situation",
    "seen_score",
]

C, D = Move.COOPERATE, Move.DEFECT


_UNCONDITIONAL = {"ALLC": Play("ALLC", C), "ALLD": Play("ALLD", D)}
"""The shared, unchanging decisions of the unconditional strategies."""


class Player(CellAgent):
    """A player on a cell: observes its neighbourhood's last round and plays its moves.

    Args:
        model: the cooperation model.
        cell: its cell (one player per cell).
        strategy: its initial strategy (a name of :data:`STRATEGIES`, or ``"LLM"``).
    """

    population: ClassVar[str] = RULE  # LLMDecider makes it "llm" for LLM players

    def __init__(self, model: CooperationModel, cell: Cell, strategy: str, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.cell = cell
        self.strategy = strategy
        self.opening = strategy  # the strategy of its first move
        self.score = 0.0
        self.payoff = 0.0  # this round's payoff
        self.move: Move | None = None  # this round's move towards most partners (cooperate on a tie)
        self.moves: Mapping[int, Move] = NO_MOVES  # the move towards each partner, where not all get `move`
        self.neighbours: list[Player] = []  # set by the model once every player is placed
        # the last round, as the model recorded it at its end (what memory-one strategies read)
        self.last_move: Move | None = None
        self.last_moves: Mapping[int, Move] = NO_MOVES
        self.defected_all = False  # it once defected towards every partner
        self.defected_towards: set[int] = set()  # partners it defected towards alone

    def memory_of(self, partner: Player) -> Memory | None:
        """(the partner's last move towards it, its own towards the partner, the partner ever defected).

        None before the first round has been played.
        """
        if self.last_move is None or partner.last_move is None:
            return None
        me = self.unique_id
        return (
            partner.last_moves.get(me, partner.last_move),
            self.last_moves.get(partner.unique_id, self.last_move),
            partner.defected_all or me in partner.defected_towards,
        )

    @property
    def memory(self) -> dict[int, Memory | None]:
        """:meth:`memory_of` each neighbour, by id."""
        return {n.unique_id: self.memory_of(n) for n in self.neighbours}

    def observe(self) -> Situation:
        """The last round around the player."""
        model = self.model
        return Situation(model.rounds, self.move, self.score, self.strategy, model.imitation_round, self)

    def move_towards(self, partner: int) -> Move | None:
        """This round's move towards ``partner``."""
        return self.moves.get(partner, self.move)

    @property
    def imitable(self) -> str:
        """The strategy a neighbour adopts by imitating this player: its own."""
        return self.strategy

    def play(self, play: Play | Move) -> None:
        """Adopt the decided strategy and moves."""
        if isinstance(play, Move):  # one move for every partner
            self.move, self.moves = play, NO_MOVES
        else:
            self.strategy, self.move, self.moves = play.strategy, play.move, play.moves

    def act(self, play: Play | Move) -> None:
        """Play the decision; in sequential activation, collect the payoff at once."""
        self.play(play)
        if self.model.activation != "simultaneous":
            self.model.collect_payoff(self)


class RulePlayer(Player):
    """A player that follows its strategy and imitates by the model's rule."""

    def decide(self, situation: Situation) -> Play:
        """Imitate if it is time to, then play the strategy against each partner."""
        model = self.model
        strategy = model.imitate(self) if situation.imitate else self.strategy
        if strategy in _UNCONDITIONAL:
            return _UNCONDITIONAL[strategy]  # one shared, unchanging decision
        moves = {n.unique_id: strategy_move(strategy, self.memory_of(n), model) for n in self.neighbours}
        if not moves:  # no partners: the strategy's move (played against itself with self-interaction)
            return Play(strategy, strategy_move(strategy, None, model))
        values = list(moves.values())
        move = max((C, D), key=values.count)
        return Play(strategy, move, {} if values.count(move) == len(values) else moves)


class LLMPlayer(LLMDecider, Player):
    """A player whose move each round (one for all partners) a language model chooses.

    It sees what a rule player sees: the round, its last move and score, and each
    neighbour's last move and score. Its strategy is ``"LLM"``; a rule player that
    imitates it copies its last move (``ALLC`` or ``ALLD``). The fallback is to cooperate.
    Its opening move is its initial strategy's, or, with the model's
    ``llm_opening="llm"``, its own choice, asked before anyone has played.

    Args:
        model: the cooperation model.
        cell: its cell (one player per cell).
        strategy: its initial strategy, which gives its opening move.
        prompt: its prompt template, a framing's (see :meth:`framing`); None for the
            class's own, the ``neutral`` framing.
        **kwargs: passed on to :class:`~mesa_llm.LLMDecider` (``runtime``, ...).
    """

    action_space = ActionSpace(Move, fallback=Move.COOPERATE, description="cooperate or defect")
    framings: ClassVar[Mapping[str, PromptTemplate]] = ONE_MOVE
    prompt = ONE_MOVE[NEUTRAL]

    def __init__(self, model: CooperationModel, cell: Cell, strategy: str, **kwargs: Any) -> None:
        super().__init__(model, cell, strategy, **kwargs)
        self.strategy = "LLM"

    @property
    def imitable(self) -> str:
        """A rule player imitating this one copies its last move."""
        return "ALLC" if self.move is Move.COOPERATE else "ALLD"

    def decide_without_model(self, observation: Situation) -> Move | None:
        """With ``llm_imitation="rule"``, an imitation round's move is the best-scoring player's last move."""
        if self.model.llm_imitation != "rule" or not observation.imitate:
            return None
        return self.model.model_of(self).move

    def rule_decide(self, observation: Situation) -> Move:
        """What an imitating ALLC/ALLD rule player would play (the rule-shadow decision).

        On an imitation round, the last move of the best-scoring player among its
        neighbours and itself (the model's ``ties`` rule); otherwise its own last move (to
        cooperate before any). This is the decision of the rule-following backend.
        """
        if observation.imitate:
            return self.model.model_of(self).move or Move.COOPERATE
        return observation.move or Move.COOPERATE

    def agreement_key(self, observation: Situation) -> RuleFacts:
        """The facts the imitation rule reads, which group the agreement tally."""
        best = self.model.model_of(self)
        return RuleFacts(observation.imitate, observation.move, best.move, best is self)

    def neighbour_lines(self, observation: Situation) -> str:
        """One line per neighbour: its last move and score (before anyone has played, that it has not)."""
        if observation.unplayed:
            return "\n".join("- has not played yet" for _ in observation.neighbours)
        return "\n".join(f"- played {n.move}, score {seen_score(n.score)!r}" for n in observation.neighbours)

    def observe(self) -> Situation:
        """The last round around the player, with its neighbours read now (for the prompt and the record)."""
        situation = super().observe()
        situation.neighbours  # noqa: B018 - read before any move of the round is applied
        return situation

    def messages(self, observation: Situation):  # noqa: D102
        payoffs = self.model.payoffs
        rules = (
            f"With a neighbour, if you both cooperate you each get {payoffs.R!r}; if you cooperate "
            f"and they defect you get {payoffs.S!r} and they get {payoffs.T!r}; if you both "
            f"defect you each get {payoffs.P!r}."
        )
        if observation.round == 0:
            history = "You have not played yet."
            if observation.move is not None:  # imitating first: neighbours have seen its opening move
                history += f" Your opening move is {observation.move}."
        else:
            score = seen_score(observation.score)
            history = f"Last round you played {observation.move} and your score is {score!r}."
        neighbours = self.neighbour_lines(observation)
        scoring = "this round's payoff" if self.model.scores == "round" else "the sum of all your payoffs"
        return self.prompt_for(
            observation,
            R=payoffs.R,
            S=payoffs.S,
            T=payoffs.T,
            P=payoffs.P,
            rules=rules,
            scoring=scoring,
            history=history,
            neighbours=neighbours,
            round=observation.round + 1,
        )
