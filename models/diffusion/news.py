"""The event's news: the sentence that tells it, and the matcher that finds it in a text.

Whether a resident knows of the event is decided by a deterministic matcher, never by a
language model: a text *states the event* when it names the event's place and its
starting hour (:func:`states_event`). The same reading of a text gives its *claims*, every
place of the town and every hour it names (:func:`claims_of`), from which the interview's
hallucinations are found: an answer that names a place or an hour that no memory of the
resident names.

Places are recognised by their name without its article ("Linden Café" in "the Linden
Café"), or by their id where the id is a word of its own ("cafe", "park"), ignoring case
and accents. Hours are recognised in the forms ``17:00``, ``17.00``, ``17h``, ``5 pm``,
``5pm``, ``5 p.m.``, ``5:30 pm``, ``5 o'clock`` and the same with the hour in words
(``five pm``, ``five o'clock``); an hour without am or pm (``5 o'clock``, ``5:00``) may be
either of its two hours of the day, and matches both.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mesa_llm_models.diffusion.town import Event, Place, Town

__all__ = ["Claims", "claims_of", "clock", "hour_text", "news_sentence", "states_event"]

_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
_HOUR = r"(\d{1,2}|" + "|".join(_WORDS) + r")"
_MERIDIEM = r"(a\.?\s?m\.?|p\.?\s?m\.?)"
# 17:00, 5:30 pm, 5.00; 17h; 5 pm; 5 o'clock; five in the evening.
_TIMES = (
    re.compile(rf"\b(\d{{1,2}})[:.](\d{{2}})(?:\s*{_MERIDIEM}(?!\w))?(?!\d)"),
    re.compile(r"\b(\d{1,2})\s?h\b"),
    re.compile(rf"\b{_HOUR}\s*{_MERIDIEM}(?!\w)"),
    re.compile(rf"\b{_HOUR}\s+o'?\s?clock\b"),
)


def clock(hour: int, minute: int = 0) -> str:
    """An hour of the day as ``17:00``."""
    return f"{hour:02d}:{minute:02d}"


def hour_text(hour: int) -> str:
    """An hour as people say it: ``17:00 (5 pm)``; ``24`` is midnight."""
    twelve = hour % 12 or 12
    return f"{clock(hour % 24)} ({twelve} {'am' if hour % 24 < 12 else 'pm'})"


def news_sentence(event: Event, town: Town) -> str:
    """The fixed sentence a rule resident tells: the event's host, title, place, day and hours."""
    place = town.places[event.place].name
    return (
        f"{event.host} is holding {event.title} at {place} on day {event.day}, from "
        f"{hour_text(event.start)} to {hour_text(event.end)}. Everyone is welcome!"
    )


@dataclass(frozen=True, slots=True)
class Claims:
    """The places and hours a text names.

    Attributes:
        places: the ids of the town's places it names.
        hours: the hours of the day it names; each mention is the set of hours it may mean
            (``{17}`` for "17:00" or "5 pm", ``{5, 17}`` for "5 o'clock").
    """

    places: frozenset[str]
    hours: tuple[frozenset[int], ...]

    def names_hour(self, hour: int) -> bool:
        """Whether some mention may mean ``hour``."""
        return any(hour % 24 in mention for mention in self.hours)

    def unsupported(self, known: Claims) -> Claims:
        """What this text names that ``known`` (a resident's memories) does not."""
        return Claims(
            self.places - known.places,
            tuple(m for m in self.hours if not any(m & other for other in known.hours)),
        )

    @property
    def empty(self) -> bool:
        """Whether it names no place and no hour."""
        return not self.places and not self.hours


def claims_of(text: str, places: Iterable[Place]) -> Claims:
    """The places (of ``places``) and the hours ``text`` names."""
    folded = _fold(text)
    named = frozenset(place.id for place in places if any(p.search(folded) for p in _place_patterns(place)))
    return Claims(named, tuple(_hours(folded)))


def states_event(text: str, event: Event, places: Iterable[Place]) -> bool:
    """Whether ``text`` names the event's place and its starting hour (the matcher of the module)."""
    claims = claims_of(text, places)
    return event.place in claims.places and claims.names_hour(event.start)


def _fold(text: str) -> str:
    """``text`` lower-cased, without accents, with curly apostrophes straight."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@functools.cache
def _place_patterns(place: Place) -> tuple[re.Pattern[str], ...]:
    """How a place is recognised: its name without the article, and its id where it is a word."""
    forms = {re.sub(r"^(the|a|an)\s+", "", _fold(place.name).strip())}
    if re.fullmatch(r"[a-z]+", place.id):
        forms.add(place.id)
    return tuple(
        re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, form.split())) + r"(?!\w)") for form in forms
    )


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _WORDS.index(word) + 1


def _hours(text: str) -> list[frozenset[int]]:
    """The hour mentions of a folded text, each as the hours it may mean, in order."""
    found: list[tuple[int, frozenset[int]]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _TIMES:
        for match in pattern.finditer(text):
            span = match.span()
            if any(start < span[1] and span[0] < end for start, end in taken):
                continue  # already read by an earlier form (5:30 pm, not also 30 pm)
            hours = _meaning(match)
            if hours:
                taken.append(span)
                found.append((span[0], hours))
    return [hours for _, hours in sorted(found, key=lambda item: item[0])]


def _meaning(match: re.Match[str]) -> frozenset[int]:
    """The hours a time mention may mean (empty for none: 25:00, 13 pm)."""
    groups = match.groups()
    hour = _number(groups[0])
    meridiem = next((g for g in groups[1:] if g and not g.isdigit()), None)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return frozenset()
        base = hour % 12
        return frozenset({base + 12 if meridiem.startswith("p") else base})
    if hour > 24:
        return frozenset()
    if hour > 12 or hour == 0 or match.re.pattern.endswith(r"h\b"):
        return frozenset({hour % 24})
    return frozenset({hour % 12, hour % 12 + 12})
