"""The rule-following chat model of Schelling: with it, LLM residents behave exactly as rule residents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel, PromptTemplate
from mesa_llm_models.schelling.agents import LLMResident, Neighbourhood
from mesa_llm_models.schelling.framings import FRAMINGS, NEUTRAL

__all__ = ["SchellingRuleAnswer", "rule_following_backend"]

_FACTS = ("same", "other")
"""The fields of a resident's prompt that Schelling's rule reads."""


@dataclass(frozen=True)
class SchellingRuleAnswer:
    """Answers an :class:`LLMResident`'s prompt with Schelling's rule.

    It reads the counts from the prompt text with the framing's template
    (:meth:`~mesa_llm.PromptTemplate.parse`), so a run with it proves that the framing
    carries the facts the rule needs and that parsing and acting are faithful. The
    prompt is the first user message the template parses, so a retry (the prompt, an
    unusable answer and a corrective message) is answered as the first attempt was.

    Attributes:
        homophily: the share of own-group neighbours needed to stay.
        prompt: the template of the residents' framing (the ``neutral`` one by default).
            Left out of the repr, which names the chat model in the cache: the prompts,
            also in the cache key, already differ between framings.

    Raises:
        ValueError: for a template that does not state ``{same}`` and ``{other}``.
    """

    homophily: float
    prompt: PromptTemplate = field(default=FRAMINGS[NEUTRAL], repr=False)

    def __post_init__(self) -> None:
        missing = [name for name in _FACTS if name not in self.prompt.fields]
        if missing:
            raise ValueError(
                f"The framing's template does not state {', '.join('{' + m + '}' for m in missing)}, which "
                "Schelling's rule reads: the rule-following chat model cannot answer it. Put the counts "
                "of same-group and other-group neighbours in its user template."
            )

    def __call__(self, messages: list[BaseMessage]) -> str:
        """The answer "Stay." or "I will MOVE.", as the rule decides on the counts the prompt states.

        Raises:
            ValueError: if no user message is a prompt of the framing (the template's error
                for the first one).
        """
        facts = self._facts(messages)
        observed = Neighbourhood(same=int(facts["same"]), other=int(facts["other"]), empty=0)
        return "Stay." if observed.similarity >= self.homophily else "I will MOVE."

    def _facts(self, messages: list[BaseMessage]) -> dict[str, str]:
        """The fields of the first user message the framing's template parses."""
        errors = []
        for message in messages:
            if message.type == "human":
                try:
                    return self.prompt.parse(str(message.content))
                except ValueError as exc:
                    errors.append(str(exc))
        reason = errors[0] if errors else "there is no user message."
        raise ValueError(f"The messages do not state the neighbourhood in the framing's words: {reason}")


def rule_following_backend(
    homophily: float, framing: str = NEUTRAL, framings: Mapping[str, PromptTemplate] | None = None
) -> FunctionChatModel:
    """A deterministic chat model with which LLM residents behave as rule residents.

    Args:
        homophily: the model's ``homophily``.
        framing: the model's ``framing``: the name of the prompt's framing.
        framings: the model's ``framings``: a user's own framings, by name.

    Raises:
        TypeError: for framings that do not map names to prompt templates.
        ValueError: for an unknown framing, or one that does not state the counts the rule reads.
    """
    answer = SchellingRuleAnswer(homophily, LLMResident.framing(framing, framings))
    return FunctionChatModel(fn=answer, model_name=f"schelling-rule-{homophily}")
