"""The rule-following chat models of the cooperation scenario: they read the prompt and answer by a rule.

With :func:`rule_following_backend`, LLM players (one move for all partners, or a move
towards each) behave exactly like ALLC/ALLD rule players that imitate (Mesa's PdGrid,
Nowak and May); :func:`tit_for_tat_answer` answers an
:class:`~mesa_llm_models.cooperation.agents.LLMPartnerPlayer` as tit for tat. A run with
them proves that the prompt carries the facts the rule needs.

Both read the prompt that states the round wherever it is among the messages, so they
answer a retry (the prompt, the unusable answer and a corrective message) as they
answered the first attempt.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel
from mesa_llm_models.cooperation.game import Move

__all__ = ["ImitationAnswer", "rule_following_backend", "tit_for_tat_answer"]

_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"

_ROUND = re.compile(r"Round (\d+) is starting")
_OWN = re.compile(r"you played (\w+) and your score is " + _NUMBER)
_OPENING = re.compile(r"Your opening move is (\w+)\.")
# a neighbour's line in an LLMPlayer's prompt, and in an LLMPartnerPlayer's
_NEIGHBOUR = re.compile(r"^- played (\w+), score " + _NUMBER + "$", re.MULTILINE)
_PARTNER = re.compile(r"^\d+\. they played (\w+), you played \w+, their score " + _NUMBER + "$", re.MULTILINE)
# an LLMPartnerPlayer's question, which asks for a move towards each neighbour
_EACH = "your move towards each neighbour"


def _prompt(messages: list[BaseMessage]) -> str:
    """The text of the first message that states the round: the prompt, also in a retry.

    Raises:
        ValueError: if no message states it.
    """
    for message in messages:
        text = str(message.content)
        if _ROUND.search(text):
            return text
    raise ValueError(
        "no message states the round ('Round N is starting'): this chat model answers only "
        "the prompts of the cooperation scenario's LLM players."
    )


@dataclass(frozen=True)
class ImitationAnswer:
    """Answers an LLM player's prompt as a rule player with unconditional strategies would.

    It reads the moves and scores from the prompt and, on an imitation round, plays the
    last move of the best-scoring player among the neighbours and itself (with the
    model's tie rule), otherwise repeats its own last move: with it, LLM players behave
    exactly like ALLC/ALLD rule players (PdGrid, Nowak and May). The prompt shows scores
    rounded (:func:`~mesa_llm_models.cooperation.agents.seen_score`), and the model's tie
    rule compares them so rounded too: both see the same ties. An
    :class:`~mesa_llm_models.cooperation.agents.LLMPlayer` gets the move;
    an :class:`~mesa_llm_models.cooperation.agents.LLMPartnerPlayer` gets
    ``{"moves": [...]}``, that move towards every neighbour.

    Attributes:
        ties: the model's ``ties`` rule.
        update_every: the model's rounds between imitation rounds.
        imitate_first: whether the model imitates before the first round.
        update: the model's ``update``; with ``"keep"`` nobody imitates.
    """

    ties: str
    update_every: int
    imitate_first: bool
    update: str = "imitate"

    def __call__(self, messages: list[BaseMessage]) -> str:
        """The move (or moves) an imitating ALLC/ALLD player would make, read off the prompt.

        Raises:
            ValueError: if no message states the round.
        """
        text = _prompt(messages)
        each = _EACH in text
        move = self._move(text, _PARTNER if each else _NEIGHBOUR)
        if each:
            return json.dumps({"moves": [move] * len(_PARTNER.findall(text))})
        return move

    def _move(self, text: str, neighbour_lines: re.Pattern[str]) -> str:
        played = int(_ROUND.search(text).group(1)) - 1  # type: ignore[union-attr]  # _prompt found it
        neighbours = [(m, float(s)) for m, s in neighbour_lines.findall(text)]
        own, opening = _OWN.search(text), _OPENING.search(text)
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
    ties: str = "keep", update_every: int = 1, imitate_first: bool = False, update: str = "imitate"
) -> FunctionChatModel:
    """A deterministic chat model with which LLM players play like imitating ALLC/ALLD rule players.

    Args:
        ties: the model's ``ties`` rule.
        update_every: the model's rounds between imitation rounds.
        imitate_first: whether the model imitates before the first round.
        update: the model's ``update`` (``"keep"``: nobody imitates).
    """
    answer = ImitationAnswer(ties, update_every, imitate_first, update)
    return FunctionChatModel(
        fn=answer, model_name=f"cooperation-imitation-{update}-{ties}-{update_every}-{imitate_first}"
    )


_EXCHANGE = re.compile(r"^\d+\. they played (\w+), you played", re.MULTILINE)


def tit_for_tat_answer(messages: list[BaseMessage]) -> str:
    """Answers an :class:`LLMPartnerPlayer`'s prompt as tit for tat: each neighbour's last move.

    Raises:
        ValueError: if no message states the round.
    """
    return json.dumps({"moves": _EXCHANGE.findall(_prompt(messages))})
