"""Populations: the rule agents and the LLM agents of a model, and their reporters.

An agent belongs to the ``"llm"`` population when it decides with a language model (it is
a :class:`~mesa_llm.decider.ModelDecider`, such as every :class:`~mesa_llm.LLMDecider`),
and to the ``"rule"`` population otherwise. A scenario reports each metric for all agents
under its own name and for each population with a suffix (``pct_happy``,
``pct_happy_rule``, ``pct_happy_llm``), which is how the command line, the plots and the
dashboards split a metric by population (:func:`column`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np

from mesa_llm.decider import asks_model

__all__ = [
    "ALL",
    "LLM",
    "POPULATIONS",
    "RULE",
    "column",
    "label",
    "llm_share_indices",
    "per_population",
    "population",
    "ratio",
]

RULE: Final = "rule"
"""The population of agents that decide by a rule."""
LLM: Final = "llm"
"""The population of agents that decide with a language model."""
POPULATIONS: Final = (RULE, LLM)
"""Every population, in the order tables and plots show them."""
ALL: Final = "all"
"""The name of all agents together, beside the populations, in tables and plots."""


def population(agent: object) -> str:
    """:data:`LLM` for an agent that decides with a language model, :data:`RULE` otherwise."""
    return LLM if asks_model(agent) else RULE


def column(metric: str, group: str) -> str:
    """The reporter column of ``metric`` for a population, or for all agents (:data:`ALL`)."""
    return metric if group == ALL else f"{metric}_{group}"


def label(group: str) -> str:
    """How tables and plots name a population, or all agents: ``all``, ``rule``, ``LLM``."""
    return "LLM" if group == LLM else group


def per_population(metrics: Mapping[str, Callable[[Any, str], Any]]) -> dict[str, Callable[[Any], Any]]:
    """Model reporters of each metric for each population, for Mesa's ``DataCollector``.

    Args:
        metrics: each metric's name, and its value for one population (from the model and
            the population's name).

    Returns:
        The reporters ``{metric}_rule`` of every metric, then ``{metric}_llm`` of every metric.
    """
    return {
        column(metric, group): functools.partial(_of_population, value, group)
        for group in POPULATIONS
        for metric, value in metrics.items()
    }


def _of_population(value: Callable[[Any, str], Any], group: str, model: Any) -> Any:
    return value(model, group)


def ratio(total: float, n: int) -> float:
    """``total / n``, or NaN for none (the mean or share of a population without agents)."""
    return total / n if n else math.nan


def llm_share_indices(rng: np.random.Generator, n: int, share: float) -> set[int]:
    """Indices of ``round(share * n)`` of ``n`` agents, drawn without replacement.

    Draw from the model's numpy ``rng`` (``model.rng``), so the choice never perturbs the
    ``model.random`` trajectory of the rule dynamics. All or none are chosen without a draw.
    """
    k = round(share * n)
    if k in (0, n):
        return set(range(k))
    return {int(i) for i in rng.choice(n, size=k, replace=False)}
