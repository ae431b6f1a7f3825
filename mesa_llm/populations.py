"""Populations: the rule agents and the LLM agents of a model, and their reporters.

An agent belongs to the ``"llm"`` population when it decides with a language model (it is
a :class:`~mesa_llm.decider.ModelDecider`, such as every :class:`~mesa_llm.LLMDecider`),
and to the ``"rule"`` population otherwise. A scenario reports each metric for all agents
under its own name and for each population with a suffix (``pct_happy``,
``pct_happy_rule``, ``pct_happy_llm``), which is how the command line, the plots and the
dashboards split a metric by population (:func:`column`).

For a model of your own:

- :func:`choose_llm` draws which of ``n`` agents decide with a language model, from the
  model's numpy rng, so that the rule dynamics' ``model.random`` trajectory is untouched;
- :func:`by_population` gives the reporters of any agent-level measure (an attribute or a
  function of an agent) for all agents and for each population;
- :func:`per_population` those of any model-level measure computed for one population.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import numpy as np

from mesa_llm.checks import check_int, check_number
from mesa_llm.decider import asks_model

__all__ = [
    "ALL",
    "LLM",
    "POPULATIONS",
    "RULE",
    "by_population",
    "choose_llm",
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

    Raises:
        TypeError: for an ``n`` that is not a whole number or a ``share`` that is not a number.
        ValueError: for a negative ``n`` or a ``share`` outside [0, 1].
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator such as model.rng, got {rng!r}.")
    check_int("n (the number of agents)", n, minimum=0)
    if not 0.0 <= check_number("llm_share", share) <= 1.0:
        raise ValueError(f"llm_share must be a fraction in [0, 1], got {share}.")
    k = round(share * n)
    if k in (0, n):
        return set(range(k))
    return {int(i) for i in rng.choice(n, size=k, replace=False)}


def choose_llm(model: Any, n: int, llm_share: float) -> set[int]:
    """Which of ``n`` agents decide with a language model: ``round(llm_share * n)`` indices.

    Drawn from ``model.rng`` (numpy), never from ``model.random``: a model whose rule
    dynamics draw from ``model.random`` (Mesa's examples do) then has the same rule
    trajectory at every share, and ``llm_share=0`` reproduces the all-rule model exactly.
    Create agent ``i`` as an LLM agent when ``i`` is in the set::

        llm = choose_llm(self, len(nodes), llm_share)
        for i, node in enumerate(nodes):
            cls = LLMVirusAgent if i in llm else VirusAgent

    Raises:
        TypeError: for a ``model`` without a numpy ``rng``, an ``n`` that is not a whole
            number or an ``llm_share`` that is not a number.
        ValueError: for a negative ``n`` or an ``llm_share`` outside [0, 1].
    """
    return llm_share_indices(getattr(model, "rng", None), n, llm_share)


Aggregate = Literal["mean", "sum", "count"]


def by_population(
    measures: Mapping[str, str | Callable[[Any], Any]], how: Aggregate = "mean"
) -> dict[str, Callable[[Any], Any]]:
    """Model reporters of agent-level measures, for all agents and for each population.

    Args:
        measures: each measure's name, and an agent attribute name or a function of one
            agent (``{"infected": lambda a: a.state is State.INFECTED}``).
        how: ``"mean"`` (NaN for a population without agents; the share of a flag),
            ``"sum"`` or ``"count"`` (of agents whose value is truthy).

    Returns:
        For each measure, the reporters ``{name}`` (all agents), ``{name}_rule`` and
        ``{name}_llm`` (:func:`column`), for Mesa's ``DataCollector``. Populations are those
        of :func:`population`.

    Raises:
        TypeError: for a measure that is neither an attribute name nor a function.
        ValueError: for an unknown ``how``.
    """
    if how not in _AGGREGATES:
        raise ValueError(f"how must be one of {', '.join(map(repr, _AGGREGATES))}, got {how!r}.")
    reporters: dict[str, Callable[[Any], Any]] = {}
    for name, measure in measures.items():
        if isinstance(measure, str):
            measure = operator.attrgetter(measure)
        elif not callable(measure):
            raise TypeError(
                f"measure {name!r} must be an agent attribute name or a function of an agent, "
                f"got {measure!r}."
            )
        for group in (ALL, *POPULATIONS):
            reporters[column(name, group)] = functools.partial(_aggregate, measure, how, group)
    return reporters


def _aggregate(measure: Callable[[Any], Any], how: Aggregate, group: str, model: Any) -> Any:
    values = [measure(a) for a in model.agents if group == ALL or population(a) == group]
    if how == "count":
        return sum(map(bool, values))
    total = sum(values)
    return total if how == "sum" else ratio(total, len(values))


_AGGREGATES: Final = ("mean", "sum", "count")
