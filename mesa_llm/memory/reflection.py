"""Reflection: insights drawn from recent memories, stored as memories that cite their evidence.

Following Park et al. 2023 (section 4.2): when the summed importance of the memories added
since the last reflection exceeds a threshold (150), the language model is asked for the 3
most salient questions about the 100 most recent memories; for each question memories are
retrieved and 5 insights asked for, each citing its evidence by memory id; the insights are
stored as reflections. Reflections themselves do not count towards the threshold (in the
authors' code only perceived events do). Citations to ids that were not among the memories
in the insight prompt are dropped and counted; an unusable answer (the runtime's fallback)
gives no reflection from that prompt, and is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mesa_llm.checks import check_int, check_number
from mesa_llm.memory.asking import ask, rate

if TYPE_CHECKING:
    from mesa_llm.memory.stream import MemoryStream

__all__ = ["Reflection", "reflect"]


@dataclass(frozen=True, slots=True)
class Reflection:
    """When a memory stream reflects, and how much.

    Args:
        threshold: a reflection is due once the summed importance of the memories added
            since the last one exceeds this.
        recent: how many of the most recent memories the questions are about.
        questions: how many salient questions are asked for (extra ones are ignored).
        insights: how many insights are asked for per question (extra ones are ignored).
        importance: the importance of every reflection; None asks the model for each.

    Raises:
        TypeError: for a value of the wrong type.
        ValueError: for a threshold below 0, counts below 1, or an importance outside 1-10.
    """

    threshold: float = 150.0
    recent: int = 100
    questions: int = 3
    insights: int = 5
    importance: float | None = None

    def __post_init__(self) -> None:
        check_number("threshold", self.threshold, minimum=0)
        for name in ("recent", "questions", "insights"):
            check_int(name, getattr(self, name), minimum=1)
        if self.importance is not None:
            check_number("importance", self.importance, minimum=1, maximum=10)


def reflect(stream: MemoryStream, settings: Reflection) -> list[int]:
    """Reflect on ``stream``'s recent memories now; the ids of the reflections stored.

    Asks one question prompt, then one insight prompt per question (concurrently), then,
    unless ``settings.importance`` is given, the importance of every insight (concurrently).
    """
    recent = stream.recent(settings.recent)
    if not recent:
        return []
    asker = stream.asker
    counts = asker.counts
    (question,) = prompts = [asker.questions([memory.text for memory in recent], settings.questions)]
    (answer,) = ask(prompts)
    if question.fell_back:
        counts.failed_reflections += 1
        return []
    counts.reflections += 1
    focal = [text.strip() for text in answer.questions if text.strip()][: settings.questions]
    retrieved = [stream.retrieve(text) for text in focal]
    asked = [
        asker.insights(list(zip(r.ids.tolist(), r.texts, strict=True)), settings.insights) for r in retrieved
    ]
    found: list[tuple[str, tuple[int, ...]]] = []
    for memories, prompt, insights in zip(retrieved, asked, ask(asked), strict=True):
        if prompt.fell_back:
            counts.failed_reflections += 1
            continue
        shown = set(memories.ids.tolist())
        for item in insights.insights[: settings.insights]:
            cited = dict.fromkeys(item.cites)
            counts.unknown_citations += sum(memory_id not in shown for memory_id in cited)
            if text := item.insight.strip():
                found.append((text, tuple(i for i in cited if i in shown)))
    if settings.importance is None:
        values = rate([(asker, text) for text, _ in found])
    else:
        values = [settings.importance] * len(found)
    ids = [
        stream.add(text, "reflection", importance=value, cites=cites)
        for (text, cites), value in zip(found, values, strict=True)
    ]
    counts.insights += len(ids)
    return ids
