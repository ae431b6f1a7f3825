"""Prompts: how an observation becomes the messages sent to a language model.

A prompt is a system message (the persona) and a user message rendered from a template
with ``str.format`` over the observation's fields, followed by the action space's answer
instructions (or with them where the template says ``{instructions}``). Messages are
``(role, content)`` pairs with LangChain's role names (``"system"``, ``"human"``,
``"ai"``), hashable so identical prompts can be recognised. Put the facts that vary
between agents at the end of the template: backends that cache prompt prefixes
(llama.cpp, OpenAI, Anthropic) then reuse the common beginning.

A scenario's *framings* are named templates that state the same facts in different words
(:func:`select_framing`); :meth:`PromptTemplate.parse` reads the facts back from a
rendered prompt, so that a deterministic chat model answering by the scenario's rule
works with any framing, a user's own included.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["Messages", "PromptTemplate", "observation_fields", "select_framing", "to_langchain"]

Messages = tuple[tuple[str, str], ...]


def observation_fields(observation: Any) -> Mapping[str, Any]:
    """The named fields of an observation: a mapping, a dataclass, a named tuple or a pydantic model.

    A dataclass's fields declared with ``repr=False`` (internal ones, such as a reference
    to the observing agent) are left out.

    Raises:
        TypeError: for an observation of any other kind, naming the kinds that work.
    """
    if isinstance(observation, Mapping):
        return observation
    if isinstance(observation, tuple) and hasattr(observation, "_asdict"):
        return observation._asdict()
    if dataclasses.is_dataclass(observation) and not isinstance(observation, type):
        return {f.name: getattr(observation, f.name) for f in dataclasses.fields(observation) if f.repr}
    if hasattr(observation, "model_dump"):
        return observation.model_dump()
    raise TypeError(
        f"Cannot render an observation of type {type(observation).__name__}: return a "
        "dataclass, a NamedTuple, a pydantic model or a mapping from observe()."
    )


@dataclasses.dataclass(frozen=True, slots=True)
class PromptTemplate:
    r"""A persona and a user-message template.

    Args:
        system: the system message (persona); empty for none.
        user: the user message, a ``str.format`` template over the observation's fields
            and any extra fields passed to :meth:`render`. The answer instructions are
            appended, or placed where it says ``{instructions}`` (to keep the facts that
            vary between agents at the end).

    Example:
        >>> t = PromptTemplate("You are a resident.", "{same} neighbours like you.")
        >>> t.render({"same": 3}, "Answer stay or move.")
        (('system', 'You are a resident.'), ('human', '3 neighbours like you.\n\nAnswer stay or move.'))

    """

    system: str
    user: str

    def render(self, observation: Any, instructions: str = "", **extra: Any) -> Messages:
        """The messages for ``observation``, with ``instructions`` appended.

        ``extra`` fields are rendered too, and replace observation fields of the same name.
        """
        inline = "{instructions}" in self.user
        fields = {**observation_fields(observation), **extra}  # extra fields win over the observation's
        if inline:
            fields["instructions"] = instructions
        try:
            text = self.user.format(**fields)
        except KeyError as exc:
            raise KeyError(
                f"The prompt template uses the field {exc} that the observation "
                f"{type(observation).__name__} does not have."
            ) from exc
        if instructions and not inline:
            text = f"{text}\n\n{instructions}"
        if self.system:
            return (("system", self.system), ("human", text))
        return (("human", text),)

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the fields the user message template renders, in order, each once.

        ``instructions`` is among them where the template places it.
        """
        parsed = string.Formatter().parse(self.user)
        return tuple(dict.fromkeys(name for _, name, _, _ in parsed if name is not None))

    def require_fields(self, names: Sequence[str], why: str) -> None:
        """Refuse a template whose user message does not state every field of ``names``.

        Args:
            names: the fields a reader of the prompt needs (a rule-following chat model's facts).
            why: the rest of the message after the missing fields: who reads them, and the fix.

        Raises:
            ValueError: "The framing's template does not state {a}, {b}, " followed by ``why``.
        """
        missing = [name for name in names if name not in self.fields]
        if missing:
            stated = ", ".join("{" + name + "}" for name in missing)
            raise ValueError(f"The framing's template does not state {stated}, {why}")

    def parse(self, text: str) -> dict[str, str]:
        r"""The fields of a user message this template rendered, as text: the inverse of :meth:`render`.

        The template becomes a regular expression in which every ``{field}`` matches any
        text (the shortest that lets the rest match) and everything else matches itself;
        a field used twice must render the same text both times. Instructions that
        :meth:`render` appended after a blank line are returned as ``instructions``.
        Values come back as the text they were rendered as (``"3"``, not ``3``). Where
        two fields meet with nothing between them (``{a}{b}``) the text cannot say where
        one ends, and the first gets the shortest text.

        Args:
            text: the content of a user (``"human"``) message.

        Example:
            >>> t = PromptTemplate("", "{same} neighbours like you, {other} unlike.")
            >>> t.parse("3 neighbours like you, 1 unlike.\n\nAnswer stay or move.")
            {'same': '3', 'other': '1', 'instructions': 'Answer stay or move.'}

        Raises:
            ValueError: if ``text`` does not match the template, quoting the words of the
                template it departs at.
        """
        pattern = _pattern(self.user)
        match = pattern.regex.fullmatch(text)
        if match is None:
            raise ValueError(pattern.mismatch(text))
        values = {}
        for group, (name, _) in zip(pattern.groups, pattern.fields, strict=True):
            value = match.group(group)
            if value is not None:
                values.setdefault(name, value)
        return values

    def parse_first(self, messages: Sequence[BaseMessage]) -> dict[str, str]:
        """The fields of the first user message of ``messages`` that this template rendered.

        So a retry (the prompt, an unusable answer and a corrective message) reads as its
        first attempt does: how a rule-following chat model reads the facts off its prompt.

        Raises:
            ValueError: if no user message matches, with the first one's mismatch (or
                "there is no user message.").
        """
        errors = []
        for message in messages:
            if message.type == "human":
                try:
                    return self.parse(str(message.content))
                except ValueError as exc:
                    errors.append(str(exc))
        raise ValueError(errors[0] if errors else "there is no user message.")


_FIELD = "(?s:.*?)"  # a field's text: any, the shortest that lets the rest match


@dataclasses.dataclass(frozen=True, slots=True)
class _Pattern:
    """A user message template as a regular expression, and how its groups map to fields.

    Attributes:
        pieces: the expression in order, one piece per literal text or field.
        shown: for each piece, how a message names it: its text quoted, or ``the field {name}``.
        fields: each distinct field occurrence (name, conversion and format spec).
        groups: each distinct field occurrence's group name.
        regex: the compiled expression of the whole message.
    """

    pieces: tuple[str, ...]
    shown: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    groups: tuple[str, ...]
    regex: re.Pattern[str]

    def mismatch(self, text: str) -> str:
        """Why ``text`` does not match: the part of the template it departs at, and the text there."""
        matched = 0  # where the text matched the template so far
        for end in range(1, len(self.pieces) + 1):
            found = re.match("".join(self.pieces[:end]), text)
            if found is None:
                return (
                    f"The text does not match the prompt template: it departs from it at "
                    f"{self.shown[end - 1]}, looked for in {_shorten(text[matched:])!r}. Parse a prompt "
                    "with the template that rendered it."
                )
            matched = found.end()
        return (
            "The text does not match the prompt template: it goes on after the template's end, with "
            f"{_shorten(text[matched:])!r}."
        )


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


@functools.lru_cache(maxsize=64)
def _pattern(user: str) -> _Pattern:
    """The regular expression of a user message template (cached: rule-following models parse often)."""
    pieces: list[str] = []
    shown: list[str] = []
    fields: list[tuple[str, str]] = []
    groups: list[str] = []
    for literal, name, spec, conversion in string.Formatter().parse(user):
        if literal:
            pieces.append(re.escape(literal))
            shown.append(repr(_shorten(literal, 60)))
        if name is None:
            continue
        key = (name, f"{conversion or ''}:{spec or ''}")
        if key in fields:  # the same field rendered the same way: the same text again
            pieces.append(f"(?P={groups[fields.index(key)]})")
        else:
            groups.append(f"f{len(groups)}")
            fields.append(key)
            pieces.append(f"(?P<{groups[-1]}>{_FIELD})")
        shown.append(f"the field {{{name}}}")
    if "{instructions}" not in user:  # render appends them after a blank line
        groups.append("instructions")
        fields.append(("instructions", ":"))
        pieces.append(f"(?:\n\n(?P<instructions>{_FIELD}))?")
        shown.append("the instructions")
    regex = re.compile("".join(pieces))
    return _Pattern(tuple(pieces), tuple(shown), tuple(fields), tuple(groups), regex)


def select_framing(
    name: str, built_in: Mapping[str, PromptTemplate], own: Mapping[str, PromptTemplate] | None = None
) -> PromptTemplate:
    """The template of the framing ``name``: a user's own framing of that name, else the built-in one.

    Args:
        name: the framing's name.
        built_in: the framings the agent class declares, by name.
        own: a user's framings, added to the built-in ones by name (one of an existing
            name replaces it); None for none.

    Example:
        >>> plain = PromptTemplate("", "{same} of yours, {other} not.")
        >>> select_framing("plain", {"neutral": PromptTemplate("", "{same}")}, {"plain": plain}) is plain
        True

    Raises:
        TypeError: for a name that is not text, or ``own`` that is not a mapping of names
            to :class:`PromptTemplate` objects.
        ValueError: for an unknown name, listing the framings there are.
    """
    if own is not None and not isinstance(own, Mapping):
        raise TypeError(
            "framings must map a framing's name to a PromptTemplate, such as "
            f"{{'plain': PromptTemplate(system=..., user=...)}}, got {type(own).__name__}."
        )
    available = {**built_in, **(own or {})}
    for key, template in (own or {}).items():
        if not isinstance(key, str) or not isinstance(template, PromptTemplate):
            raise TypeError(
                f"framings must map a framing's name (text) to a PromptTemplate, got {key!r}: "
                f"{type(template).__name__}."
            )
    if not isinstance(name, str):
        raise TypeError(
            f"framing must be the name of a framing (text), one of {', '.join(available)}; got {name!r}."
        )
    if name not in available:
        raise ValueError(
            f"Unknown framing {name!r}; the framings are: {', '.join(available)}. Add your own with "
            f"framings={{{name!r}: PromptTemplate(system=..., user=...)}}, or in a sweep file a "
            f"[framings.{name}] table with system and user."
        )
    return available[name]


def to_langchain(messages: Messages) -> list[BaseMessage]:
    """LangChain message objects for ``(role, content)`` pairs."""
    types = _message_types()
    return [types[role](content=content) for role, content in messages]


@functools.cache
def _message_types() -> Mapping[str, type[BaseMessage]]:
    """LangChain's message class of each role, imported at the first call (not with this module)."""
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    return {"system": SystemMessage, "human": HumanMessage, "ai": AIMessage}
