"""Reading a model's parameters: evaluated annotations, scalar types and docstring descriptions as plain text.

The helpers of :meth:`~mesa_llm.lab.specs.ScenarioSpec.parameters`. A description is
shown by a command line's help and a dashboard's controls, so it is plain text: a Sphinx
role becomes its text (``:class:`~a.b.C``` is ``C``), a literal its content, and a clause
that names a parameter which cannot be set there (such as ``graph``) is left out.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["argument_docs", "plain_text", "scalar_type", "type_hints"]

# A Sphinx role: :class:`~a.b.C`, :func:`f`, :ref:`title <target>`.
_ROLE = re.compile(r":[\w.:-]+:`([^`]*)`")
# A literal (``code``) or interpreted text (`text`).
_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")


def type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """The evaluated annotations of ``function``.

    Where some cannot be evaluated (names imported only for type checking), each is
    evaluated alone and those that fail are None: their parameters are not settable.
    """
    try:
        return typing.get_type_hints(function)
    except NameError:
        namespace = getattr(inspect.unwrap(function), "__globals__", {})
        hints = {}
        for name, annotation in function.__annotations__.items():

            def alone() -> None: ...

            alone.__annotations__ = {name: annotation}
            try:
                hints[name] = typing.get_type_hints(alone, globalns=namespace)[name]
            except NameError:
                hints[name] = None
        return hints


def scalar_type(annotation: Any) -> type | None:
    """The type a command line converts a value to, for an annotation a value can have.

    ``int``, ``float``, ``bool`` or ``str``, also within ``X | None``; ``str`` for a
    union that admits a string (a model that parses text, such as ``Payoffs | str``).
    """
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if str in options:
            return str
        annotation = options[0] if len(options) == 1 else None
    return annotation if annotation in (int, float, bool, str) else None


def argument_docs(docstring: str) -> dict[str, str]:
    """Descriptions of the ``Args:`` section of a Google-style docstring, as written (reST)."""
    section = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)+)", docstring, re.MULTILINE)
    if section is None:
        return {}
    docs: dict[str, str] = {}
    name = None
    for line in section.group(1).splitlines():
        entry = re.match(r"^\s{2,4}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if entry:
            name = entry.group(1)
            docs[name] = entry.group(2).strip()
        elif name and line.strip():
            docs[name] += " " + line.strip()
    return docs


def plain_text(description: str, unset: Iterable[str] = ()) -> str:
    """A reST description as plain text, without the clauses that name a parameter of ``unset``.

    A parenthesised clause, or a sentence after the first, that names one of ``unset`` as
    a literal (in double backquotes) is left out: it speaks of a setting the reader
    cannot make.
    """
    for name in unset:
        mention = f"``{name}``"
        description = re.sub(rf"\s*\([^()]*{re.escape(mention)}[^()]*\)", "", description)
        first, *others = re.split(r"(?<=\.)\s+", description)
        description = " ".join([first, *(sentence for sentence in others if mention not in sentence)])
    description = _ROLE.sub(lambda match: _role_text(match.group(1)), description)
    return _LITERAL.sub(lambda match: match.group(1) or match.group(2), description)


def _role_text(content: str) -> str:
    """What a role shows: its title (``title <target>``), or its target (``~a.b.C`` shows ``C``)."""
    titled = re.fullmatch(r"(.*?)\s*<[^>]*>", content)
    if titled:
        return titled.group(1)
    return content[1:].rpartition(".")[2] if content.startswith("~") else content
