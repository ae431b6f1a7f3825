"""The rule-following chat model of the diffusion scenario: LLM residents that follow the cascade.

It reads every prompt an LLM resident sends with the template that rendered it
(:meth:`~mesa_llm.PromptTemplate.parse_first`) and answers as a rule resident of the
independent cascade would, from the facts the prompt states: whether the quoted
memories state the event (the matcher of :mod:`~mesa_llm_models.diffusion.news`), who
came up to it and whether they are an acquaintance, the time and the place.

- The hourly choice is scored with :func:`~mesa_llm_models.diffusion.agents.cascade_choice`'s
  probabilities (temperature 1), so each LLM resident draws its action from ``model.rng``
  as a rule resident does, and an all-LLM run equals the all-rule run.
- A conversation's line is the event's news when the resident's memories state it and
  nobody has said it in this conversation, else nothing (the conversation ends).
- The plan of a day keeps the usual day; the interview answer is the news, or that it
  knows of no event; reflections find no question; importance is 8 for a memory that
  states the event and 3 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mesa_llm import PromptTemplate
from mesa_llm.memory.asking import IMPORTANCE_LABELS, IMPORTANCE_PROMPT, INSIGHTS_PROMPT, QUESTIONS_PROMPT
from mesa_llm_models.diffusion.agents import CARRY_ON, LLMResident, cascade_choice
from mesa_llm_models.diffusion.framings import FACTS, INTERVIEW, KNOWN, NEUTRAL, PLAN, SPEECH
from mesa_llm_models.diffusion.news import news_sentence, states_event
from mesa_llm_models.diffusion.town import Event, Town

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from mesa_llm import ScoringChatModel

__all__ = ["CascadeAnswers", "rule_following_backend"]

_IMPORTANCE = PromptTemplate(system="", user=IMPORTANCE_PROMPT)
_QUESTIONS = PromptTemplate(system="", user=QUESTIONS_PROMPT)
_INSIGHTS = PromptTemplate(system="", user=INSIGHTS_PROMPT)
_NO_EVENT = "I have not heard of any event coming up."


@dataclass(frozen=True)
class CascadeAnswers:
    """Answers an LLM resident's prompts as a rule resident of the independent cascade.

    Attributes:
        event: the event whose news spreads.
        p: the chance of telling an acquaintance met.
        q: the chance of going to the event at its start.
        town: the town (its places' names). Left out of the repr, which names the chat
            model in the cache (the prompts, also in the key, name the places).
        prompt: the template of the residents' framing (left out of the repr likewise).
    """

    event: Event
    p: float
    q: float
    town: Town = field(repr=False)
    prompt: PromptTemplate = field(repr=False)

    def __post_init__(self) -> None:
        self.prompt.require_fields(
            FACTS, "which the cascade rule reads: the rule-following chat model cannot answer it."
        )

    def scores(self, messages: list[BaseMessage], options: Sequence[str]) -> dict[str, float]:
        """The probability of each option: an importance (1-10), or the hour's cascade choice."""
        if tuple(options) == IMPORTANCE_LABELS:
            memory = json.loads(_IMPORTANCE.parse_first(messages)["memory"])
            rating = "8" if self._states(memory) else "3"
            return {label: float(label == rating) for label in options}
        facts = self.prompt.parse_first(messages)
        day, hour = _clock(facts["clock"])
        event_place = self.town.places[self.event.place].name
        return cascade_choice(
            options,
            informed=self._knows(facts["memories"]),
            acquainted=facts["partner"].endswith(f", {KNOWN}"),
            invite=day == self.event.day and hour == self.event.start and facts["place"] != event_place,
            event_place=self.event.place,
            p=self.p,
            q=self.q,
        )

    def __call__(self, messages: list[BaseMessage]) -> str:
        """The text answer of a line, a plan, an interview, a reflection, or (unscored) the hour's choice.

        Raises:
            ValueError: for a prompt of none of these kinds.
        """
        for template, answer in (
            (SPEECH, self._line),
            (PLAN, lambda facts: {"changes": []}),
            (INTERVIEW, self._interview),
            (_QUESTIONS, lambda facts: {"questions": []}),
            (_INSIGHTS, lambda facts: {"insights": []}),
        ):
            try:
                facts = template.parse_first(messages)
            except ValueError:
                continue
            return json.dumps(answer(facts))
        return CARRY_ON  # the hour's choice as text (a runtime that does not score): the likeliest action

    def _line(self, facts: Mapping[str, str]) -> dict[str, Any]:
        if self._knows(facts["memories"]) and not self._knows(facts["transcript"]):
            return {"say": news_sentence(self.event, self.town), "end": False}
        return {"say": "", "end": True}

    def _interview(self, facts: Mapping[str, str]) -> dict[str, Any]:
        return {
            "answer": news_sentence(self.event, self.town) if self._knows(facts["memories"]) else _NO_EVENT
        }

    def _knows(self, quoted: str) -> bool:
        """Whether a quoted list of memories (or lines) states the event."""
        return any(self._states(text) for text in _quoted_lines(quoted))

    def _states(self, text: str) -> bool:
        return states_event(text, self.event, self.town.places.values())


def _quoted_lines(block: str) -> list[str]:
    """The texts of a prompt's quoted list (``- "..."`` per line); none for "(none)"."""
    texts = []
    for line in block.splitlines():
        if line.startswith('- "'):
            try:
                texts.append(json.loads(line[2:]))
            except json.JSONDecodeError:
                continue
    return texts


def _clock(text: str) -> tuple[int, int]:
    """The day and hour of "day 2, 17:00"."""
    day, time = text.removeprefix("day ").split(", ")
    return int(day), int(time.split(":")[0])


def rule_following_backend(
    event: Event,
    town: Town,
    framing: str = NEUTRAL,
    framings: Mapping[str, PromptTemplate] | None = None,
    *,
    p: float,
    q: float,
) -> ScoringChatModel:
    """The chat model with which LLM residents follow the independent cascade of ``p`` and ``q``.

    Raises:
        ValueError: for an unknown framing, or one that does not state the facts the rule reads.
    """
    from mesa_llm import ScoringChatModel  # LangChain's chat models: imported on use

    answers = CascadeAnswers(event, p, q, town, LLMResident.framing(framing, framings))
    return ScoringChatModel(
        scores=answers.scores, fn=answers, model_name=f"diffusion-cascade-p{p}-q{q}", temperature=1.0
    )
