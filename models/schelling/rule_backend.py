"""The rule-following chat model of Schelling: with it, LLM residents behave exactly as rule residents."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel
from mesa_llm_models.schelling.agents import Neighbourhood

__all__ = ["SchellingRuleAnswer", "rule_following_backend"]

_FACTS = re.compile(
    r"(\d+) of them (?:is|are) occupied by people of your own group, (\d+) by people of the other group"
)


@dataclass(frozen=True)
class SchellingRuleAnswer:
    """Answers an :class:`LLMResident`'s prompt with Schelling's rule.

    It reads the counts from the prompt text, so a run with it proves the prompt carries
    the facts the rule needs and that parsing and acting are faithful.
    """

    homophily: float

    def __call__(self, messages: list[BaseMessage]) -> str:  # noqa: D102
        match = next(filter(None, (_FACTS.search(str(m.content)) for m in messages)), None)
        if match is None:
            raise ValueError("the prompt does not state the neighbourhood")
        facts = Neighbourhood(same=int(match.group(1)), other=int(match.group(2)), empty=0)
        return "Stay." if facts.similarity >= self.homophily else "I will MOVE."


def rule_following_backend(homophily: float) -> FunctionChatModel:
    """A deterministic chat model with which LLM residents behave as rule residents."""
    return FunctionChatModel(fn=SchellingRuleAnswer(homophily), model_name=f"schelling-rule-{homophily}")
