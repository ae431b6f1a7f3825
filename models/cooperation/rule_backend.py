"""The rule-following chat models of the cooperation scenario: they read the prompt and answer by a rule.

With :func:`rule_following_backend`, LLM players behave exactly like ALLC/ALLD rule
players that imitate (Mesa's PdGrid, Nowak and May); :func:`tit_for_tat_answer` answers an
:class:`~mesa_llm_models.cooperation.agents.LLMPartnerPlayer` as tit for tat. A run with
them proves that the prompt carries the facts the rule needs.
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
        """The move an imitating ALLC/ALLD player would make, read off the prompt."""
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


_EXCHANGE = re.compile(r"^\d+\. they played (\w+), you played", re.MULTILINE)


def tit_for_tat_answer(messages: list[BaseMessage]) -> str:
    """Answers an :class:`LLMPartnerPlayer`'s prompt as tit for tat: each neighbour's last move."""
    return json.dumps({"moves": _EXCHANGE.findall(str(messages[-1].content))})
