"""The LLM player that chooses a move towards each neighbour (``llm_moves="each"``), and its answer."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model

from mesa_llm import ActionSpace, PromptTemplate
from mesa_llm_models.cooperation.agents import LLMPlayer
from mesa_llm_models.cooperation.framings import EACH_MOVE, NEUTRAL
from mesa_llm_models.cooperation.game import Move
from mesa_llm_models.cooperation.situation import Play, Situation, seen_score

__all__ = ["LLMPartnerPlayer", "partner_moves_space"]


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
        """One numbered line per neighbour: the last moves exchanged and its score (or: not played yet)."""
        if observation.unplayed:
            return "\n".join(f"{i}. has not played yet" for i in range(1, len(observation.neighbours) + 1))
        return "\n".join(
            f"{i}. they played {n.move}, you played {self.move_towards(n.id)}, "
            f"their score {seen_score(n.score)!r}"
            for i, n in enumerate(observation.neighbours, 1)
        )

    def rule_decide(self, observation: Situation) -> BaseModel:
        """The imitating rule player's move (see :meth:`LLMPlayer.rule_decide`) towards every neighbour."""
        move = super().rule_decide(observation)
        return self.action_space.validate({"moves": [move] * len(observation.neighbours)})

    def play(self, play: Any) -> None:
        """Play the answered move towards each neighbour."""
        if isinstance(play, BaseModel):
            moves = dict(zip((n.unique_id for n in self.neighbours), play.moves, strict=True))
            values = list(moves.values())
            move = (
                max((Move.COOPERATE, Move.DEFECT), key=values.count)
                if values
                else self.move or Move.COOPERATE
            )
            play = Play(self.strategy, move, moves)
        super().play(play)
