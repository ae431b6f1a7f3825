"""The framings of a Life cell's prompt: the same facts in different words.

Every framing states the facts a Life-like rule reads (whether the cell is alive now, and
how many of its 8 neighbours are) and asks for the same answer, ``alive`` or ``dead``;
only the words around them change. The fields a template can use are ``state``
("alive" or "dead"), ``live_neighbours`` (0 to 8), ``are`` ("is" or "are", by
``live_neighbours``), ``rule`` (the model's rule in words followed by a space where
``rule_in_prompt`` is set, else empty) and ``instructions`` (how to answer). The facts
come last in each template, so that backends which cache prompt prefixes reuse the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mesa_llm import PromptTemplate
from mesa_llm_models.life.rules import LifeRule

__all__ = ["FRAMINGS", "NEUTRAL", "RULE_FIELD", "rule_statement"]

NEUTRAL = "neutral"
"""The default framing's name: a cell on a grid of cells, alive or dead, never naming a game."""

RULE_FIELD = "rule"
"""The field where a template states the rule (rendered empty without ``rule_in_prompt``)."""

FRAMINGS: Mapping[str, PromptTemplate] = MappingProxyType(
    {
        NEUTRAL: PromptTemplate(
            system="You are a cell on a square grid of cells whose edges wrap around, so that every "
            "cell has 8 neighbours.",
            user=(
                "Every cell is either alive or dead. At each step, all cells at once become alive or "
                "dead for the next step, depending on whether they are alive now and on how many of "
                "their 8 neighbours are alive now. {rule}{instructions}\n\n"
                "You are {state} now, and {live_neighbours} of your 8 neighbours {are} alive. "
                "Are you alive or dead in the next step?"
            ),
        ),
        "conway": PromptTemplate(
            system="You are a cell in Conway's Game of Life, on a board whose edges wrap around.",
            user=(
                "In each generation every cell is alive or dead, and all cells update at once from "
                "their own state and the number of live cells among their 8 neighbours. "
                "{rule}{instructions}\n\n"
                "In this generation you are {state}, and {live_neighbours} of your 8 neighbours "
                "{are} alive. Are you alive or dead in the next generation?"
            ),
        ),
        "lights": PromptTemplate(
            system="You are one lamp in a square panel of lamps whose edges wrap around, so that "
            "every lamp has 8 neighbouring lamps.",
            user=(
                "A lamp that is lit is called alive, and a dark one dead. At each tick, all lamps at "
                "once switch to alive or dead for the next tick, depending on whether they are alive "
                "now and on how many of their 8 neighbouring lamps are alive now. {rule}{instructions}\n\n"
                "You are {state} now, and {live_neighbours} of the 8 lamps around you {are} alive. "
                "Are you alive or dead at the next tick?"
            ),
        ),
    }
)
"""The built-in framings by name: ``neutral`` (the default: cells on a grid), ``conway`` (names
Conway's Game of Life, a cue for what a model retrieves) and ``lights`` (abstract: lamps on a panel)."""


def rule_statement(rule: LifeRule) -> str:
    """The ``rule`` field of a prompt that states ``rule``: "The rule: if you are dead and ... next. "."""
    return f"The rule: {rule.describe()} "
