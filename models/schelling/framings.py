"""The framings of a Schelling resident's prompt: the same neighbourhood in different words.

Every framing states the counts Schelling's rule reads (``same``, ``other``, ``empty``)
and asks for the same answer, ``stay`` or ``move``; only the words around them change.
The fields a template can use are the :class:`~mesa_llm_models.schelling.agents.Neighbourhood`'s
``same``, ``other`` and ``empty``, and ``cells`` (their sum), ``homes`` ("home" or
"homes", by ``cells``), ``cells_are``, ``same_are`` and ``empty_are`` ("is" or "are", by
the count) and ``instructions`` (how to answer). The counts come last in each template,
so that backends which cache prompt prefixes reuse the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from mesa_llm import PromptTemplate

__all__ = ["FRAMINGS", "NEUTRAL", "TOLERANCE", "llm_prompt"]

TOLERANCE = "Your tolerance of neighbours unlike you is {tolerance}."
"""The persona sentence of the ``tolerance`` knob, added to a framing's system prompt."""

NEUTRAL = "neutral"
"""The default framing's name: residents of a town, their own group and the other group."""

FRAMINGS: Mapping[str, PromptTemplate] = MappingProxyType(
    {
        NEUTRAL: PromptTemplate(
            system="You are a resident of a town, deciding whether to keep living in your home.",
            user=(
                "Each day you decide whether to stay in your home or move to a randomly chosen "
                "empty home elsewhere in town. {instructions}\n\n"
                "Today, around your home there {cells_are} {cells} {homes}: {same} of them {same_are} "
                "occupied by people of your own group, {other} by people of the other group, and "
                "{empty} {empty_are} empty. Do you stay or move?"
            ),
        ),
        "colours": PromptTemplate(
            system="You move a coloured token on a board of squares, one token per square.",
            user=(
                "Each turn you either keep your token on its square or move it to a randomly chosen "
                "empty square elsewhere on the board. {instructions}\n\n"
                "The squares around your token now: {same} with a token of your colour, {other} with "
                "a token of the other colour, {empty} empty. Do you stay or move?"
            ),
        ),
        "social": PromptTemplate(
            system=(
                "You are a person deciding where to live, among neighbours who may or may not be like you."
            ),
            user=(
                "Each day you decide whether to stay in your home or move to a randomly chosen "
                "empty home elsewhere. {instructions}\n\n"
                "Today, of the {cells} {homes} next to yours, {same} {same_are} home to people like "
                "you, {other} to people unlike you, and {empty} {empty_are} empty. Do you stay or move?"
            ),
        ),
    }
)
"""The built-in framings by name: ``neutral`` (the default), ``colours`` (abstract: tokens on a
board) and ``social`` (people like you or unlike you)."""


def llm_prompt(template: PromptTemplate, tolerance: str | None = None) -> PromptTemplate:
    """A framing's template with the ``tolerance`` knob's sentence added to its persona (None: as is)."""
    if tolerance is None:
        return template
    return replace(template, system=f"{template.system} {TOLERANCE.format(tolerance=tolerance)}")
