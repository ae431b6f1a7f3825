"""The small town of the diffusion scenario: its places, its residents and the seeded event.

A town is a JSON object with three keys:

``places``
    A list of ``{"id": ..., "name": ..., "kind": ...}``: ``id`` is how the rest of the file
    refers to the place, ``name`` how a prompt names it ("the Linden Café"), ``kind`` is
    ``"home"`` (a household's home) or ``"public"`` (where residents meet).
``residents``
    A list of personas, each ``{"name", "age", "occupation", "traits", "home", "schedule",
    "relationships"}``. ``home`` is the id of a place of kind ``"home"`` (a household shares
    one). ``schedule`` maps each waking hour (``"0"`` to ``"23"``; JSON keys are text) to the
    id of the place the resident usually is at that hour, the same every day; the hours it
    does not list it is asleep at home. The waking hours are one contiguous block within a
    day (no block across midnight). ``relationships`` maps another resident's name to how
    this resident knows them, in the second person as its persona reads them ("your
    husband", "the gardener you help on Saturdays"); every relationship is listed on both
    sides, each in its own words.
``event``
    ``{"host", "title", "place", "day", "start", "end"}``: a resident plans ``title`` at a
    public place on game day ``day`` (from 1), from hour ``start`` to hour ``end``
    (exclusive, at most 24).

:func:`load_town` reads the shipped ``town.json`` (25 residents, a Valentine's Day party at
the café on day 2 from 17:00 to 19:00), another file of this format, or already-parsed data,
and checks it: a mistake fails at load with a message naming the resident, place or field
and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx

from mesa_llm.checks import check_instance, check_int

__all__ = ["HOURS", "Event", "Persona", "Place", "Town", "load_town"]

HOURS = 24
"""The hours of a day; a schedule's hours are ``0`` to ``HOURS - 1``."""

_TOP_KEYS = ("places", "residents", "event")
_PLACE_KEYS = ("id", "name", "kind")
_RESIDENT_KEYS = ("name", "age", "occupation", "traits", "home", "schedule", "relationships")
_EVENT_KEYS = ("host", "title", "place", "day", "start", "end")
_NAMES_SHOWN = 5
_PLACE_KINDS = ("home", "public")


@dataclass(frozen=True)
class Place:
    """A place of the town.

    Attributes:
        id: how the town's data refers to it ("cafe").
        name: how a prompt names it ("the Linden Café").
        kind: ``"home"`` (a household's home) or ``"public"`` (where residents meet).
    """

    id: str
    name: str
    kind: str


@dataclass(frozen=True)
class Persona:
    """A resident: who they are, where they usually are, whom they know.

    Attributes:
        name: the resident's full name, unique in the town.
        age: in years.
        occupation: a noun phrase ("owner of the Linden Café").
        traits: a short list of traits ("warm, organised, loves bringing people together").
        home: the id of the place of kind ``"home"`` where it sleeps.
        schedule: waking hour (0-23) -> the id of the place it usually is at then.
        relationships: another resident's name -> how this resident knows them.
    """

    name: str
    age: int
    occupation: str
    traits: str
    home: str
    schedule: Mapping[int, str]
    relationships: Mapping[str, str]

    def awake(self, hour: int) -> bool:
        """Whether the resident is awake at ``hour`` (taken modulo 24: hour 25 is 1 a.m.)."""
        return check_int("hour", hour) % HOURS in self.schedule

    def usual_place(self, hour: int) -> str:
        """The id of the place the resident usually is at ``hour`` (modulo 24): its home when asleep."""
        return self.schedule.get(check_int("hour", hour) % HOURS, self.home)

    def describe(self) -> str:
        """A paragraph in the second person for a system prompt: who the resident is and when it is up.

        It does not list the relationships: a scenario states the acquaintances it uses.
        """
        hours = sorted(self.schedule)
        text = (
            f"You are {self.name}, {self.age}, {self.occupation.rstrip('. ')}. "
            f"Your traits: {self.traits.rstrip('. ')}."
        )
        if hours:
            bedtime = "midnight" if hours[-1] == HOURS - 1 else f"{hours[-1] + 1}:00"
            text += f" You are usually up from {hours[0]}:00 until {bedtime}."
        return text


@dataclass(frozen=True)
class Event:
    """The seeded event: what the host plans, where and when.

    Attributes:
        host: the name of the resident who plans it.
        title: what it is, as a prompt names it ("a Valentine's Day party").
        place: the id of a public place.
        day: the game day, from 1.
        start: its first hour, 0-23.
        end: the hour it ends (exclusive), ``start < end <= 24``.
    """

    host: str
    title: str
    place: str
    day: int
    start: int
    end: int


@dataclass(frozen=True)
class Town:
    """The places, the residents and the seeded event, as :func:`load_town` checked them.

    Attributes:
        places: the places by id, in file order (read-only).
        personas: the residents, in file order; a resident's position is its graph node.
        event: the seeded event.
    """

    places: Mapping[str, Place]
    personas: tuple[Persona, ...]
    event: Event
    _positions: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        positions = {persona.name: position for position, persona in enumerate(self.personas)}
        object.__setattr__(self, "_positions", MappingProxyType(positions))

    def persona(self, name: str) -> Persona:
        """The resident named ``name``.

        Raises:
            KeyError: for a name of no resident; the message names some of those there are.
        """
        return self.personas[self.index(name)]

    def index(self, name: str) -> int:
        """The position of the resident named ``name`` in :attr:`personas` (its graph node).

        Raises:
            KeyError: for a name of no resident; the message names some of those there are.
        """
        try:
            return self._positions[name]
        except KeyError:
            raise KeyError(f"no resident is named {name!r}; the residents are {self._some_names()}") from None

    def public_places(self) -> tuple[Place, ...]:
        """The places of kind ``"public"``, in file order."""
        return tuple(place for place in self.places.values() if place.kind == "public")

    def relationship_graph(self) -> nx.Graph:
        """A new graph of who knows whom.

        Its nodes are the residents' positions ``0..n-1``, each with the attribute ``name``;
        an edge joins two residents who know each other, with the attribute ``description``:
        each of the two names -> how that one describes the other.
        """
        graph = nx.Graph()
        graph.add_nodes_from(
            (position, {"name": persona.name}) for position, persona in enumerate(self.personas)
        )
        for position, persona in enumerate(self.personas):
            for other, description in persona.relationships.items():
                other_position = self._positions[other]
                if position < other_position:
                    descriptions = {
                        persona.name: description,
                        other: self.personas[other_position].relationships[persona.name],
                    }
                    graph.add_edge(position, other_position, description=descriptions)
        return graph

    def _some_names(self) -> str:
        names = ", ".join(persona.name for persona in self.personas[:_NAMES_SHOWN])
        more = len(self.personas) - _NAMES_SHOWN
        return names + (f" and {more} more" if more > 0 else "")


def load_town(source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> Town:
    """Read and check a town.

    Args:
        source: None for the shipped ``town.json``; the path of a JSON file of the format
            this module describes; or such data already parsed.

    Raises:
        TypeError: for a source or a field of the wrong type.
        ValueError: for a file that is not JSON, or data that breaks the format: unknown or
            missing keys, duplicate names or place ids, a home that is not a home, a schedule
            hour out of range, at an unknown place or outside one contiguous block, a
            relationship with an unknown resident, oneself or listed on one side only, an
            event with an unknown host or a place that is not public, a day before 1 or hours
            out of order, fewer than two residents.
    """
    if source is None:
        text = resources.files("mesa_llm_models.diffusion").joinpath("town.json").read_text(encoding="utf-8")
        return _parse(_decode(text, "the shipped town.json"))
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return _parse(_decode(path.read_text(encoding="utf-8"), str(path)))
    if isinstance(source, Mapping):
        return _parse(source)
    raise TypeError(
        f"source must be None (the shipped town), the path of a JSON file or a mapping of parsed data, "
        f"got {type(source).__name__}."
    )


def _decode(text: str, origin: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{origin} is not valid JSON: {exc}") from None


def _parse(data: Any) -> Town:
    _keys("the town", _mapping("the town", data), _TOP_KEYS)
    places = _places(data["places"])
    residents = _sequence("residents", data["residents"], "a list of residents")
    if len(residents) < 2:
        raise ValueError(f"a town needs at least 2 residents, got {len(residents)}; add residents.")
    personas = [_persona(position, entry, places) for position, entry in enumerate(residents)]
    names = [persona.name for persona in personas]
    for position, name in enumerate(names):
        if name in names[:position]:
            raise ValueError(f"two residents are named {name!r}; give each resident a unique name.")
    _check_relationships(personas)
    event = _event(data["event"], places, set(names))
    return Town(places=MappingProxyType(places), personas=tuple(personas), event=event)


def _places(value: Any) -> dict[str, Place]:
    places: dict[str, Place] = {}
    for position, entry in enumerate(_sequence("places", value, "a list of places")):
        label = f"places[{position}]"
        _keys(label, _mapping(label, entry), _PLACE_KEYS)
        place_id = _text(f"{label} id", entry["id"])
        label = f"place {place_id!r}"
        if place_id in places:
            raise ValueError(f"two places have the id {place_id!r}; give each place a unique id.")
        kind = _text(f"{label} kind", entry["kind"])
        if kind not in _PLACE_KINDS:
            raise ValueError(f"{label} kind must be 'home' or 'public', got {kind!r}.")
        places[place_id] = Place(id=place_id, name=_text(f"{label} name", entry["name"]), kind=kind)
    return places


def _persona(position: int, entry: Any, places: Mapping[str, Place]) -> Persona:
    label = f"residents[{position}]"
    _keys(label, _mapping(label, entry), _RESIDENT_KEYS)
    name = _text(f"{label} name", entry["name"])
    label = f"resident {name!r}"
    home = _text(f"{label} home", entry["home"])
    if home not in places:
        raise ValueError(f"{label} home {home!r} is no place; use the id of a place of kind 'home'.")
    if places[home].kind != "home":
        raise ValueError(
            f"{label} home {home!r} is a {places[home].kind} place; use the id of a place of kind 'home'."
        )
    relationships = _mapping(f"{label} relationships", entry["relationships"])
    return Persona(
        name=name,
        age=check_int(f"{label} age", entry["age"], minimum=0),
        occupation=_text(f"{label} occupation", entry["occupation"]),
        traits=_text(f"{label} traits", entry["traits"]),
        home=home,
        schedule=MappingProxyType(_schedule(label, entry["schedule"], places)),
        relationships=MappingProxyType(
            {
                _text(f"a name in {label} relationships", other): _text(
                    f"{label} relationship with {other!r}", text
                )
                for other, text in relationships.items()
            }
        ),
    )


def _schedule(label: str, value: Any, places: Mapping[str, Place]) -> dict[int, str]:
    schedule: dict[int, str] = {}
    for key, place in _mapping(f"{label} schedule", value).items():
        hour = _hour(f"{label} schedule hour {key!r}", key)
        if hour in schedule:
            raise ValueError(f"{label} schedule lists hour {hour} twice; list each hour once.")
        place = _text(f"{label} schedule at hour {hour}", place)
        if place not in places:
            raise ValueError(
                f"{label} schedule at hour {hour} names no place, {place!r}; use one of the place ids "
                f"({', '.join(places)})."
            )
        schedule[hour] = place
    if not schedule:
        raise ValueError(f"{label} schedule is empty; list the resident's waking hours.")
    hours = sorted(schedule)
    missing = sorted(set(range(hours[0], hours[-1] + 1)) - set(hours))
    if missing:
        raise ValueError(
            f"{label} schedule is not one contiguous block of waking hours: hours "
            f"{', '.join(map(str, missing))} are missing between {hours[0]} and {hours[-1]}; list every "
            f"hour of the block (a resident is awake once a day, within 0-23)."
        )
    return {hour: schedule[hour] for hour in hours}


def _hour(label: str, key: Any) -> int:
    if isinstance(key, str):
        try:
            key = int(key)
        except ValueError:
            raise ValueError(f"{label} is not an hour; use a whole number 0-23.") from None
    return check_int(label, key, minimum=0, maximum=HOURS - 1)


def _check_relationships(personas: Sequence[Persona]) -> None:
    by_name = {persona.name: persona for persona in personas}
    for persona in personas:
        for other in persona.relationships:
            if other == persona.name:
                raise ValueError(f"resident {persona.name!r} lists itself in its relationships; remove it.")
            if other not in by_name:
                raise ValueError(
                    f"resident {persona.name!r} has a relationship with {other!r}, who is no resident; "
                    f"fix the name or add the resident."
                )
            if persona.name not in by_name[other].relationships:
                raise ValueError(
                    f"resident {persona.name!r} lists {other!r} but {other!r} does not list "
                    f"{persona.name!r}: the side of {other!r} is missing; add {persona.name!r} to the "
                    f"relationships of {other!r}, with how {other} knows {persona.name}."
                )


def _event(value: Any, places: Mapping[str, Place], names: set[str]) -> Event:
    _keys("the event", _mapping("the event", value), _EVENT_KEYS)
    host = _text("the event host", value["host"])
    if host not in names:
        raise ValueError(f"the event host {host!r} is no resident; name one of the residents.")
    place = _text("the event place", value["place"])
    if place not in places:
        raise ValueError(f"the event place {place!r} is no place; use the id of a public place.")
    if places[place].kind != "public":
        raise ValueError(
            f"the event place {place!r} is a {places[place].kind} place; use the id of a public place."
        )
    start = check_int("the event start", value["start"], minimum=0, maximum=HOURS - 1)
    end = check_int("the event end", value["end"], maximum=HOURS)
    if end <= start:
        raise ValueError(
            f"the event must start before it ends: start {start}, end {end}; make start < end <= 24."
        )
    return Event(
        host=host,
        title=_text("the event title", value["title"]),
        place=place,
        day=check_int("the event day", value["day"], minimum=1),
        start=start,
        end=end,
    )


def _keys(label: str, entry: Mapping[str, Any], expected: tuple[str, ...]) -> None:
    unknown = [key for key in entry if key not in expected]
    if unknown:
        raise ValueError(
            f"{label} has unknown keys {', '.join(map(repr, unknown))}; the keys are {', '.join(expected)}."
        )
    missing = [key for key in expected if key not in entry]
    if missing:
        raise ValueError(
            f"{label} lacks {', '.join(map(repr, missing))}; the keys are {', '.join(expected)}."
        )


def _mapping(label: str, value: Any) -> Mapping[Any, Any]:
    return _required(label, value, Mapping, "a JSON object (a mapping)")


def _sequence(label: str, value: Any, what: str) -> Sequence[Any]:
    if isinstance(value, str | bytes):
        raise TypeError(f"{label} must be {what}, got {type(value).__name__}.")
    return _required(label, value, Sequence, what)


def _text(label: str, value: Any) -> str:
    text = _required(label, value, str, "text")
    if not text.strip():
        raise ValueError(f"{label} is empty; write it out.")
    return text


def _required[T](label: str, value: Any, kind: type[T], what: str) -> T:
    if value is None:
        raise TypeError(f"{label} must be {what}, got None.")
    return check_instance(label, value, kind, what)
