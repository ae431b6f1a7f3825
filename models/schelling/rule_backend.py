"""The rule-following chat model of Schelling: with it, LLM residents behave exactly as rule residents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mesa_llm import PromptTemplate
from mesa_llm_models.schelling.agents import LLMResident, Neighbourhood, move_probabilities
from mesa_llm_models.schelling.framings import FRAMINGS, NEUTRAL

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from mesa_llm import FunctionChatModel

__all__ = ["SchellingLogisticScores", "SchellingRuleAnswer", "rule_backend_of", "rule_following_backend"]

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
        self.prompt.require_fields(
            _FACTS,
            "which Schelling's rule reads: the rule-following chat model cannot answer it. Put the counts "
            "of same-group and other-group neighbours in its user template.",
        )

    def __call__(self, messages: list[BaseMessage]) -> str:
        """The answer "Stay." or "I will MOVE.", as the rule decides on the counts the prompt states.

        Raises:
            ValueError: if no user message is a prompt of the framing (the template's error
                for the first one).
        """
        observed = self.neighbourhood(messages)
        return "Stay." if observed.similarity >= self.homophily else "I will MOVE."

    def neighbourhood(self, messages: list[BaseMessage]) -> Neighbourhood:
        """The counts the rule reads, from the first user message the framing's template parses.

        Raises:
            ValueError: if no user message is a prompt of the framing.
        """
        facts = self._facts(messages)
        return Neighbourhood(same=int(facts["same"]), other=int(facts["other"]), empty=0)

    def _facts(self, messages: list[BaseMessage]) -> dict[str, str]:
        """The fields of the first user message the framing's template parses."""
        try:
            return self.prompt.parse_first(messages)
        except ValueError as exc:
            raise ValueError(
                f"The messages do not state the neighbourhood in the framing's words: {exc}"
            ) from None


@dataclass(frozen=True)
class SchellingLogisticScores:
    """Scores stay and move of an :class:`LLMResident`'s prompt with the logistic rule.

    Attributes:
        intercept: the logistic rule's ``move_intercept``.
        slope: its ``move_slope``.
        rule: reads the counts from the prompt (its framing's template).
    """

    intercept: float
    slope: float
    rule: SchellingRuleAnswer = field(repr=False)

    def __call__(self, messages: list[BaseMessage], options: Sequence[str]) -> dict[str, float]:
        """P(stay) and P(move) for the counts the prompt states, as a logistic resident's."""
        probabilities = move_probabilities(
            self.rule.neighbourhood(messages).similarity, self.intercept, self.slope
        )
        return {option: probabilities[option] for option in options}


def rule_following_backend(
    homophily: float,
    framing: str = NEUTRAL,
    framings: Mapping[str, PromptTemplate] | None = None,
    logistic: tuple[float, float] | None = None,
) -> FunctionChatModel:
    """A deterministic chat model with which LLM residents behave as rule residents.

    Args:
        homophily: the rule residents' threshold (the model's ``rule_threshold``, which is
            its ``homophily`` unless set).
        framing: the model's ``framing``: the name of the prompt's framing.
        framings: the model's ``framings``: a user's own framings, by name.
        logistic: the model's ``(move_intercept, move_slope)`` where its rule residents
            follow the logistic rule: the chat model then scores stay and move with the
            rule's probabilities (temperature 1), and each LLM resident draws its move as a
            :class:`~mesa_llm_models.schelling.agents.LogisticResident` does, so an all-LLM
            run equals the all-rule run (a mixed one draws in another order).

    Raises:
        TypeError: for framings that do not map names to prompt templates.
        ValueError: for an unknown framing, or one that does not state the counts the rule reads.
    """
    from mesa_llm import FunctionChatModel, ScoringChatModel  # LangChain's chat models: imported on use

    answer = SchellingRuleAnswer(homophily, LLMResident.framing(framing, framings))
    if logistic is None:
        return FunctionChatModel(fn=answer, model_name=f"schelling-rule-{homophily}")
    intercept, slope = logistic
    return ScoringChatModel(
        scores=SchellingLogisticScores(intercept, slope, answer),
        fn=answer,
        model_name=f"schelling-logistic-{intercept}-{slope}",
        temperature=1.0,
    )


def rule_backend_of(parameters: Mapping[str, Any]) -> FunctionChatModel:
    """The rule-following chat model of a :class:`SchellingModel`'s parameters (``backend="rule"``).

    It follows the rule residents' rule: the threshold ``rule_threshold`` (the
    ``homophily`` unless set), or the logistic rule of ``move_intercept`` and
    ``move_slope``, in the prompts of the ``framing``.

    Args:
        parameters: the model's parameters; ``homophily`` is needed, the others default
            to the model's defaults.
    """
    threshold = parameters.get("rule_threshold")
    intercept, slope = parameters.get("move_intercept"), parameters.get("move_slope")
    return rule_following_backend(
        parameters["homophily"] if threshold is None else threshold,
        parameters.get("framing", NEUTRAL),
        parameters.get("framings"),
        logistic=None if intercept is None or slope is None else (intercept, slope),
    )
