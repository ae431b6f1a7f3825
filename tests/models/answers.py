"""Chat-model functions shared by the scenarios' retry tests."""

from collections.abc import Callable

from langchain_core.messages import BaseMessage

from mesa_llm.prompts import to_langchain

GARBAGE = "garbage"


def garbage_first(answer: Callable[[list[BaseMessage]], str]) -> Callable[[list[BaseMessage]], str]:
    """A chat-model function that answers garbage to a first attempt and ``answer`` to a retry.

    A retry is recognised by the unusable answer the runtime puts back among the messages.
    """

    def respond(messages: list[BaseMessage]) -> str:
        return answer(messages) if any(m.type == "ai" for m in messages) else GARBAGE

    return respond


def retry_of(messages, instructions: str) -> list[BaseMessage]:
    """The messages of a retry of ``messages`` (``(role, text)`` pairs), as the runtime builds them."""
    corrective = f"That answer could not be used: {GARBAGE!r} names none of the options. {instructions}"
    return to_langchain((*messages, ("ai", GARBAGE), ("human", corrective)))
