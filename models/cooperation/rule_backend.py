"""The rule-following chat models of the cooperation scenario: they read the prompt and answer by a rule.

With :func:`rule_following_backend`, LLM players (one move for all partners, or a move
towards each) behave exactly like ALLC/ALLD rule players that imitate (Mesa's PdGrid,
Nowak and May); :func:`tit_for_tat_answer` answers an
:class:`~mesa_llm_models.cooperation.partners.LLMPartnerPlayer` as tit for tat. A run with
them proves that the prompt carries the facts the rule needs.

Both read the prompt with the templates of the players' framing
(:meth:`~mesa_llm.PromptTemplate.parse`), a user's own included: the first user message
that is such a prompt, so they answer a retry (the prompt, the unusable answer and a
corrective message) as they answered the first attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesa_llm import PromptTemplate
from mesa_llm_models.cooperation.agents import LLMPlayer
from mesa_llm_models.cooperation.framings import EACH_MOVE, NEUTRAL, ONE_MOVE
from mesa_llm_models.cooperation.game import Move
from mesa_llm_models.cooperation.partners import LLMPartnerPlayer

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from mesa_llm import FunctionChatModel

__all__ = ["ImitationAnswer", "TitForTatAnswer", "rule_following_backend", "tit_for_tat_answer"]

_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"

# the facts of the fields the framings share: history, and a neighbour's line for each kind of player
_OWN = re.compile(r"you played (\w+) and your score is " + _NUMBER)
_OPENING = re.compile(r"Your opening move is (\w+)\.")
_NEIGHBOUR = re.compile(r"^- played (\w+), score " + _NUMBER + "$", re.MULTILINE)
_PARTNER = re.compile(r"^\d+\. they played (\w+), you played \w+, their score " + _NUMBER + "$", re.MULTILINE)
_PARTNER_LINE = re.compile(r"^\d+\. (?:they played (\w+), you played|has not played yet)", re.MULTILINE)
# the instructions of a move towards each neighbour ask for a JSON object of "moves"
_EACH = '"moves"'
_FACTS = ("round", "history", "neighbours")
"""The fields of a player's prompt that the rules read."""


@dataclass(frozen=True)
class _Prompts:
    """The templates of a framing, for both kinds of LLM player; they find and read the prompt.

    Attributes:
        one: the template of an LLMPlayer's prompt (one move towards all neighbours).
        each: the template of an LLMPartnerPlayer's prompt (a move towards each).
    """

    one: PromptTemplate = ONE_MOVE[NEUTRAL]
    each: PromptTemplate = EACH_MOVE[NEUTRAL]

    def __post_init__(self) -> None:
        for template in {self.one, self.each}:
            template.require_fields(
                _FACTS,
                "which the rules read: the rule-following chat models cannot answer it. Put the round, "
                "the history and the neighbours in its user template.",
            )

    def read(self, messages: list[BaseMessage]) -> tuple[dict[str, str], bool]:
        """The fields of the first user message that is a player's prompt, and whether it asks for each move.

        The prompt comes before an unusable answer and the corrective message of a retry,
        so a retry is read as its first attempt.

        Raises:
            ValueError: if no user message is a prompt of the framing.
        """
        errors = []
        for message in messages:
            if message.type != "human":
                continue
            text = str(message.content)
            each = _EACH in text
            try:
                return (self.each if each else self.one).parse(text), each
            except ValueError as exc:
                errors.append(str(exc))
        reason = errors[0] if errors else "there is no user message."
        raise ValueError(
            "no message states the round in the framing's words: this chat model answers only the prompts "
            f"of the cooperation scenario's LLM players, in their framing. {reason}"
        )


def _prompts(framing: str, framings: Mapping[str, PromptTemplate] | None) -> _Prompts:
    """The templates of the framing ``framing`` (a user's own in ``framings`` serves both kinds of player)."""
    return _Prompts(LLMPlayer.framing(framing, framings), LLMPartnerPlayer.framing(framing, framings))


@dataclass(frozen=True)
class ImitationAnswer:
    """Answers an LLM player's prompt as a rule player with unconditional strategies would.

    It reads the moves and scores from the prompt (with the framing's templates, see
    :meth:`~mesa_llm.PromptTemplate.parse`) and, on an imitation round, plays the
    last move of the best-scoring player among the neighbours and itself (with the
    model's tie rule), otherwise repeats its own last move: with it, LLM players behave
    exactly like ALLC/ALLD rule players (PdGrid, Nowak and May). Asked for an opening
    move (``llm_opening="llm"``), it cooperates. The prompt shows scores
    rounded (:func:`~mesa_llm_models.cooperation.agents.seen_score`), and the model's tie
    rule compares them so rounded too: both see the same ties. An
    :class:`~mesa_llm_models.cooperation.agents.LLMPlayer` gets the move;
    an :class:`~mesa_llm_models.cooperation.partners.LLMPartnerPlayer` gets
    ``{"moves": [...]}``, that move towards every neighbour.

    Attributes:
        ties: the model's ``ties`` rule.
        update_every: the model's rounds between imitation rounds.
        imitate_first: whether the model imitates before the first round.
        update: the model's ``update``; with ``"keep"`` nobody imitates.
        prompts: the framing's templates (the ``neutral`` framing's by default). Left out
            of the repr, which names the chat model in the cache: the prompts, also in
            the cache key, already differ between framings.
    """

    ties: str
    update_every: int
    imitate_first: bool
    update: str = "imitate"
    prompts: _Prompts = field(default=_Prompts(), repr=False)

    def __call__(self, messages: list[BaseMessage]) -> str:
        """The move (or moves) an imitating ALLC/ALLD player would make, read off the prompt.

        Raises:
            ValueError: if no message is a prompt of the framing.
        """
        facts, each = self.prompts.read(messages)
        neighbours = [
            (m, float(s)) for m, s in (_PARTNER if each else _NEIGHBOUR).findall(facts["neighbours"])
        ]
        move = self._move(int(facts["round"]) - 1, facts["history"], neighbours)
        if not each:
            return move
        return json.dumps({"moves": [move] * len(_PARTNER_LINE.findall(facts["neighbours"]))})

    def _move(self, played: int, history: str, neighbours: list[tuple[str, float]]) -> str:
        own, opening = _OWN.search(history), _OPENING.search(history)
        if own is not None:
            mine, score = own.group(1), float(own.group(2))
        else:  # the first round: its opening move (stated when it imitates first), no score yet
            mine, score = (opening.group(1) if opening else None), 0.0
        imitate = self.update == "imitate" and played % self.update_every == 0
        imitate &= played > 0 or self.imitate_first
        if not imitate or not neighbours:
            return mine or Move.COOPERATE
        best_move, best_score = max(neighbours, key=lambda n: n[1])
        if mine is not None and (score > best_score or (self.ties == "keep" and score >= best_score)):
            return mine
        return best_move


def rule_following_backend(
    ties: str = "keep",
    update_every: int = 1,
    imitate_first: bool = False,
    update: str = "imitate",
    framing: str = NEUTRAL,
    framings: Mapping[str, PromptTemplate] | None = None,
) -> FunctionChatModel:
    """A deterministic chat model with which LLM players play like imitating ALLC/ALLD rule players.

    Args:
        ties: the model's ``ties`` rule.
        update_every: the model's rounds between imitation rounds.
        imitate_first: whether the model imitates before the first round.
        update: the model's ``update`` (``"keep"``: nobody imitates).
        framing: the model's ``framing``: the name of the prompts' framing.
        framings: the model's ``framings``: a user's own framings, by name.

    Raises:
        TypeError: for framings that do not map names to prompt templates.
        ValueError: for an unknown framing, or one that does not state the facts the rule reads.
    """
    from mesa_llm import FunctionChatModel  # LangChain's chat models: imported on use

    answer = ImitationAnswer(ties, update_every, imitate_first, update, _prompts(framing, framings))
    return FunctionChatModel(
        fn=answer, model_name=f"cooperation-imitation-{update}-{ties}-{update_every}-{imitate_first}"
    )


@dataclass(frozen=True)
class TitForTatAnswer:
    """Answers an :class:`LLMPartnerPlayer`'s prompt as tit for tat: each neighbour's last move.

    Attributes:
        prompts: the framing's templates (the ``neutral`` framing's by default), left out
            of the repr as for :class:`ImitationAnswer`.
    """

    prompts: _Prompts = field(default=_Prompts(), repr=False)

    @classmethod
    def of(
        cls, framing: str = NEUTRAL, framings: Mapping[str, PromptTemplate] | None = None
    ) -> TitForTatAnswer:
        """Tit for tat for the prompts of the framing ``framing`` (a user's own in ``framings``)."""
        return cls(_prompts(framing, framings))

    def __call__(self, messages: list[BaseMessage]) -> str:
        """``{"moves": [...]}``, each neighbour's last move towards the player (cooperate before any).

        Raises:
            ValueError: if no message is a prompt of the framing.
        """
        facts, _ = self.prompts.read(messages)
        moves = [theirs or Move.COOPERATE for theirs in _PARTNER_LINE.findall(facts["neighbours"])]
        return json.dumps({"moves": moves})


tit_for_tat_answer = TitForTatAnswer()
"""Tit for tat for the ``neutral`` framing's prompts (:meth:`TitForTatAnswer.of` for another)."""
