"""The memory stream of Generative Agents (Park et al. 2023), reusable by any LLM agent.

An agent's memories (observations, conversations, plans, reflections) are stored with
their times, importance and embeddings (:class:`MemoryStream`), retrieved by recency,
importance and relevance with the paper's or the authors' code's weights
(:class:`Retrieval`, presets ``"paper"`` and ``"code"``), rated for importance by the
language model through the runtime, and reflected on (:class:`Reflection`). Its parts:

- :mod:`mesa_llm.memory.stream`: adding memories, retrieving them, reflecting;
- :mod:`mesa_llm.memory.store`: the columns, reading memories back, inspecting, writing;
- :mod:`mesa_llm.memory.reflection`: when and how a stream reflects;
- :mod:`mesa_llm.memory.asking`: the questions to the language model (importance,
  salient questions, insights), as decisions of the runtime;
- :mod:`mesa_llm.memory.retrieval`: the scores and the top-k selection, in numpy.
"""

from mesa_llm.memory.asking import Insight, Insights, MemoryCounts, SalientQuestions
from mesa_llm.memory.reflection import Reflection
from mesa_llm.memory.retrieval import PRESETS, Retrieval, Retrieved
from mesa_llm.memory.store import KINDS, Memory
from mesa_llm.memory.stream import MemoryStream, remember

__all__ = [
    "KINDS",
    "PRESETS",
    "Insight",
    "Insights",
    "Memory",
    "MemoryCounts",
    "MemoryStream",
    "Reflection",
    "Retrieval",
    "Retrieved",
    "SalientQuestions",
    "remember",
]
