"""What residents say: conversations turn by turn, the plan of a day, the interview.

An LLM resident's line, plan and interview answer are questions to its language model
(:class:`~mesa_llm.memory.asking.Question`, through the runtime: cached, deduplicated,
retried, recorded, falling back), each a structured answer: :class:`Utterance`,
:class:`DayPlan`, :class:`Answer`. A rule resident's line is fixed
(:func:`rule_line`): the event's news when it knows it and nobody has said it in this
conversation yet, else nothing, which ends its part. Every line is remembered by the LLM
residents who take part, quoted, and informs a listener when it states the event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, field_validator

from mesa_llm import ActionSpace, PromptTemplate
from mesa_llm.memory import remember
from mesa_llm.memory.asking import Question, ask
from mesa_llm_models.diffusion.agents import LLMResident, partner_text
from mesa_llm_models.diffusion.framings import SPEECH, quote_memories
from mesa_llm_models.diffusion.news import news_sentence, states_event

if TYPE_CHECKING:
    from mesa_llm_models.diffusion.agents import Resident
    from mesa_llm_models.diffusion.model import DiffusionModel

__all__ = [
    "ANSWER_SPACE",
    "PLAN_SPACE",
    "SPEECH_SPACE",
    "Answer",
    "Conversation",
    "Conversations",
    "DayPlan",
    "Interview",
    "Line",
    "PlanChange",
    "PlanQuestion",
    "Speech",
    "Utterance",
    "ask_all",
    "rule_line",
    "transcript_text",
]

_MAX_LINE = 240
"""The most characters of a line or an interview answer that are kept (longer ones are cut).
The schema states the limit, so a grammar-constrained backend such as the embedded model
stops there instead of running on to its token limit."""
_MAX_PLACE = 40
"""The most characters of a plan's place id."""
_MAX_CHANGES = 6
"""The most changes of a day's plan."""


def _cut(text: str) -> str:
    """``text`` cut to :data:`_MAX_LINE` characters."""
    return text[:_MAX_LINE]


class Utterance(BaseModel):
    """A line of a conversation."""

    say: str = Field(
        json_schema_extra={"maxLength": _MAX_LINE}, description="what you say, a sentence or two"
    )
    end: bool = Field(default=False, description="true when this ends the conversation")

    _cut_say = field_validator("say")(_cut)


class PlanChange(BaseModel):
    """An hour of the day spent somewhere other than usual."""

    hour: int = Field(ge=0, le=23, description="the hour, 0 to 23")
    place: str = Field(max_length=_MAX_PLACE, description="the id of the place")


class DayPlan(BaseModel):
    """The departures from the usual day, for today."""

    changes: list[PlanChange] = Field(
        default_factory=list, max_length=_MAX_CHANGES, description="the hours spent elsewhere"
    )


class Answer(BaseModel):
    """An answer to the interviewer."""

    answer: str = Field(
        json_schema_extra={"maxLength": _MAX_LINE}, description="your answer, a sentence or two"
    )

    _cut_answer = field_validator("answer")(_cut)


SPEECH_SPACE = ActionSpace(Utterance, fallback=Utterance(say="", end=True), description="your next line")
PLAN_SPACE = ActionSpace(DayPlan, fallback=DayPlan(), description="today's changes to your usual day")
ANSWER_SPACE = ActionSpace(Answer, fallback=Answer(answer=""), description="your answer")


class Speech(Question):
    """An LLM resident's next line of a conversation."""


class PlanQuestion(Question):
    """An LLM resident's plan of the day."""


class Interview(Question):
    """An LLM resident's answer to the interviewer."""


def ask_all[Q: Question](
    kind: type[Q], items: Sequence[tuple[LLMResident, PromptTemplate, dict[str, str]]], space: ActionSpace
) -> list:
    """The answers of ``items`` (resident, template, fields), asked concurrently as ``kind`` questions.

    Each is rendered with the resident's persona as its system message and the space's
    instructions in the resident's answer mode.
    """
    questions = [
        kind(
            resident.memory.asker,
            space,
            PromptTemplate(system=resident.persona, user=template.user).render(
                fields, space.instructions(resident.answer_mode)
            ),
        )
        for resident, template, fields in items
    ]
    return ask(questions)


@dataclass(frozen=True, slots=True)
class Line:
    """A line said in a conversation.

    Attributes:
        speaker: who said it (its name).
        text: what it said.
        informs: whether it states the event (the matcher of :mod:`~mesa_llm_models.diffusion.news`).
    """

    speaker: str
    text: str
    informs: bool


@dataclass(slots=True)
class Conversation:
    """Two residents talking, turn by turn, the one who started first.

    Attributes:
        first: who started it.
        second: whom it started with.
        step: the model step it happened at.
        lines: what was said, in order.
        over: whether it has ended.
    """

    first: Resident
    second: Resident
    step: int
    lines: list[Line] = field(default_factory=list)
    over: bool = False

    def speaker(self) -> Resident:
        """Whose turn it is."""
        return self.first if len(self.lines) % 2 == 0 else self.second

    def listener(self) -> Resident:
        """Who listens to this turn."""
        return self.second if len(self.lines) % 2 == 0 else self.first

    def news_said(self) -> bool:
        """Whether some line has stated the event."""
        return any(line.informs for line in self.lines)


def transcript_text(lines: Sequence[Line]) -> str:
    """A conversation so far for a prompt: one quoted line per line said; "(it starts now)" for none."""
    return quote_memories([f"{line.speaker}: {line.text}" for line in lines]) if lines else "(it starts now)"


class Conversations:
    """A model's conversations: started by this hour's ``talk`` actions, then run turn by turn.

    Every conversation's turn is asked at once (one decision phase for the LLM speakers),
    each line is remembered by the LLM residents who take part, and a line that states the
    event tells the model (:meth:`DiffusionModel.stated`).

    Args:
        model: the diffusion model.

    Attributes:
        held: every conversation so far, in the order they started.
        talked: the pairs (of names) who have talked.
    """

    def __init__(self, model: DiffusionModel) -> None:
        self.model = model
        self.held: list[Conversation] = []
        self.talked: set[frozenset[str]] = set()
        self._pending: list[Conversation] = []

    def start(self, first: Resident, second: Resident) -> None:
        """``first`` talks to ``second`` this hour (once per pair and hour, whoever asked first)."""
        if not any({c.first, c.second} == {first, second} for c in self._pending):
            self._pending.append(Conversation(first, second, self.model.steps))

    def run(self) -> None:
        """Run this hour's conversations to their end or to the model's ``turns``."""
        model = self.model
        started, self._pending = self._pending, []
        self.talked.update(frozenset((c.first.name, c.second.name)) for c in started)
        places = tuple(model.town.places.values())
        active = started
        for _ in range(model.turns):
            active = [c for c in active if not c.over]
            if not active:
                break
            entries = []
            for conversation, (text, end) in zip(active, self.lines(active), strict=True):
                speaker, listener = conversation.speaker(), conversation.listener()
                if not text:
                    conversation.over = True
                    continue
                line = Line(speaker.name, text, states_event(text, model.event, places))
                conversation.lines.append(line)
                for resident, memory_text in (
                    (speaker, f"I said to {listener.name}: {text}"),
                    (listener, f"{speaker.name} said to me: {text}"),
                ):
                    if isinstance(resident, LLMResident):
                        entries.append((resident.memory, memory_text, "conversation"))
                if line.informs:
                    model.stated(speaker, listener)
                conversation.over = end
            remember(entries)
        self.held.extend(started)

    def lines(self, conversations: Sequence[Conversation]) -> list[tuple[str, bool]]:
        """This turn's line of each conversation, ``(text, ends)``; an empty text says nothing and ends."""
        model = self.model
        lines: list[tuple[str, bool] | None] = [None] * len(conversations)
        asked, items = [], []
        for i, conversation in enumerate(conversations):
            speaker, listener = conversation.speaker(), conversation.listener()
            if not isinstance(speaker, LLMResident):
                said = rule_line(speaker, conversation)
                lines[i] = (said, not said)
                continue
            query = conversation.lines[-1].text if conversation.lines else listener.name
            fields = {
                "clock": model.clock_text(),
                "place": model.town.places[speaker.place].name,
                "partner": partner_text(listener.name, listener in model.neighbours[speaker]),
                "transcript": transcript_text(conversation.lines),
                "memories": speaker.memories_for(query),
            }
            asked.append(i)
            items.append((speaker, SPEECH, fields))
        for i, utterance in zip(asked, ask_all(Speech, items, SPEECH_SPACE), strict=True):
            lines[i] = (" ".join(utterance.say.split()), utterance.end)
        return [line if line is not None else ("", True) for line in lines]


def rule_line(speaker: Resident, conversation: Conversation) -> str:
    """A rule resident's line: the news, if it knows it and nobody has said it here yet; else nothing."""
    if speaker.informed and not conversation.news_said():
        model = speaker.model
        return news_sentence(model.event, model.town)
    return ""
