"""Questions a memory stream asks its agent's language model, through the runtime.

Each question is a small :class:`~mesa_llm.decider.ModelDecider` handed to
:meth:`LLMRuntime.decide_many <mesa_llm.runtime.LLMRuntime.decide_many>`, so it is cached,
deduplicated, retried, recorded and falls back like every decision. Its record carries the
stream's agent (``agent_id``), the model's step and time, and the question's class as
``agent_type`` (``ImportanceQuestion``, ``ReflectionQuestions``, ``InsightQuestion``).

Importance is a choice over the labels ``"1"`` .. ``"10"``. Where the backend scores the
options (the record has ``probabilities``), the importance is their expected value, from
that one scoring; otherwise it is the label answered. The runtime also draws a label from
the probabilities for the record's ``action``; that draw is never used, so it is made with
a generator of its own (seeded 0) and leaves ``model.rng`` untouched: asking an importance
changes no trajectory.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from mesa import Model
from pydantic import BaseModel, Field

from mesa_llm.actions import ActionSpace
from mesa_llm.prompts import Messages, PromptTemplate
from mesa_llm.records import CallRecord
from mesa_llm.runtime import LLMRuntime

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "IMPORTANCE_LABELS",
    "Asker",
    "ImportanceQuestion",
    "Insight",
    "InsightQuestion",
    "Insights",
    "MemoryCounts",
    "Question",
    "ReflectionQuestions",
    "SalientQuestions",
    "ask",
    "rate",
]

IMPORTANCE_LABELS = tuple(str(i) for i in range(1, 11))

#: The paper's importance prompt (section 4.1), the memory quoted as data.
IMPORTANCE_PROMPT = (
    "On the scale of 1 to 10, where 1 is purely mundane (e.g., brushing teeth, making bed) and 10 is "
    "extremely poignant (e.g., a break up, college acceptance), rate the likely poignancy of the "
    "following piece of memory.\nMemory: {memory}\nRating:"
)
#: The paper's question prompt (section 4.2), over the most recent memories.
QUESTIONS_PROMPT = (
    "Statements:\n{statements}\n\nGiven only the information above, what are the {n} most salient "
    "high-level questions we can answer about the subjects in the statements?"
)
#: The paper's insight prompt (section 4.2); each statement shows its memory id.
INSIGHTS_PROMPT = (
    "Statements, each after its id in brackets:\n{statements}\n\nWhat {n} high-level insights can "
    "you infer from the above statements? Cite, for each insight, the ids of the statements that "
    "are its evidence."
)


class SalientQuestions(BaseModel):
    """The answer to the question prompt: the salient questions, most salient first."""

    questions: list[str] = Field(description="the questions, most salient first")


class Insight(BaseModel):
    """One insight and the ids of the memories it cites as evidence."""

    insight: str = Field(min_length=1, description="the insight, one sentence")
    cites: list[int] = Field(description="the ids of the statements that are its evidence")


class Insights(BaseModel):
    """The answer to the insight prompt."""

    insights: list[Insight] = Field(description="the insights")


QUESTIONS_SPACE = ActionSpace(SalientQuestions, fallback=SalientQuestions(questions=[]))
INSIGHTS_SPACE = ActionSpace(Insights, fallback=Insights(insights=[]))


class _Moment:
    """The agent's model as a question sees it: its step and time, and a generator whose draws are unused."""

    def __init__(self, model: Model) -> None:
        self._model = model

    @property
    def steps(self) -> int:
        return self._model.steps

    @property
    def time(self) -> float:
        return self._model.time

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(0)


class Question:
    """One question to a language model, asked for an agent (a :class:`~mesa_llm.ModelDecider`).

    Args:
        asker: who asks, and through which runtime and chat model.
        space: the answers it takes, with their fallback.
        messages: the prompt.
    """

    def __init__(self, asker: Asker, space: ActionSpace[Any], messages: Messages) -> None:
        self.runtime = asker.required_runtime()
        self.unique_id: int = asker.agent.unique_id
        self.model: Any = _Moment(asker.agent.model)
        self.chat_model: BaseChatModel = asker.resolved_chat_model()
        self.action_space = space
        self.prompt = messages
        self.last_observation: Any = None
        self.last_record: CallRecord | None = None

    def messages(self, observation: Any) -> Messages:
        """The question's prompt (it has no observation)."""
        return self.prompt

    def decide_without_model(self, observation: Any) -> Any | None:
        """None: a question is always asked."""
        return None

    @property
    def fell_back(self) -> bool:
        """Whether its answer is the fallback (no usable answer)."""
        return self.last_record is not None and self.last_record.fallback


class ImportanceQuestion(Question):
    """How important (1-10) is a memory.

    Its rating is the expected value of the scored options, not the option drawn, so the
    runtime's notice that a temperature of 0 argmaxes does not concern it.
    """

    reads_probabilities = True


class ReflectionQuestions(Question):
    """Which questions are salient about the recent memories."""


class InsightQuestion(Question):
    """Which insights, citing which memories, follow from the memories retrieved for a question."""


@dataclass(slots=True)
class MemoryCounts:
    """What went wrong, and how often, in a memory stream's questions (a stream's ``counts``).

    Attributes:
        importance_fallbacks: importances that fell back (no usable rating came).
        reflections: reflections that ran (their question was answered).
        failed_reflections: reflection answers that fell back: an unusable answer to the
            question prompt (no reflection at all) or to an insight prompt (none from it).
        insights: insights stored as reflections.
        unknown_citations: citations of an insight to ids that were not among the
            memories in its prompt; dropped (each distinct id once per insight).
    """

    importance_fallbacks: int = 0
    reflections: int = 0
    failed_reflections: int = 0
    insights: int = 0
    unknown_citations: int = 0


class Asker:
    """Who a memory stream's questions are asked for, and how.

    Args:
        agent: the agent (its ``unique_id`` and ``model`` go into every record).
        runtime: the runtime that asks; None: questions are refused, naming the fix.
        chat_model: the chat model asked; None: the runtime's default backend.
        persona: the system message of every question (empty for none).
        fallback_importance: the importance (1-10) when no usable answer comes.
    """

    def __init__(
        self,
        agent: Any,
        runtime: LLMRuntime | None,
        chat_model: BaseChatModel | None,
        persona: str,
        fallback_importance: int,
    ) -> None:
        self.agent = agent
        self.runtime = runtime
        self.chat_model = chat_model
        self.persona = persona
        self.fallback_importance = fallback_importance
        self.counts = MemoryCounts()

    @property
    def importance_space(self) -> ActionSpace[str]:
        """The ratings ``"1"`` .. ``"10"``, falling back to ``fallback_importance``."""
        return _importance_space(self.fallback_importance)

    def required_runtime(self) -> LLMRuntime:
        """The runtime that asks.

        Raises:
            ValueError: if there is none, naming the two fixes.
        """
        if self.runtime is None:
            raise ValueError(
                "This memory stream has no runtime to ask its language model: pass runtime= (and "
                "chat_model=) to MemoryStream, or give every memory its importance= yourself."
            )
        return self.runtime

    def resolved_chat_model(self) -> BaseChatModel:
        """The chat model asked: the one given, else the runtime's default backend."""
        return self.chat_model if self.chat_model is not None else self.required_runtime().default_backend

    def _render(self, template: str, space: ActionSpace[Any], **fields: Any) -> Messages:
        return PromptTemplate(system=self.persona, user=template).render(fields, space.instructions())

    def importance(self, text: str) -> ImportanceQuestion:
        """The question of how important the memory ``text`` is."""
        space = self.importance_space
        return ImportanceQuestion(self, space, self._render(IMPORTANCE_PROMPT, space, memory=_quoted(text)))

    def questions(self, texts: Sequence[str], n: int) -> ReflectionQuestions:
        """The question of the ``n`` most salient questions about ``texts``."""
        statements = "\n".join(_quoted(text) for text in texts)
        messages = self._render(QUESTIONS_PROMPT, QUESTIONS_SPACE, statements=statements, n=n)
        return ReflectionQuestions(self, QUESTIONS_SPACE, messages)

    def insights(self, memories: Sequence[tuple[int, str]], n: int) -> InsightQuestion:
        """The question of ``n`` insights from ``memories`` (id and text), each citing its evidence."""
        statements = "\n".join(f"[{memory_id}] {_quoted(text)}" for memory_id, text in memories)
        messages = self._render(INSIGHTS_PROMPT, INSIGHTS_SPACE, statements=statements, n=n)
        return InsightQuestion(self, INSIGHTS_SPACE, messages)


def ask(questions: Sequence[Question]) -> list[Any]:
    """The answers to ``questions``, asked concurrently (one decision phase per runtime).

    Each question's ``last_record`` is then its call record.
    """
    answers: list[Any] = [None] * len(questions)
    by_runtime: dict[int, list[int]] = {}
    for i, question in enumerate(questions):
        by_runtime.setdefault(id(question.runtime), []).append(i)
    for positions in by_runtime.values():
        runtime = questions[positions[0]].runtime
        decided = runtime.decide_many([(questions[i], None) for i in positions])
        for i, answer in zip(positions, decided, strict=True):
            answers[i] = answer
    return answers


def rate(items: Sequence[tuple[Asker, str]]) -> list[float]:
    """The importance of each memory text, asked concurrently; fallbacks counted on their asker.

    The importance is the expected value over 1..10 where the backend scored the options
    (one scoring), else the rating answered, else the fallback.
    """
    questions = [asker.importance(text) for asker, text in items]
    values = []
    for (asker, _), question, answer in zip(items, questions, ask(questions), strict=True):
        record = question.last_record
        if question.fell_back:
            asker.counts.importance_fallbacks += 1
        if record is not None and record.probabilities is not None and not record.fallback:
            values.append(float(sum(int(label) * p for label, p in record.probabilities.items())))
        else:
            values.append(float(answer))
    return values


@functools.cache
def _importance_space(fallback: int) -> ActionSpace[str]:
    """The importance space of a fallback, made once (a stream keeps only the number: it pickles)."""
    labels: Any = Literal[IMPORTANCE_LABELS]
    return ActionSpace(labels, fallback=str(fallback), description="the rating, 1 to 10")


def _quoted(text: str) -> str:
    """``text`` as a quoted string: a memory enters a prompt as data, never as instructions."""
    return json.dumps(text, ensure_ascii=False)
