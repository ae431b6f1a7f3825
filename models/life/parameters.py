"""Checks of the Life model's arguments: a wrong type or value fails at construction, named."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from mesa_llm import PromptTemplate
from mesa_llm.checks import check_bool, check_int, check_number
from mesa_llm_models.life.agents import LLMCell
from mesa_llm_models.life.framings import RULE_FIELD
from mesa_llm_models.life.patterns import GLIDER_SPAN
from mesa_llm_models.life.rules import LifeRule, RuleTable, parse_rule, parse_rule_table

__all__ = ["STARTS", "check_arguments", "check_values"]

STARTS = ("random", "glider")
"""The initial boards: cells alive at random, or a single glider."""

_SMALLEST = 3
"""The smallest width and height of a torus on which a cell's 8 neighbours are 8 distinct cells."""


def check_values(
    *,
    width: int,
    height: int,
    initial_fraction_alive: float,
    start: str,
    rule: LifeRule | str,
    rule_table: RuleTable | str | None,
    rule_in_prompt: bool,
    llm_share: float,
    framing: str,
    framings: Mapping[str, PromptTemplate] | None,
) -> tuple[LifeRule, RuleTable | None, PromptTemplate]:
    """Check the model's parameters, all but the LLM runtime's.

    Returns:
        The rule, the rule table (None for none) and the LLM cells' prompt template.

    Raises:
        TypeError: naming the first parameter of a wrong type and what to pass.
        ValueError: naming the first parameter out of range and the range, a rule or rule
            table that cannot be read (with the notation), an unknown start or framing
            (with the names there are), or a framing that cannot state the rule that
            ``rule_in_prompt`` asks it to.
    """
    if check_int("width", width) < _SMALLEST or check_int("height", height) < _SMALLEST:
        raise ValueError(
            f"width and height must be at least {_SMALLEST}, got {width} x {height}: on a smaller torus a "
            "cell's 8 neighbours are not 8 distinct cells."
        )
    for name, value in (("initial_fraction_alive", initial_fraction_alive), ("llm_share", llm_share)):
        if not 0.0 <= check_number(name, value) <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {value}.")
    if not isinstance(start, str):
        raise TypeError(f"start must be one of {', '.join(map(repr, STARTS))} (text), got {start!r}.")
    if start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(map(repr, STARTS))}, got {start!r}.")
    if start == "glider" and min(width, height) < GLIDER_SPAN:
        raise ValueError(
            f"start='glider' needs width and height of at least {GLIDER_SPAN}, got {width} x {height}: on a "
            "smaller torus the glider meets itself."
        )
    parsed_rule, table = parse_rule(rule), parse_rule_table(rule_table)
    check_bool("rule_in_prompt", rule_in_prompt)
    prompt = LLMCell.framing(framing, framings)
    if rule_in_prompt and RULE_FIELD not in prompt.fields:
        raise ValueError(
            f"The framing {framing!r} has no {{{RULE_FIELD}}} field, where rule_in_prompt=True states the "
            f"rule: put {{{RULE_FIELD}}} in its user template, or pass rule_in_prompt=False."
        )
    return parsed_rule, table, prompt


def check_arguments(arguments: Mapping[str, Any]) -> tuple[LifeRule, RuleTable | None, PromptTemplate]:
    """:func:`check_values` of the model's arguments, by name (other names are ignored)."""
    return check_values(**{name: arguments[name] for name in inspect.signature(check_values).parameters})
