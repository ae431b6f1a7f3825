"""Checks of the cooperation model's arguments: a wrong type or value fails at construction, named."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import networkx as nx

from mesa_llm.calibration.strategy import MemoryOne
from mesa_llm.checks import check_bool, check_instance, check_int, check_number
from mesa_llm_models.cooperation.agents import LLMPlayer
from mesa_llm_models.cooperation.game import Payoffs, parse_payoffs, strategy_mix

__all__ = ["ACTIVATIONS", "OPTIONS", "check_arguments", "check_options", "check_values"]

ACTIVATIONS = ("simultaneous", "random", "sequential")
"""The activation orders of :class:`~mesa_llm_models.cooperation.model.CooperationModel`."""

OPTIONS = {
    "neighbourhood": ("moore", "von_neumann"),
    "update": ("imitate", "keep"),
    "ties": ("keep", "first"),
    "scores": ("round", "cumulative"),
    "activation": ACTIVATIONS,
    "llm_imitation": ("llm", "rule"),
    "llm_moves": ("one", "each"),
    "llm_opening": ("strategy", "llm"),
}
"""The allowed values of each text option."""


def check_options(**options: Any) -> None:
    """Check text options (``name=value``) against :data:`OPTIONS`.

    Raises:
        TypeError: for an option that is not text.
        ValueError: for a value that is not allowed, listing those that are.
    """
    for name, value in options.items():
        allowed = ", ".join(map(repr, OPTIONS[name]))
        if not isinstance(value, str):
            raise TypeError(f"{name} must be one of {allowed} (text), got {value!r}.")
        if value not in OPTIONS[name]:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")


def check_values(
    *,
    width: int,
    height: int,
    torus: bool,
    graph: nx.Graph | None,
    update_every: int,
    imitate_first: bool,
    self_interaction: bool,
    require_dilemma: bool,
    llm_share: float,
) -> None:
    """Check the model's numbers, flags and objects.

    Raises:
        TypeError: naming the first argument of a wrong type and what to pass.
        ValueError: naming the first argument out of range and the range.
    """
    if check_int("width", width) < 1 or check_int("height", height) < 1:
        raise ValueError(f"width and height must be at least 1, got {width} x {height}.")
    check_int("update_every", update_every, minimum=1)
    for name, flag in (
        ("torus", torus),
        ("imitate_first", imitate_first),
        ("self_interaction", self_interaction),
        ("require_dilemma", require_dilemma),
    ):
        check_bool(name, flag)
    if not 0.0 <= check_number("llm_share", llm_share) <= 1.0:
        raise ValueError(f"llm_share must be a fraction in [0, 1], got {llm_share}.")
    check_instance("graph", graph, nx.Graph, "a networkx Graph or None (for a grid)")


def check_arguments(arguments: Mapping[str, Any]) -> tuple[Payoffs, list[str], list[float], MemoryOne]:
    """Check all of the model's arguments, by name, in the order the model checks them.

    Args:
        arguments: every argument of the model by name (extra names are ignored).

    Returns:
        The payoffs, the strategy mix (names and weights) and the memory-one strategy they give.

    Raises:
        TypeError: naming the first argument of a wrong type and what to pass.
        ValueError: for a value out of range, an unknown option, strategy or framing,
            payoffs that are not a dilemma when ``require_dilemma`` is set, a memory-one
            strategy that is not five probabilities, or LLM openings with ``imitate_first``.
    """
    check_options(**{name: arguments[name] for name in OPTIONS})
    check_values(**{name: arguments[name] for name in inspect.signature(check_values).parameters})
    if arguments["llm_opening"] == "llm" and arguments["imitate_first"]:
        raise ValueError(
            "llm_opening='llm' lets LLM players choose their move in the opening round, which "
            "imitate_first=True replaces by an imitation of the initial strategies' moves: choose one."
        )
    memory_one = MemoryOne.parse(arguments["memory_one"], name="memory_one")
    payoffs = parse_payoffs(arguments["payoffs"])
    if arguments["require_dilemma"] and not payoffs.is_dilemma:
        raise ValueError(
            f"{payoffs} is not a prisoner's dilemma: it needs T > R > P >= S. "
            "Pass require_dilemma=False to play another 2x2 game."
        )
    names, weights = strategy_mix(arguments["strategies"])
    LLMPlayer.framing(arguments["framing"], arguments["framings"])
    return payoffs, names, weights, memory_one
