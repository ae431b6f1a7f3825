"""Players of the spatial prisoner's dilemma: one base class, rule players and LLM players.

Every round each player chooses a move for each neighbour (its partners), payoffs are
computed in code from the payoff matrix, and every ``update_every`` rounds players may
imitate the strategy of the most successful player around them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from mesa.discrete_space import Cell, CellAgent
from pydantic import BaseModel, Field, create_model

from mesa_llm import ActionSpace, LLMDecider, PromptTemplate
from mesa_llm.populations import RULE
from mesa_llm_models.cooperation.framings import EACH_MOVE, NEUTRAL, ONE_MOVE
from mesa_llm_models.cooperation.game import Memory, Move, strategy_move

if TYPE_CHECKING:
    from mesa_llm_models.cooperation.model import CooperationModel

__all__ = [
    "LLMPartnerPlayer",
    "LLMPlayer",
    "NeighbourView",
    "Play",
    "Player",
    "RuleFacts",
    "RulePlayer",
    "Situation",
    "partner_moves_space",
    "seen_score",
]

C, D = Move.COOPERATE, Move.DEFECT


class _NoMoves(dict[int, Move]):
    """The empty, read-only moves of a player that plays one move towards every partner.

    One shared object, which pickles as a reference to itself. A ``dict`` underneath, so
    that reading it (``moves.get``, on the hot path of every payoff) runs at C speed.
    """

    __slots__ = ()

    def __hash__(self) -> int:  # immutable: usable as a dataclass default
        return 0

    def __reduce__(self) -> str:
        return "_NO_MOVES"

    def _refuse(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("the shared empty moves are read-only: give the player a dict of its own")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse


_NO_MOVES: Mapping[int, Move] = _NoMoves()

SCORE_DECIMALS = 6
"""The decimals of a score as players see it (in the prompt) and compare it (the tie rule)."""


def seen_score(score: float) -> float:
    """A score as players see and compare it: rounded to :data:`SCORE_DECIMALS` decimals.

    Sums of payoffs carry float noise (``1.6 + 1.6 + 1.6`` is ``4.800000000000001``, and
    the same payoffs summed in another order may not be): rounded, they are shown as
    ``4.8`` in the prompt, and scores that differ only by noise are equal for the model's
    tie rule (:meth:`~mesa_llm_models.cooperation.model.CooperationModel.model_of`) as for
    the rule-following chat model, which reads them off the prompt. Six decimals keep the
    scores of payoffs given with up to six decimals exact. Prompts write it with ``repr``,
    which reads back as the same float.
    """
    return round(score, SCORE_DECIMALS)


class NeighbourView(NamedTuple):
    """What a player sees of one neighbour: its id, last move towards the player, score and strategy."""

    id: int
    move: Move | None
    score: float
    strategy: str


@dataclass(slots=True, eq=False)
class Situation:
    """What a player observes at the start of a round.

    Attributes:
        round: rounds played so far.
        move: its own last move (towards most partners).
        score: its score as the model counts it (last round's payoff, or accumulated).
        strategy: its current strategy.
        imitate: whether this round starts with a strategy update.
        player: the observing player.
    """

    round: int
    move: Move | None
    score: float
    strategy: str
    imitate: bool
    player: Player = field(repr=False)
    _views: tuple[NeighbourView, ...] | None = field(default=None, init=False, repr=False)

    @property
    def neighbours(self) -> tuple[NeighbourView, ...]:
        """Each neighbour's last move towards the player, score and imitable strategy, in Mesa's order.

        Read when first asked for. Nothing changes between a player's observing and its
        deciding (the model applies moves only after), so rule players, which read their
        neighbours directly, never pay for building these; LLM players read them at once.
        """
        if self._views is None:
            me = self.player.unique_id
            self._views = tuple(
                NeighbourView(n.unique_id, n.moves.get(me, n.move), n.score, n.imitable)
                for n in self.player.neighbours
            )
        return self._views


class RuleFacts(NamedTuple):
    """What the imitation rule reads of a player's situation: how agreement with it is grouped.

    Attributes:
        imitation_round: whether the round starts with a strategy update.
        own_move: the player's last move.
        best_move: the last move of the best-scoring player among its neighbours and itself.
        own_is_best: whether that player is itself (by the model's ``ties`` rule).
    """

    imitation_round: bool
    own_move: Move | None
    best_move: Move | None
    own_is_best: bool


@dataclass(slots=True)
class Play:
    """A player's decision for a round.

    Attributes:
        strategy: its strategy from now on.
        move: its move towards most partners (cooperate on a tie), or towards all.
        moves: its move towards each partner where they differ; empty when ``move`` is
            played towards every partner.
    """

    strategy: str
    move: Move
    moves: Mapping[int, Move] = _NO_MOVES


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
        self.moves: Mapping[int, Move] = _NO_MOVES  # the move towards each partner, where not all get `move`
        self.neighbours: list[Player] = []  # set by the model once every player is placed
        # the last round, as the model recorded it at its end (what memory-one strategies read)
        self.last_move: Move | None = None
        self.last_moves: Mapping[int, Move] = _NO_MOVES
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

    def act(self, play: Play | Move) -> None:
        """Adopt the decided strategy and moves; in sequential activation, collect the payoff at once."""
        if isinstance(play, Move):  # one move for every partner
            self.move, self.moves = play, _NO_MOVES
        else:
            self.strategy, self.move, self.moves = play.strategy, play.move, play.moves
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
        """One line per neighbour: its last move and score."""
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
        if observation.round == 0:  # asked only with imitate_first; neighbours see its opening move
            history = f"You have not played yet. Your opening move is {observation.move}."
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


@functools.cache
def partner_moves_space(partners: int) -> ActionSpace:
    """The action space of a move towards each of ``partners`` neighbours, in the order listed.

    A JSON object ``{"moves": [...]}`` with exactly one move per neighbour (the length is
    in the schema, so constrained generation keeps it); the fallback cooperates with all.
    """
    schema: type[BaseModel] = create_model(
        f"MovesTowards{partners}Neighbours",
        moves=(
            list[Move],
            Field(min_length=partners, max_length=partners, description="one move per neighbour"),
        ),
    )
    return ActionSpace(
        schema, fallback=schema(moves=[Move.COOPERATE] * partners), description="a move per neighbour"
    )


class LLMPartnerPlayer(LLMPlayer):
    """An LLM player that chooses a move towards each neighbour (``llm_moves="each"``).

    It sees, for each neighbour, the last moves exchanged between them and the
    neighbour's score, and answers ``{"moves": [...]}`` in the order listed. A rule player
    imitating it copies the move it made to most partners.
    """

    action_space = partner_moves_space(0)  # replaced by the model once the neighbours are known
    framings: ClassVar[Mapping[str, PromptTemplate]] = EACH_MOVE
    prompt = EACH_MOVE[NEUTRAL]

    def neighbour_lines(self, observation: Situation) -> str:
        """One numbered line per neighbour: the last moves exchanged, and its score."""
        return "\n".join(
            f"{i}. they played {n.move}, you played {self.move_towards(n.id)}, "
            f"their score {seen_score(n.score)!r}"
            for i, n in enumerate(observation.neighbours, 1)
        )

    def rule_decide(self, observation: Situation) -> BaseModel:
        """The imitating rule player's move (see :meth:`LLMPlayer.rule_decide`) towards every neighbour."""
        move = super().rule_decide(observation)
        return self.action_space.validate({"moves": [move] * len(observation.neighbours)})

    def act(self, play: Any) -> None:
        """Play the answered move towards each neighbour."""
        if isinstance(play, BaseModel):
            moves = dict(zip((n.unique_id for n in self.neighbours), play.moves, strict=True))
            values = list(moves.values())
            move = max((C, D), key=values.count) if values else self.move
            play = Play(self.strategy, move, moves)
        super().act(play)
