"""Prompts: how an observation becomes the messages sent to a language model.

A prompt is a system message (the persona) and a user message rendered from a template
with ``str.format`` over the observation's fields, followed by the action space's answer
instructions (or with them where the template says ``{instructions}``). Messages are
``(role, content)`` pairs with LangChain's role names (``"system"``, ``"human"``,
``"ai"``), hashable so identical prompts can be recognised. Put the facts that vary
between agents at the end of the template: backends that cache prompt prefixes
(llama.cpp, OpenAI, Anthropic) then reuse the common beginning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

__all__ = ["Messages", "PromptTemplate", "observation_fields", "to_langchain"]

Messages = tuple[tuple[str, str], ...]

_MESSAGE_TYPES = {"system": SystemMessage, "human": HumanMessage, "ai": AIMessage}


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
        (('system', 'You are a resident.'), ('human', '3 neighbours like you.\\n\\nAnswer stay or move.'))

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


def to_langchain(messages: Messages) -> list[BaseMessage]:
    """LangChain message objects for ``(role, content)`` pairs."""
    return [_MESSAGE_TYPES[role](content=content) for role, content in messages]
