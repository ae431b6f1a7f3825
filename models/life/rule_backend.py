"""The rule-following chat model of Life: with it, LLM cells behave exactly as rule cells."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mesa_llm import PromptTemplate
from mesa_llm_models.life.agents import CellState, LLMCell, cell_state
from mesa_llm_models.life.framings import FRAMINGS, NEUTRAL
from mesa_llm_models.life.rules import CONWAY, NEIGHBOURS, LifeRule, RuleTable, parse_rule, parse_rule_table

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from mesa_llm import FunctionChatModel

__all__ = ["LifeRuleAnswer", "LifeTableScores", "rule_backend_of", "rule_following_backend"]

_FACTS = ("state", "live_neighbours")
"""The fields of a cell's prompt that a Life-like rule reads."""
_STATES = {"alive": True, "dead": False}


@dataclass(frozen=True)
class LifeRuleAnswer:
    """Answers an :class:`LLMCell`'s prompt with a B/S rule.

    It reads the cell's state and its number of live neighbours from the prompt text with
    the framing's template (:meth:`~mesa_llm.PromptTemplate.parse`), so a run with it
    proves that the framing carries the facts the rule needs and that parsing and acting
    are faithful. It follows its own ``rule``, whether or not the prompt states one. The
    prompt is the first user message the template parses, so a retry (the prompt, an
    unusable answer and a corrective message) is answered as the first attempt was.

    Attributes:
        rule: the rule it follows (Conway's by default).
        prompt: the template of the cells' framing (the ``neutral`` one by default). Left
            out of the repr, which names the chat model in the cache: the prompts, also in
            the cache key, already differ between framings.

    Raises:
        ValueError: for a template that does not state ``{state}`` and ``{live_neighbours}``.
    """

    rule: LifeRule = CONWAY
    prompt: PromptTemplate = field(default=FRAMINGS[NEUTRAL], repr=False)

    def __post_init__(self) -> None:
        self.prompt.require_fields(
            _FACTS,
            "which a Life rule reads: the rule-following chat model cannot answer it. Put the cell's state "
            "and its number of live neighbours in its user template.",
        )

    def __call__(self, messages: list[BaseMessage]) -> str:
        """The answer "Alive." or "I will be DEAD.", as the rule decides on the facts the prompt states.

        Raises:
            ValueError: as :meth:`observation` does.
        """
        return "Alive." if self.rule.next_alive(*self.observation(messages)) else "I will be DEAD."

    def observation(self, messages: list[BaseMessage]) -> CellState:
        """The cell's state and live neighbours, as the first user message of the framing states them.

        Raises:
            ValueError: if no user message is a prompt of the framing (the template's error
                for the first one), or its facts are not a state and a count of 0 to 8.
        """
        facts = self._facts(messages)
        state, count = facts["state"], facts["live_neighbours"]
        if state not in _STATES or not count.isdigit() or int(count) > NEIGHBOURS:
            raise ValueError(
                f"The prompt states the cell as {state!r} with {count!r} live neighbours: a Life rule reads "
                "'alive' or 'dead' and a count of 0 to 8."
            )
        return cell_state(_STATES[state], int(count))

    def _facts(self, messages: list[BaseMessage]) -> dict[str, str]:
        """The fields of the first user message the framing's template parses."""
        try:
            return self.prompt.parse_first(messages)
        except ValueError as exc:
            raise ValueError(f"The messages do not state the cell in the framing's words: {exc}") from None


@dataclass(frozen=True)
class LifeTableScores:
    """Scores ``alive`` and ``dead`` of an :class:`LLMCell`'s prompt with a rule table's probabilities.

    Attributes:
        table: the rule table.
        answer: reads the facts from the prompt (its framing's template).
    """

    table: RuleTable
    answer: LifeRuleAnswer = field(repr=False)

    def __call__(self, messages: list[BaseMessage], options: Sequence[str]) -> dict[str, float]:
        """P(alive) and P(dead) next for the cell the prompt states, as a stochastic rule cell's."""
        probabilities = self.table.probabilities(*self.answer.observation(messages))
        return {option: probabilities[option] for option in options}


def rule_following_backend(
    rule: LifeRule | str = CONWAY,
    framing: str = NEUTRAL,
    framings: Mapping[str, PromptTemplate] | None = None,
    table: RuleTable | str | None = None,
) -> FunctionChatModel:
    """A chat model with which LLM cells behave as the rule cells of ``rule``, or of ``table``.

    Args:
        rule: the model's ``rule``, a :class:`LifeRule` or its B/S text.
        framing: the model's ``framing``: the name of the prompt's framing.
        framings: the model's ``framings``: a user's own framings, by name.
        table: the model's ``rule_table`` where its rule cells draw their states from one:
            the chat model then scores alive and dead with the table's probabilities
            (temperature 1), and each LLM cell draws its state as a stochastic rule cell
            does, so an all-LLM run equals the all-rule run (a mixed one draws in another
            order). Its text answers (where a runtime does not score) are those of the
            table's nearest rule (:meth:`RuleTable.rule`). None: a deterministic chat model
            that answers by ``rule``.

    Raises:
        TypeError: for a rule or table that is not one or text, or framings that do not
            map names to prompt templates.
        ValueError: for a rule or table that cannot be read, an unknown framing, or one
            that does not state the facts the rule reads.
    """
    from mesa_llm import FunctionChatModel, ScoringChatModel  # LangChain's chat models: imported on use

    parsed, prompt, table = parse_rule(rule), LLMCell.framing(framing, framings), parse_rule_table(table)
    if table is None:
        return FunctionChatModel(fn=LifeRuleAnswer(parsed, prompt), model_name=f"life-rule-{parsed}")
    answer = LifeRuleAnswer(table.rule(), prompt)
    return ScoringChatModel(
        scores=LifeTableScores(table, answer), fn=answer, model_name=f"life-table-{table}", temperature=1.0
    )


def rule_backend_of(parameters: Mapping[str, Any]) -> FunctionChatModel:
    """The rule-following chat model of a :class:`LifeModel`'s parameters (``backend="rule"``).

    It answers as the model's rule cells do: by ``rule``, or with ``rule_table``'s
    probabilities, in the prompts of the ``framing``.

    Args:
        parameters: the model's parameters; missing ones take the model's defaults.
    """
    return rule_following_backend(
        parameters.get("rule", CONWAY),
        parameters.get("framing", NEUTRAL),
        parameters.get("framings"),
        parameters.get("rule_table"),
    )
