"""Action spaces: the typed set of actions an agent may take.

An action space wraps a type (a ``Literal``, an ``Enum`` or a pydantic model), parses a
language model's answer into it and declares the fallback used when no valid answer
can be obtained. Nothing a model says can produce an action outside the space: an answer
is read as an action, or rejected with :class:`ActionParseError` (and the runtime
retries, then falls back, counting both). Parsing takes time linear in the answer's
length and never raises anything else, whatever the text.

Two answer modes exist (:data:`ANSWER_MODES`): ``"direct"`` asks for the answer alone (one
word, or one JSON object), ``"reasoning"`` asks the model to reason in a few sentences
first and end with its final answer, which :meth:`ActionSpace.parse` then reads from the
end of the text.
"""

from __future__ import annotations

import collections
import enum
import functools
import json
import re
import sys
import typing
import unicodedata
from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["ANSWER_MODES", "ActionParseError", "ActionSpace", "AnswerMode", "check_answer_mode"]

AnswerMode = Literal["direct", "reasoning"]
#: How an answer is asked for: the answer alone, or free-text reasoning ending in the answer.
ANSWER_MODES: tuple[AnswerMode, ...] = ("direct", "reasoning")
_REASON_FIRST = "Think step by step in a few sentences about what to do"

# JSON objects nested deeper than this (objects and arrays together) are not read.
_MAX_DEPTH = 64
# What may surround a bare label ("Stay.", '"move"', "**stay**!") on the fast path of parse.
_PLAIN_PUNCTUATION = " \t\r\n.!'\"*`"
# Inside a candidate ``{...}``: a brace or bracket, or a JSON string (unclosed at the end).
_JSON_TOKEN = re.compile(r'[{}\[\]]|"(?:[^"\\]++|\\.)*+"?', re.DOTALL)

# Unicode format characters (category Cf: zero-width spaces and joiners, bidirectional
# controls, the soft hyphen, the byte-order mark, tags), which are invisible: removed.
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2018\u2019\u02bc", "'"))
# A word (apostrophes inside it kept: "don't") or the gap between two words.
_PIECE = re.compile(r"(\w+(?:'\w+)*)|(\W+)")
_SENTENCE_END = frozenset(".!?;:\n\r")
# Flags of a word: followed by something other than a space (or by the end of the text),
# and followed by the end of a sentence (one of _SENTENCE_END).
_PAUSE, _STOP = 1, 2

# A final-answer marker: "final answer:", "answer:", "decision:", "action:", "choice:"
# (optionally after "my"/"the", and "final"), at the start of a line or clause, in markdown too.
_MARKER = re.compile(
    r"(?:^|(?<=[.!?;,]))[ \t*_#>(\[\-]*+(?:(?:my|the)[ \t]++)?(?:final[ \t]++)?"
    r"(?:answer|decision|action|choice)[ \t*_]*+:",
    re.MULTILINE,
)
_LEADING_NON_WORDS = re.compile(r"\W*+")

# Words that negate an option that follows them; also any word ending in "n't", and
# "instead" when followed by "of".
_NEGATIONS = frozenset(
    {
        "not", "no", "never", "nor", "neither", "nope", "nah", "cannot", "cant", "dont", "doesnt",
        "didnt", "wont", "shouldnt", "wouldnt", "couldnt", "mustnt", "refuse", "refuses", "refused",
        "refusing", "without", "avoid", "avoids", "avoiding",
    }
)  # fmt: skip
# Words that start a new clause, out of the reach of an earlier negation ("Not sure, but stay").
_CLAUSE_STARTS = frozenset({"but", "however", "so", "therefore", "thus", "hence", "although", "though"})
# A negation reaches an option at most this many words later (7 words between them).
_NEGATION_REACH = 8
# How many words after an option a closing negation reaches ("Stay? No.", "move - not really").
_CLOSING_REACH = 3
_AFTER_CLOSING_NEGATION = frozenset({"really", "sure", "yet", "way"})


class ActionParseError(ValueError):
    """An answer could not be parsed into the action space."""


def check_answer_mode(value: Any) -> AnswerMode:
    """``value`` if it is one of the :data:`ANSWER_MODES`.

    Raises:
        ValueError: for anything else, naming the two modes.
    """
    if isinstance(value, str) and value in ANSWER_MODES:
        return typing.cast(AnswerMode, value)
    raise ValueError(
        f"answer_mode must be 'direct' (the answer alone: one word, or one JSON object) or "
        f"'reasoning' (a few sentences of reasoning, then the final answer), got {value!r}."
    )


class ActionSpace[T]:
    """The actions an agent may take, how answers are parsed into them, and a fallback.

    Two kinds of space exist:

    * a *choice* space, from a ``Literal`` of strings/ints/bools or an ``Enum``: the
      answer must name exactly one option, and not under a negation (tolerant of case,
      punctuation, quotes, markdown and surrounding words; see :meth:`parse` for the rules);
    * a *structured* space, from a pydantic model: the answer is a JSON object validated
      by the model.

    Answers and labels are compared after normalisation: Unicode format characters
    (category Cf: zero-width spaces and joiners, bidirectional controls, the soft hyphen)
    are removed, so "st\u200bay" is "stay"; NFKC normalisation turns full-width letters,
    ligatures and other compatibility forms into their plain letters ("ＭＯＶＥ" is
    "move"); curly apostrophes become straight; case is folded. Letters of another script
    stay what they are: "ѕtay" with a Cyrillic "ѕ" is not "stay", and names no option. So
    a confusable answer gives an option of the space or an :class:`ActionParseError`.

    Args:
        type_: ``Literal[...]``, an ``Enum`` subclass or a pydantic ``BaseModel`` subclass.
        fallback: the action taken when no valid answer is obtained; must be in the space.
        description: what the action means, used in the instructions and the schema.

    Raises:
        TypeError: if ``type_`` is none of the supported kinds.
        ValueError: if two labels are the same after normalisation (or the same words),
            or ``fallback`` is not an action of the space.

    """

    def __init__(self, type_: Any, fallback: T, *, description: str = "") -> None:
        self.description = description
        self._schema: type[BaseModel] | None = None
        if typing.get_origin(type_) is Literal:
            self.options: tuple[T, ...] = tuple(typing.get_args(type_))
            self.kind = "choice"
        elif isinstance(type_, type) and issubclass(type_, enum.Enum):
            self.options = tuple(type_)
            self.kind = "choice"
        elif isinstance(type_, type) and _is_pydantic(type_):
            self.options = ()
            self.kind = "structured"
            self._schema = type_
        else:
            raise TypeError(
                f"Unsupported action type {type_!r}: use Literal['a', 'b', ...], an Enum "
                "subclass, or a pydantic BaseModel subclass."
            )
        if self.kind == "choice":
            self.labels: tuple[str, ...] = tuple(self._label(o) for o in self.options)
            keys = [_normalise(label).strip() for label in self.labels]
            phrases = [_words(key) for key in keys]
            worded = [phrase for phrase in phrases if phrase]
            if len(set(keys)) < len(keys) or len(set(worded)) < len(worded):
                raise ValueError(
                    f"Action labels must be distinct, also ignoring case, punctuation and Unicode "
                    f"compatibility forms, got {self.labels}: rename the options that collide."
                )
            self._by_key = dict(zip(keys, self.options, strict=True))
            self._key_label = dict(zip(keys, self.labels, strict=True))
            # The labels that are words, by their first word, the longest first.
            self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
            for phrase, key in sorted(zip(phrases, keys, strict=True), key=lambda pk: -len(pk[0])):
                if phrase:
                    self._phrases.setdefault(phrase[0], []).append((phrase, key))
        else:
            self.labels = ()
        self.fallback: T = self.validate(fallback)

    @staticmethod
    def _label(option: Any) -> str:
        if isinstance(option, enum.Enum):
            return str(option.value) if isinstance(option.value, str) else option.name
        return str(option)

    @property
    def schema(self) -> type[BaseModel]:
        """The pydantic model a structured-output backend is asked to fill.

        A choice space's (one field, ``action``, one of the labels) is made when first
        asked for: pydantic takes a while to import, and rule agents never need it.
        """
        if self._schema is None:
            from pydantic import Field, create_model

            self._schema = create_model(
                "Decision",
                action=(Literal[self.labels], Field(description=self.description or "the chosen action")),
            )
        return self._schema

    @functools.cached_property
    def schema_json(self) -> str:
        """The JSON schema of :attr:`schema`, as compact text."""
        return json.dumps(self.schema.model_json_schema(), separators=(",", ":"))

    def label(self, action: T) -> str:
        """A short text form of ``action`` for records and tables."""
        if self.kind == "choice":
            return self._label(action)
        return typing.cast("BaseModel", action).model_dump_json()

    def validate(self, value: Any) -> T:
        """Return ``value`` as an action of this space.

        Accepts an option (or its label, normalised as in :class:`ActionSpace`) for a
        choice space, and an instance of the schema, a dict or a JSON string for a
        structured space.

        Raises:
            ActionParseError: if ``value`` is not an action of the space.

        """
        if self.kind == "choice":
            if _is_pydantic(type(value)) and hasattr(value, "action"):
                value = value.action
            if isinstance(value, Hashable) and value in self.options:
                return self.options[self.options.index(value)]
            if isinstance(value, str) and (key := _normalise(value).strip()) in self._by_key:
                return self._by_key[key]
            raise ActionParseError(f"{_excerpt(value)} is not one of {list(self.labels)}")
        from pydantic import ValidationError  # a structured space's schema imported pydantic

        schema = self.schema
        try:
            if isinstance(value, schema):
                return typing.cast(T, value)
            if isinstance(value, str):
                return typing.cast(T, schema.model_validate_json(value))
            return typing.cast(T, schema.model_validate(value))
        except ValidationError as exc:
            raise ActionParseError(f"answer does not match {schema.__name__}: {exc}") from exc

    def parse(self, text: str, mode: AnswerMode = "direct") -> T:
        """Parse a free-text answer into an action.

        In the ``"direct"`` mode (the default) the answer is read as below. In the
        ``"reasoning"`` mode the answer is free-text reasoning that ends with the final
        answer (see :meth:`instructions`), read from the end, so options the reasoning
        weighed before do not count: for a choice, the last final-answer marker followed
        by an option decides (rule 3), else the last non-empty line is read by the rules
        below; for a structured space, the last JSON object of the text is the answer.

        A *choice* answer is read, after normalisation (see :class:`ActionSpace`), by the
        first of these rules that applies:

        1. the whole answer is a label ("MOVE", "  stay ");
        2. it holds a JSON object whose values name exactly one option
           (``{"action": "move", "reason": "..."}``);
        3. it has final-answer markers: a line or clause starting with "final answer:",
           "answer:", "decision:", "action:" or "choice:" (optionally "my"/"the" and
           "final" before, markdown around). The last marker followed by an option decides
           alone, reading the rest of its line (or the next line, if its own is empty) by
           rule 4. "Weighing stay against move... Final answer: STAY" is stay;
        4. otherwise the whole answer must name exactly one option, as words ("I will
           MOVE.", "**stay**"), and never under a negation.

        Rejected: an answer naming no option ("", "hmm", "movement", "ѕtay" in Cyrillic);
        one naming several different options ("stay or move", "stay" and "move" on two
        lines, "I will stay, not move"); one that negates the option it names. A negation
        is "not", "no", "never", "nor", "neither", "cannot", a word ending in "n't" (also
        "dont", "wont", "cant", ..., and with a curly apostrophe), "refuse", "without",
        "avoid" or "instead of"; so "do not", "will not", "rather not" and "refuse to" are
        negations too. It negates an option that follows it with at most 7 words between
        them, in the same clause: a clause ends at ``. ! ? ; :`` or a line break, and
        "but", "however", "so", "therefore", "thus", "hence", "although" and "though" start
        a new one. A "no" followed by punctuation is an interjection and negates nothing
        after it. A negation within 3 words after the option that closes its sentence, or
        is followed by "really", "sure", "yet" or "way", negates it too. So "I will not
        stay", "Don't move.", "I don't think I should stay", "Stay? No." and "move - not
        really" are rejected; "Not sure, but stay", "No, I will stay." and "I'll stay, no
        doubt" are stay; "Not sure, stay" is rejected (its "not" reaches "stay"). When in
        doubt the parser rejects: a rejected answer is retried with the error as the
        corrective message, then replaced by the fallback, and both are counted. Labels
        made of no word characters ("+") are found only by rules 1 and 2.

        A *structured* answer is the first JSON object in the text (prose and code fences
        around it allowed), validated against the schema. Objects are found in one pass:
        each balanced top-level ``{...}`` (braces inside JSON strings do not count) is
        decoded on its own; one that is not valid JSON is skipped whole. An unclosed
        ``{``, or an object nested deeper than 64 levels, ends the search: no object.

        Raises:
            ActionParseError: if the answer cannot be read as exactly one action; its
                message names the problem (no option, several options, a negated
                option, no JSON object, a schema mismatch).

        """
        if self.kind == "structured":
            obj = _last_json_object(text) if mode == "reasoning" else _first_json_object(text)
            if obj is None:
                raise ActionParseError(
                    f"no JSON object in the answer {_excerpt(text)} (nested at most {_MAX_DEPTH} levels)"
                )
            return self.validate(obj)
        if mode == "reasoning":
            return self._parse_final(text)
        if text.isascii() and (key := text.strip(_PLAIN_PUNCTUATION).lower()) in self._by_key:
            return self._by_key[key]  # the common answer ("stay", "Move."), read fast
        normal = _normalise(text)
        if (key := normal.strip()) in self._by_key:
            return self._by_key[key]
        if (obj := _first_json_object(normal)) is not None:
            found = {k for v in obj.values() if (k := _normalise(str(v)).strip()) in self._by_key}
            if len(found) == 1:
                return self._by_key[found.pop()]
        if (mentions := self._final_marked(normal)) is not None:
            return self._decide(mentions, text)
        return self._decide(self._mentions(normal), text)

    def _parse_final(self, text: str) -> T:
        """The final answer of reasoning: after its last final-answer marker, else on its last line.

        Raises:
            ActionParseError: if neither names exactly one option (not negated).
        """
        normal = _normalise(text)
        if (mentions := self._final_marked(normal)) is not None:
            return self._decide(mentions, text)
        last = next((line for line in reversed(normal.splitlines()) if line.strip()), "")
        try:
            return self.parse(last)
        except ActionParseError:
            raise ActionParseError(
                f"the reasoning {_excerpt(text)} ends without a final answer (a last line naming exactly "
                f"one option): end it with a line 'Answer: <option>', <option> one of {list(self.labels)}"
            ) from None

    def _final_marked(self, normal: str) -> dict[str, bool] | None:
        """The options named after the last final-answer marker that names any (None if none does)."""
        limit = len(normal)  # a marker's text ends where the next marker starts
        for marker in reversed(list(_MARKER.finditer(normal))):
            if mentions := self._mentions(_marked(normal, marker, limit)):
                return mentions
            limit = marker.start()
        return None

    def _mentions(self, text: str) -> dict[str, bool]:
        """The options ``text`` names, each with whether a negation reaches it.

        Options are found left to right, the longest label first, without overlaps; the
        search stops at the second different option.
        """
        words, flags = _tokenise(text)
        found: dict[str, bool] = {}
        negation = -_NEGATION_REACH - 1  # the index of the last negation still in reach
        i = 0
        while i < len(words) and len(found) < 2:
            hit = self._phrase_at(words, i)
            if hit is None:
                if _negates(words, flags, i):
                    negation = i
                elif words[i] in _CLAUSE_STARTS:
                    negation = -_NEGATION_REACH - 1
                end = i + 1
            else:
                key, end = hit
                negated = i - negation <= _NEGATION_REACH or self._closing_negation(words, flags, end)
                found[key] = found.get(key, False) or negated
            if flags[end - 1] & _STOP:
                negation = -_NEGATION_REACH - 1
            i = end
        return found

    def _phrase_at(self, words: list[str], i: int) -> tuple[str, int] | None:
        """The key of the longest label whose words start at ``words[i]``, and where they end."""
        for phrase, key in self._phrases.get(words[i], ()):
            end = i + len(phrase)
            if tuple(words[i:end]) == phrase:
                return key, end
        return None

    def _closing_negation(self, words: list[str], flags: list[int], end: int) -> bool:
        """Whether one of the ``_CLOSING_REACH`` words from ``words[end]`` is a closing negation."""
        for j in range(end, min(end + _CLOSING_REACH, len(words))):
            closes = flags[j] & _PAUSE or (j + 1 < len(words) and words[j + 1] in _AFTER_CLOSING_NEGATION)
            if closes and _is_negation(words, j) and self._phrase_at(words, j) is None:
                return True
        return False

    def _decide(self, mentions: dict[str, bool], answer: str) -> T:
        """The one option in ``mentions``, or an ActionParseError explaining why there is none."""
        labels = list(self.labels)
        if not mentions:
            raise ActionParseError(
                f"the answer {_excerpt(answer)} names none of the options: answer with exactly one of "
                f"{labels}"
            )
        if len(mentions) > 1:
            named = ", ".join(repr(self._key_label[key]) for key in mentions)
            raise ActionParseError(
                f"the answer {_excerpt(answer)} names several options ({named}): answer with exactly "
                f"one of {labels}, or end with a line 'Final answer: <option>'"
            )
        ((key, negated),) = mentions.items()
        if negated:
            raise ActionParseError(
                f"the answer {_excerpt(answer)} negates an option ({self._key_label[key]!r}): answer "
                f"with exactly one of {labels}, the one you choose, without a negation"
            )
        return self._by_key[key]

    def instructions(self, mode: AnswerMode = "direct") -> str:
        """The sentence appended to a prompt that tells the model how to answer.

        Args:
            mode: ``"direct"`` asks for the answer alone (one word of a choice, one JSON
                object of a structured space); ``"reasoning"`` asks for a few sentences of
                reasoning first, ending with a line ``Answer: <option>`` (a choice) or with
                the JSON object (a structured space).
        """
        if self.kind == "choice":
            options = ", ".join(f'"{label}"' for label in self.labels)
            if mode == "reasoning":
                return (
                    f'{_REASON_FIRST}, then end with a final line "Answer: <option>", where <option> '
                    f"is exactly one of: {options}."
                )
            return f"Answer with exactly one word, one of: {options}."
        if mode == "reasoning":
            return (
                f"{_REASON_FIRST}, then end with a single JSON object that matches this JSON schema: "
                f"{self.schema_json}"
            )
        return f"Answer with a single JSON object that matches this JSON schema: {self.schema_json}"

    def __repr__(self) -> str:
        inner = self.labels if self.kind == "choice" else self.schema.__name__
        return f"ActionSpace({inner}, fallback={self.fallback!r})"


def _is_pydantic(cls: type) -> bool:
    """Whether ``cls`` is a pydantic model class, without importing pydantic.

    No pydantic model exists before pydantic's module that defines ``BaseModel`` has been
    imported, so while it is not loaded the answer is ``False``.
    """
    module = sys.modules.get("pydantic.main")
    return module is not None and issubclass(cls, module.BaseModel)


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (surrounding prose and code fences allowed), in one pass.

    Each balanced top-level ``{...}`` is decoded alone and, if it is not JSON, skipped
    whole. An unclosed ``{`` or nesting deeper than ``_MAX_DEPTH`` ends the search.
    """
    start = text.find("{")
    nested = text.count("{") + text.count("[")
    if start != -1 and nested <= _MAX_DEPTH and text.rstrip().endswith("}"):  # the answer is the object
        try:
            obj = json.loads(text[start:])
        except (ValueError, RecursionError):  # something else: scan for it
            obj = None
        if isinstance(obj, dict):
            return obj
    return next(_json_objects(text), None)


def _last_json_object(text: str) -> dict[str, Any] | None:
    """The last JSON object in ``text`` found as :func:`_first_json_object` finds the first, in one pass."""
    last = collections.deque(_json_objects(text), maxlen=1)
    return last[0] if last else None


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """The top-level JSON objects of ``text``, in order (see :func:`_first_json_object`)."""
    start = text.find("{")
    while start != -1:
        end = _object_end(text, start)
        if end is None:
            return
        try:
            obj = json.loads(text[start:end])
        except ValueError:  # not JSON, or an integer too long to convert
            obj = None
        if isinstance(obj, dict):
            yield obj
        start = text.find("{", end)


def _object_end(text: str, start: int) -> int | None:
    """Where the ``{`` at ``start`` is closed (braces in JSON strings ignored), if within depth."""
    braces = brackets = 0
    for token in _JSON_TOKEN.finditer(text, start):
        char = token[0]
        if char == "{":
            braces += 1
        elif char == "}":
            braces -= 1
            if braces == 0:
                return token.end()
        elif char == "[":
            brackets += 1
        elif char == "]":
            brackets = max(brackets - 1, 0)
        if braces + brackets > _MAX_DEPTH:
            return None
    return None


def _normalise(text: str) -> str:
    """``text`` without format characters, NFKC-normalised, with straight apostrophes, case-folded."""
    return unicodedata.normalize("NFKC", _FORMAT.sub("", text)).translate(_APOSTROPHES).casefold()


def _tokenise(text: str) -> tuple[list[str], list[int]]:
    """The words of a normalised ``text``, and the ``_PAUSE``/``_STOP`` flags of each."""
    words: list[str] = []
    flags: list[int] = []
    for word, gap in _PIECE.findall(text):
        if word:
            words.append(word)
            flags.append(0)
        elif words:
            flags[-1] |= (0 if gap.isspace() else _PAUSE) | (_STOP if _SENTENCE_END.intersection(gap) else 0)
    if flags:
        flags[-1] |= _PAUSE
    return words, flags


def _words(text: str) -> tuple[str, ...]:
    """The words of a normalised ``text``."""
    return tuple(_tokenise(text)[0])


def _is_negation(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` is a negation word."""
    word = words[i]
    if word == "instead":
        return i + 1 < len(words) and words[i + 1] == "of"
    return word in _NEGATIONS or word.endswith("n't")


def _negates(words: list[str], flags: list[int], i: int) -> bool:
    """Whether ``words[i]`` negates what follows it (a "no" followed by punctuation does not)."""
    return _is_negation(words, i) and not (words[i] == "no" and flags[i] & _PAUSE)


def _marked(text: str, marker: re.Match[str], limit: int) -> str:
    """The text a final-answer marker introduces before ``limit``: the rest of its line, or the next line."""
    start = _LEADING_NON_WORDS.match(text, marker.end()).end()  # type: ignore[union-attr]
    end = text.find("\n", start, limit)
    return text[start : limit if end == -1 else end]


def _excerpt(value: Any) -> str:
    """``value`` as a short quotation for an error message (a text is stripped, cut at 200 characters)."""
    if not isinstance(value, str):
        return repr(value)
    text = value.strip()
    return repr(text) if len(text) <= 200 else f"{text[:200]!r}..."
