"""The framings of an LLM player's prompt: the same game in different words.

Every framing states the facts the imitation rule reads (the round, the player's last
move and score, each neighbour's last move and score) and asks for the same answer,
``cooperate`` or ``defect``; only the words around them change. Each framing has two
templates: for an :class:`~mesa_llm_models.cooperation.agents.LLMPlayer` (one move
towards all neighbours, :data:`ONE_MOVE`) and for an
:class:`~mesa_llm_models.cooperation.agents.LLMPartnerPlayer` (a move towards each,
:data:`EACH_MOVE`).

The fields a template can use: ``R``, ``S``, ``T``, ``P`` (the payoffs), ``rules`` (the
payoffs in a sentence), ``scoring`` ("this round's payoff" or "the sum of all your
payoffs"), ``round`` (the round starting, from 1), ``history`` (the player's last move
and score, or its opening move before the first round), ``neighbours`` (a line per
neighbour: its last move and score) and ``instructions`` (how to answer). ``history``
and ``neighbours`` are worded alike in every framing: the rule-following chat model
reads them. The facts that vary between players come last, so that backends which cache
prompt prefixes reuse the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mesa_llm import PromptTemplate

__all__ = ["EACH_MOVE", "NEUTRAL", "ONE_MOVE"]

NEUTRAL = "neutral"
"""The default framing's name: a repeated game with the neighbours, its payoffs in a sentence."""


def _framing(setting: str, choice: str, rules: str, partners: str) -> tuple[PromptTemplate, PromptTemplate]:
    """A framing's templates for one move towards all partners, and for a move towards each.

    Args:
        setting: the persona's first sentence, which names the partners ("them").
        choice: the two moves, as the persona states them.
        rules: the user message's beginning, the payoffs, ending with its separator.
        partners: what the partners are called ("neighbours"; "neighbour" with the "s" cut).
    """
    facts = rules + "Your score is {scoring}. {instructions}\n\nRound {round} is starting. {history}\n"
    one = PromptTemplate(
        system=f"{setting} Each round you choose one move for all of them: {choice}.",
        user=facts + f"Your {partners}' last moves and scores:\n{{neighbours}}\nDo you cooperate or defect?",
    )
    each = PromptTemplate(
        system=f"{setting} Each round you choose a move towards each of them: {choice}.",
        user=facts + f"Your {partners}, with the last moves between you and their scores:\n{{neighbours}}\n"
        f"What is your move towards each {partners.removesuffix('s')}?",
    )
    return one, each


_FRAMINGS = {
    NEUTRAL: _framing(
        "You play a repeated game with each of your neighbours.",
        "cooperate or defect",
        "{rules} ",
        "neighbours",
    ),
    "matrix": _framing(
        "You play an abstract two-player game, over and over, with each of the players next to you.",
        "cooperate or defect",
        "The payoffs of one game, yours first, then the other player's:\n"
        "| | they cooperate | they defect |\n"
        "| --- | --- | --- |\n"
        "| you cooperate | {R}, {R} | {S}, {T} |\n"
        "| you defect | {T}, {S} | {P}, {P} |\n",
        "opponents",
    ),
    "business": _framing(
        "You run a firm that does business with each of the firms next to yours.",
        "cooperate (deal honestly) or defect (take advantage of the partner)",
        "In a deal, if you and a partner both cooperate you each earn {R}; if you cooperate and the "
        "partner defects you earn {S} and they earn {T}; if you both defect you each earn {P}. ",
        "partners",
    ),
    "neighbours": _framing(
        "You live on a street and can help each of your neighbours out, or not.",
        "cooperate (help them) or defect (do not help)",
        "If you and a neighbour both help, you each gain {R}; if you help and they do not, you gain "
        "{S} and they gain {T}; if neither of you helps, you each gain {P}. ",
        "neighbours",
    ),
}

ONE_MOVE: Mapping[str, PromptTemplate] = MappingProxyType({name: one for name, (one, _) in _FRAMINGS.items()})
"""The built-in framings of an LLM player that makes one move towards all its neighbours, by name:
``neutral`` (the default), ``matrix`` (an abstract game with its payoff matrix), ``business``
(firms dealing with partner firms) and ``neighbours`` (neighbours helping each other)."""

EACH_MOVE: Mapping[str, PromptTemplate] = MappingProxyType(
    {name: each for name, (_, each) in _FRAMINGS.items()}
)
"""The same framings for an LLM player that makes a move towards each neighbour."""
