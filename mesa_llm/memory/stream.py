"""The memory stream: an agent's memories, added with an importance, retrieved with numpy.

:class:`MemoryStream` stores memories in columns (:mod:`mesa_llm.memory.store`), asks the
language model for importances and reflections through the runtime
(:mod:`mesa_llm.memory.asking`, :mod:`mesa_llm.memory.reflection`), and retrieves by
recency, importance and relevance (:mod:`mesa_llm.memory.retrieval`). :func:`remember`
adds the memories of many agents at once, with one concurrent phase of importance questions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from mesa_llm.checks import check_instance, check_int, check_number
from mesa_llm.memory.asking import Asker, MemoryCounts, rate
from mesa_llm.memory.reflection import Reflection, reflect
from mesa_llm.memory.retrieval import Retrieval, Retrieved, similarities, top
from mesa_llm.memory.store import KINDS, MemoryStore, check_entry, kind_codes
from mesa_llm.runtime import LLMRuntime

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["MemoryStream", "remember"]


class MemoryStream(MemoryStore):
    """An agent's memories: added with an importance, retrieved by recency, importance and relevance.

    Importances not given are asked of the language model through the runtime
    (:mod:`mesa_llm.memory.asking`), as are reflections (:meth:`reflect`); their call records
    carry the agent's id and the model's step and time.

    Args:
        agent: the agent whose memories these are (its ``unique_id``; its ``model``'s
            ``time`` dates every memory and retrieval).
        embeddings: any LangChain ``Embeddings``, for memories and queries.
        retrieval: a :class:`~mesa_llm.memory.retrieval.Retrieval`, or a preset name:
            ``"paper"`` (default) or ``"code"``.
        reflection: when and how much to reflect; :class:`Reflection` defaults if None.
        runtime: the runtime that asks the model; None takes the agent's ``runtime`` (an
            :class:`~mesa_llm.LLMDecider` has one). Without one, every memory needs an
            ``importance=`` and there is no reflection.
        chat_model: the chat model asked; None takes the agent's ``chat_model``, else the
            runtime's default backend.
        persona: the system message of the questions; None takes the agent's ``persona``
            (empty if it has none).
        fallback_importance: the importance (1-10) of a memory whose rating failed; 4 as
            in the authors' code (``run_gpt_prompt_event_poignancy``'s fail-safe).

    Raises:
        TypeError: for an agent without ``unique_id`` and ``model``, embeddings that are not
            LangChain ``Embeddings``, or another argument of the wrong type.
        ValueError: for an unknown preset or a fallback importance outside 1-10.
    """

    def __init__(
        self,
        agent: Any,
        embeddings: Embeddings,
        *,
        retrieval: Retrieval | str = "paper",
        reflection: Reflection | None = None,
        runtime: LLMRuntime | None = None,
        chat_model: BaseChatModel | None = None,
        persona: str | None = None,
        fallback_importance: int = 4,
    ) -> None:
        from langchain_core.language_models import BaseChatModel  # imported on use: it takes a while

        if not hasattr(agent, "unique_id") or not hasattr(getattr(agent, "model", None), "time"):
            raise TypeError(f"agent must be a Mesa agent (with unique_id and model), got {agent!r}.")
        if not isinstance(embeddings, Embeddings):
            raise TypeError(
                f"embeddings must be a LangChain Embeddings (such as mesa_llm.embeddings."
                f"HashingEmbeddings() in tests), got {type(embeddings).__name__}."
            )
        check_instance("reflection", reflection, Reflection, "a Reflection or None")
        check_instance("runtime", runtime, LLMRuntime, "an LLMRuntime or None")
        check_instance("chat_model", chat_model, BaseChatModel, "a LangChain chat model or None")
        check_instance("persona", persona, str, "a string or None")
        fallback = check_int("fallback_importance", fallback_importance, minimum=1, maximum=10)
        if runtime is None:
            runtime = _attribute(agent, "runtime", LLMRuntime)
        if chat_model is None:
            chat_model = _attribute(agent, "chat_model", BaseChatModel)
        if persona is None:
            persona = _attribute(agent, "persona", str) or ""
        super().__init__(agent)
        self.embeddings = embeddings
        self.retrieval = Retrieval.of(retrieval)
        self.reflection = reflection if reflection is not None else Reflection()
        self.asker = Asker(agent, runtime, chat_model, persona, fallback)
        #: The latest retrieval, for inspection (None before the first).
        self.last_retrieved: Retrieved | None = None

    @property
    def counts(self) -> MemoryCounts:
        """Fallbacks, reflections and dropped citations so far."""
        return self.asker.counts

    def add(
        self,
        text: str,
        kind: str = "observation",
        *,
        importance: float | None = None,
        cites: Sequence[int] = (),
    ) -> int:
        """Add a memory now; its id.

        Args:
            text: what is remembered.
            kind: one of :data:`KINDS`.
            importance: 1-10; None asks the language model (see :func:`remember`).
            cites: for a reflection, the ids of the memories it cites.

        Raises:
            TypeError: for a text that is not a string.
            ValueError: for an empty text, an unknown kind, an importance outside 1-10,
                citations of anything but a reflection or of ids the stream does not have.
        """
        if importance is None:
            if cites:
                raise ValueError("cites= needs importance=: give both, or add the reflection without cites.")
            return remember([(self, text, kind)])[0]
        check_entry(text, kind)
        value = check_number("importance", importance, minimum=1, maximum=10)
        cited = tuple(int(check_int("a cited id", i, minimum=0)) for i in cites)
        if cited and kind != "reflection":
            raise ValueError(f"only a reflection cites memories, not a memory of kind {kind!r}.")
        if any(i >= self._size for i in cited):
            raise ValueError(f"cites {cited} names ids this stream does not have (0..{self._size - 1}).")
        return self.append(text, kind, value, self._embed([text])[0], cited)

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        *,
        kinds: Iterable[str] | None = None,
        embedding: Sequence[float] | np.ndarray | None = None,
    ) -> Retrieved:
        """The ``k`` memories that score best for ``query`` now, best first; their last access becomes now.

        Args:
            query: what the memories are retrieved for.
            k: how many; the retrieval's ``k`` if None. Fewer come when there are fewer
                candidates; none from an empty stream.
            kinds: retrieve only memories of these kinds (all if None); the components
                are scaled over these candidates.
            embedding: the query's embedding, if already computed (else it is embedded).

        Raises:
            ValueError: for an unknown kind, or an embedding of another length than the
                memories'.
        """
        k = self.retrieval.k if k is None else check_int("k", k, minimum=1)
        rows = (
            None if kinds is None else np.flatnonzero(np.isin(self._kinds[: self._size], kind_codes(kinds)))
        )
        now = self.now
        if self._size == 0 or (rows is not None and len(rows) == 0):
            empty = np.zeros(0)
            result = Retrieved(query, now, np.zeros(0, dtype=np.int64), (), (), empty, empty, empty, empty)
        else:
            vector = self.embeddings.embed_query(query) if embedding is None else embedding
            result = self._retrieve(query, self.unit(np.asarray([vector], dtype=np.float32))[0], k, rows, now)
        self.last_retrieved = result
        return result

    def _retrieve(
        self, query: str, vector: np.ndarray, k: int, rows: np.ndarray | None, now: float
    ) -> Retrieved:
        """The vectorised retrieval of :meth:`retrieve`, over ``rows`` (all memories if None)."""
        if rows is None:  # slices, not copies, of the columns
            ids, pick = np.arange(self._size), slice(0, self._size)
        else:
            ids, pick = rows, rows
        last, importance, vectors = self._last_access[pick], self._importance[pick], self._vectors[pick]
        recency, scaled_importance, relevance = self.retrieval.components(
            last, importance, similarities(vectors, vector), ids, now
        )
        scores = self.retrieval.total(recency, scaled_importance, relevance)
        order = top(scores, ids, k)
        chosen = ids[order]
        self._last_access[chosen] = now
        return Retrieved(
            query,
            now,
            chosen,
            tuple(KINDS[c] for c in self._kinds[chosen]),
            tuple(self._texts[i] for i in chosen),
            recency[order],
            scaled_importance[order],
            relevance[order],
            scores[order],
        )

    @property
    def reflection_due(self) -> bool:
        """Whether the importance added since the last reflection exceeds the threshold."""
        return self.importance_since_reflection > self.reflection.threshold

    def reflect(self) -> list[int]:
        """Reflect now (see :mod:`mesa_llm.memory.reflection`); the ids of the reflections stored.

        The importance since the last reflection starts again from 0, whatever the answers.

        Raises:
            ValueError: if the stream has no runtime to ask.
        """
        ids = reflect(self, self.reflection)
        self.importance_since_reflection = 0.0
        return ids

    def reflect_if_due(self) -> list[int]:
        """:meth:`reflect` if a reflection is due (:attr:`reflection_due`); else nothing, no call."""
        return self.reflect() if self.reflection_due else []

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit embeddings of ``texts``, one row each."""
        return self.unit(np.asarray(self.embeddings.embed_documents(texts), dtype=np.float32))


def remember(entries: Iterable[tuple[MemoryStream, str, str]]) -> list[int]:
    """Add memories to their streams, asking every importance at once; their ids.

    The importance questions of all the entries go to the runtime together (one decision
    phase per runtime, concurrent, deduplicated and cached like any), and each stream's
    texts are embedded in one call. Use it to store a step's memories of many agents.

    Args:
        entries: ``(stream, text, kind)`` triples.

    Raises:
        TypeError: for an entry that is not such a triple, or a text that is not a string.
        ValueError: for an empty text or an unknown kind, or a stream without a runtime.
    """
    items = list(entries)
    for entry in items:
        if not (isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[0], MemoryStream)):
            raise TypeError(f"remember takes (stream, text, kind) triples, got {entry!r}.")
        check_entry(entry[1], entry[2])
    values = rate([(stream.asker, text) for stream, text, _ in items])
    vectors: dict[int, np.ndarray] = {}
    for stream in {id(stream): stream for stream, _, _ in items}.values():
        vectors[id(stream)] = stream._embed([text for other, text, _ in items if other is stream])
    used = dict.fromkeys(vectors, 0)
    ids = []
    for (stream, text, kind), value in zip(items, values, strict=True):
        ids.append(stream.append(text, kind, value, vectors[id(stream)][used[id(stream)]], ()))
        used[id(stream)] += 1
    return ids


def _attribute[T](agent: Any, name: str, kind: type[T]) -> T | None:
    """The agent's attribute ``name`` if it is a ``kind`` (an LLMDecider's runtime, chat model, persona)."""
    value = getattr(agent, name, None)
    return value if isinstance(value, kind) else None
