"""Action spaces: the typed set of actions an agent may take.

An action space wraps a type (a ``Literal``, an ``Enum`` or a pydantic model), parses a
language model's answer into it and declares the fallback used when no valid answer
can be obtained. Nothing a model says can produce an action outside the space.
"""

from __future__ import annotations

import enum
import functools
import json
import re
import typing
from collections.abc import Hashable
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, Field

__all__ = ["ActionParseError", "ActionSpace"]

_TOKEN = re.compile(r"\w+")


class ActionParseError(ValueError):
    """An answer could not be parsed into the action space."""


class ActionSpace[T]:
    """The actions an agent may take, how answers are parsed into them, and a fallback.

    Two kinds of space exist:

    * a *choice* space, from a ``Literal`` of strings/ints/bools or an ``Enum``: the
      answer must name exactly one option (tolerant of case, punctuation, quotes and
      surrounding words);
    * a *structured* space, from a pydantic model: the answer is a JSON object validated
      by the model.

    Args:
        type_: ``Literal[...]``, an ``Enum`` subclass or a pydantic ``BaseModel`` subclass.
        fallback: the action taken when no valid answer is obtained; must be in the space.
        description: what the action means, used in the instructions and the schema.

    Raises:
        TypeError: if ``type_`` is none of the supported kinds.
        ValueError: if ``fallback`` is not an action of the space.

    """

    def __init__(self, type_: Any, fallback: T, *, description: str = "") -> None:
        self.description = description
        self._schema: type[BaseModel]
        if typing.get_origin(type_) is Literal:
            self.options: tuple[T, ...] = tuple(typing.get_args(type_))
            self.kind = "choice"
        elif isinstance(type_, type) and issubclass(type_, enum.Enum):
            self.options = tuple(type_)
            self.kind = "choice"
        elif isinstance(type_, type) and issubclass(type_, BaseModel):
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
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"Action labels must be distinct, got {self.labels}.")
            self._by_label = {label.lower(): o for label, o in zip(self.labels, self.options, strict=True)}
            self._schema = pydantic.create_model(
                "Decision",
                action=(Literal[self.labels], Field(description=description or "the chosen action")),
            )
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
        """The pydantic model a structured-output backend is asked to fill."""
        return self._schema

    @functools.cached_property
    def schema_json(self) -> str:
        """The JSON schema of :attr:`schema`, as compact text."""
        return json.dumps(self._schema.model_json_schema(), separators=(",", ":"))

    def label(self, action: T) -> str:
        """A short text form of ``action`` for records and tables."""
        if self.kind == "choice":
            return self._label(action)
        return typing.cast(BaseModel, action).model_dump_json()

    def validate(self, value: Any) -> T:
        """Return ``value`` as an action of this space.

        Accepts an option (or its label) for a choice space, and an instance of the
        schema, a dict or a JSON string for a structured space.

        Raises:
            ActionParseError: if ``value`` is not an action of the space.

        """
        if self.kind == "choice":
            if isinstance(value, BaseModel) and hasattr(value, "action"):
                value = value.action
            if isinstance(value, Hashable) and value in self.options:
                return self.options[self.options.index(value)]
            if isinstance(value, str) and value.strip().lower() in self._by_label:
                return self._by_label[value.strip().lower()]
            raise ActionParseError(f"{value!r} is not one of {list(self.labels)}")
        try:
            if isinstance(value, self._schema):
                return typing.cast(T, value)
            if isinstance(value, str):
                return typing.cast(T, self._schema.model_validate_json(value))
            return typing.cast(T, self._schema.model_validate(value))
        except pydantic.ValidationError as exc:
            raise ActionParseError(f"answer does not match {self._schema.__name__}: {exc}") from exc

    def parse(self, text: str) -> T:
        """Parse a free-text answer into an action.

        For a choice space the answer may be an option in any case, quoted, followed by
        punctuation, wrapped in a sentence ("I will MOVE."), or a JSON object with one
        value; it is rejected when it names no option or several different ones.
        For a structured space the first JSON object in the text (code fences allowed)
        is validated against the schema.

        Raises:
            ActionParseError: if the answer cannot be read as exactly one action.

        """
        if self.kind == "structured":
            obj = _first_json_object(text)
            if obj is None:
                raise ActionParseError(f"no JSON object in the answer {text!r}")
            return self.validate(obj)
        lowered = text.strip().lower()
        if lowered in self._by_label:
            return self._by_label[lowered]
        if (obj := _json_values(lowered)) is not None:
            found = {v for v in obj if v in self._by_label}
            if len(found) == 1:
                return self._by_label[found.pop()]
        lines = [line for line in lowered.splitlines() if line.strip()]
        for scope in (lines[-1:], lines):
            found = self._mentioned(" ".join(scope))
            if len(found) == 1:
                return self._by_label[found.pop()]
        raise ActionParseError(
            f"the answer {text.strip()[:200]!r} does not name exactly one of {list(self.labels)}"
        )

    def _mentioned(self, text: str) -> set[str]:
        padded = f" {_words(text)} "
        return {label for label in self._by_label if f" {_words(label)} " in padded}

    def instructions(self) -> str:
        """The sentence appended to a prompt that tells the model how to answer."""
        if self.kind == "choice":
            options = ", ".join(f'"{label}"' for label in self.labels)
            return f"Answer with exactly one word, one of: {options}."
        return f"Answer with a single JSON object that matches this JSON schema: {self.schema_json}"

    def __repr__(self) -> str:
        inner = self.labels if self.kind == "choice" else self._schema.__name__
        return f"ActionSpace({inner}, fallback={self.fallback!r})"


def _first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (surrounding prose and code fences allowed)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    return None


def _json_values(text: str) -> list[str] | None:
    """The values of the first JSON object in ``text`` as lower-case strings, or None."""
    obj = _first_json_object(text)
    return None if obj is None else [str(v).strip().lower() for v in obj.values()]


def _words(text: str) -> str:
    """``text`` reduced to its lower-case words separated by single spaces."""
    return " ".join(_TOKEN.findall(text.lower()))
