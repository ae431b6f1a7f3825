"""Checks of the Schelling model's arguments: a wrong type or value fails at construction, named."""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from mesa_llm import PromptTemplate
from mesa_llm.checks import check_bool, check_instance, check_int, check_number
from mesa_llm_models.schelling.agents import LLMResident

__all__ = ["check_values"]


def check_values(
    *,
    width: int,
    height: int,
    density: float,
    minority_pc: float,
    homophily: float,
    radius: int,
    torus: bool,
    graph: nx.Graph | None,
    rule_threshold: float | None,
    move_intercept: float | None,
    move_slope: float | None,
    llm_share: float,
    llm_counts: Mapping[int, int] | None,
    framing: str,
    framings: Mapping[str, PromptTemplate] | None,
    tolerance: str | None,
    sequential: bool,
) -> None:
    """Check the model's parameters, all but the LLM runtime's.

    Raises:
        TypeError: naming the first parameter of a wrong type and what to pass.
        ValueError: naming the first parameter out of range and the range, or an unknown
            framing with the names there are.
    """
    if check_int("width", width) < 1 or check_int("height", height) < 1:
        raise ValueError(f"width and height must be at least 1, got {width} x {height}.")
    if not 0.0 <= check_number("density", density) < 1.0:
        raise ValueError(
            f"density must be in [0, 1), got {density}: residents need empty cells to move "
            "to, so the number of residents must stay below the number of cells."
        )
    for name, value in (("minority_pc", minority_pc), ("homophily", homophily), ("llm_share", llm_share)):
        if not 0.0 <= check_number(name, value) <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {value}.")
    if rule_threshold is not None and not 0.0 <= check_number("rule_threshold", rule_threshold) <= 1.0:
        raise ValueError(
            f"rule_threshold must be a fraction in [0, 1] or None (the homophily), got {rule_threshold}."
        )
    _check_logistic(move_intercept, move_slope)
    if tolerance is not None and (not isinstance(tolerance, str) or not tolerance.strip()):
        raise TypeError(
            f"tolerance must be a word or phrase such as 'very low' or 'high', or None, got {tolerance!r}."
        )
    if check_int("radius", radius) < 1:
        raise ValueError(f"radius must be a whole number of at least 1, got {radius}.")
    check_bool("torus", torus)
    check_bool("sequential", sequential)
    check_instance("graph", graph, nx.Graph, "a networkx Graph or None (for a grid)")
    if llm_counts is not None:
        _check_llm_counts(llm_counts, llm_share)
    LLMResident.framing(framing, framings)


def _check_llm_counts(llm_counts: Mapping[int, int], llm_share: float) -> None:
    """Raise a TypeError or ValueError unless ``llm_counts`` maps groups 0 and 1 to counts >= 0."""
    if not isinstance(llm_counts, Mapping):
        raise TypeError(
            f"llm_counts must map a group (0 or 1) to a number of LLM residents, such as "
            f"{{0: 10, 1: 5}}, got {llm_counts!r}."
        )
    if llm_share:
        raise ValueError("Give either llm_share or llm_counts, not both.")
    for group, k in llm_counts.items():
        check_int(f"llm_counts[{group!r}]", k)
        if isinstance(group, bool) or group not in (0, 1) or k < 0:
            raise ValueError(
                f"llm_counts maps a group (0 or 1) to a number of LLM residents >= 0, got {group!r}: {k}."
            )


def _check_logistic(intercept: float | None, slope: float | None) -> None:
    """Raise a TypeError or ValueError unless the logistic rule's settings are both numbers or both None."""
    if (intercept is None) != (slope is None):
        raise ValueError(
            "move_intercept and move_slope set the logistic rule together: give both "
            f"(logit P(move) = move_intercept + move_slope * share) or neither, got {intercept} and {slope}."
        )
    for name, value in (("move_intercept", intercept), ("move_slope", slope)):
        if value is not None:
            check_number(name, value)  # finite
