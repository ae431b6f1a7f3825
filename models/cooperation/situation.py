"""What a player observes and decides: its situation, its neighbours as it sees them, its play.

:class:`Situation` is the observation of every player, rule or LLM; :class:`Play` the
decision of a round; :func:`seen_score` a score as players see it in the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from mesa_llm_models.cooperation.game import Move

if TYPE_CHECKING:
    from mesa_llm_models.cooperation.agents import Player

__all__ = ["NO_MOVES", "SCORE_DECIMALS", "NeighbourView", "Play", "RuleFacts", "Situation", "seen_score"]


class _NoMoves(dict[int, Move]):
    """The empty, read-only moves of a player that plays one move towards every partner.

    One shared object, which pickles as a reference to itself. A ``dict`` underneath, so
    that reading it (``moves.get``, on the hot path of every payoff) runs at C speed.
    """

    __slots__ = ()

    def __hash__(self) -> int:  # immutable: usable as a dataclass default
        return 0

    def __reduce__(self) -> str:
        return "NO_MOVES"

    def _refuse(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("the shared empty moves are read-only: give the player a dict of its own")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse


NO_MOVES: Mapping[int, Move] = _NoMoves()

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

    @classmethod
    def given(
        cls,
        player: Player,
        round: int,
        move: Move | None,
        score: float,
        neighbours: Sequence[NeighbourView],
        imitate: bool,
    ) -> Situation:
        """A situation whose neighbours are given, not read off the model: what a probe asks.

        The probe of an implied strategy sets up a history the model could show (the
        moves, and the scores its payoffs give for them) without playing it.
        """
        situation = cls(round, move, score, player.strategy, imitate, player)
        situation._views = tuple(neighbours)
        return situation

    @property
    def unplayed(self) -> bool:
        """Whether the player is asked its opening move: the first round, with no move yet.

        So is an LLM player with the model's ``llm_opening="llm"``: nobody's opening move
        is known before it is made. Otherwise the initial strategies' opening moves are
        the initial condition, which a prompt before the first round (``imitate_first``)
        states as the last round's moves.
        """
        return self.round == 0 and self.move is None

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
    moves: Mapping[int, Move] = NO_MOVES
