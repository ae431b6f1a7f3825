"""llama.cpp, loaded once per process: the engine behind :class:`~mesa_llm.backends.local.LocalChatModel`.

:func:`load_engine` loads a GGUF file once per process and settings; an :class:`Engine`
generates answers (under a JSON schema's grammar where asked) and scores the options of a
choice from the model's logits. One llama.cpp context is not safe for concurrent use, so
a lock gives it to one call at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mesa_llm.backends.errors import BackendError
from mesa_llm.backends.scoring import OptionScores

__all__ = ["Engine", "load_engine"]

# Tokens are evaluated in chunks at fixed positions: llama.cpp's results depend (slightly)
# on how tokens are batched, so a prompt must be evaluated the same way whatever the
# cache held before for its answer to depend on the prompt alone.
_CHUNK = 16


class Engine:
    """One llama.cpp model loaded in this process; a lock gives it to one call at a time."""

    def __init__(self, path: str, n_ctx: int, n_threads: int, chat_template: str | None) -> None:
        from llama_cpp import Llama, llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama_cpp = llama_cpp
        self.llama = Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_batch=_CHUNK,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
        self.n_ctx = n_ctx
        self._stable = 0  # leading cached tokens that were evaluated as whole chunks
        template = chat_template or self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(
                f"The model file {Path(path).name} has no chat template: pass chat_template= "
                "(a Jinja chat template) to LocalChatModel."
            )
        vocab = self.llama._model
        eos, bos = self.llama.token_eos(), self.llama.token_bos()
        self.eos = eos
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(eos) if eos != -1 else "",
            bos_token=vocab.token_get_text(bos) if bos != -1 else "",
        )
        self.grammars: dict[str, Any] = {}
        self.lock = threading.Lock()

    def _prompt(self, chat: list[dict[str, str]]) -> tuple[str, list[int], list[str]]:
        """The prompt text, its tokens and the template's stop strings."""
        formatted = self.formatter(messages=chat)
        tokens = self._tokens(formatted.prompt, bos=not formatted.added_special)
        stop = [formatted.stop] if isinstance(formatted.stop, str) else list(formatted.stop or [])
        return formatted.prompt, tokens, stop

    def _tokens(self, text: str, bos: bool = False) -> list[int]:
        return self.llama.tokenize(text.encode(), add_bos=bos, special=True)

    def complete(
        self,
        chat: list[dict[str, str]],
        *,
        seed: int,
        schema: str | None,
        stop: list[str] | None,
        **sampling: Any,
    ) -> tuple[str, int, int]:
        """Generate an answer (under ``schema``'s grammar if given): text, prompt and answer tokens."""
        with self.lock:
            _, tokens, template_stop = self._prompt(chat)
            self._logits(tokens)  # the prompt evaluated as always; generation starts from its logits
            output = self.llama.create_completion(
                tokens,
                seed=seed,
                stop=[*template_stop, *(stop or [])],
                grammar=self._grammar(schema) if schema else None,
                **sampling,
            )
        usage = output["usage"]  # type: ignore[index]
        text = output["choices"][0]["text"]  # type: ignore[index]
        return text.strip(), usage["prompt_tokens"], usage["completion_tokens"]

    def score(self, chat: list[dict[str, str]], options: Sequence[str]) -> OptionScores:
        """Probabilities of each option being the answer, as under a grammar allowing only them.

        The options' tokens form a tree; at each branch the model's next-token
        distribution, restricted to the branches, is renormalised, and an option's
        probability is the product along its path. Options with distinct first tokens
        (stay/move, cooperate/defect) need a single forward pass over the prompt, whose
        common prefix with the previous call is reused from llama.cpp's cache.
        """
        with self.lock:
            text, base, _ = self._prompt(chat)
            paths = {option: self._tokens(text + option) for option in options}
            start = min(_common_prefix(base, path) for path in paths.values())
            log_p = dict.fromkeys(options, 0.0)
            self._branch(paths, list(options), start, log_p)
        values = np.array(list(log_p.values()))
        p = np.exp(values - values.max())
        return OptionScores(dict(zip(options, (p / p.sum()).tolist(), strict=True)), tokens_in=len(base))

    def _branch(self, paths: dict[str, list[int]], group: list[str], k: int, log_p: dict[str, float]) -> None:
        """Add, for options of ``group`` (equal up to position ``k``), the log-probabilities from ``k`` on."""
        while True:
            following: dict[int, list[str]] = {}
            for option in group:
                path = paths[option]
                following.setdefault(path[k] if k < len(path) else self.eos, []).append(option)
            if len(following) > 1:
                break
            if all(k >= len(paths[option]) for option in group):
                return
            k += 1
        logits = self._logits(paths[group[0]][:k])
        candidates = np.array(list(following), dtype=np.intp)
        chosen = logits[candidates].astype(np.float64)
        log_norm = chosen - (chosen.max() + np.log(np.exp(chosen - chosen.max()).sum()))
        for token, restricted in zip(following, log_norm.tolist(), strict=True):
            for option in following[token]:
                log_p[option] += restricted
            if token != self.eos:
                self._branch(paths, following[token], k + 1, log_p)

    def _logits(self, tokens: list[int]) -> np.ndarray:
        """Next-token logits after ``tokens``.

        The tokens are evaluated in chunks at fixed positions, reusing the whole chunks
        already in the cache, so the logits depend on the tokens alone.

        Raises:
            ValueError: if the tokens do not fit in the context window.
        """
        if len(tokens) >= self.n_ctx:
            raise ValueError(
                f"The prompt needs {len(tokens)} tokens, more than the context window of "
                f"{self.n_ctx}: raise n_ctx or shorten the prompt."
            )
        llama = self.llama
        reuse = min(_common_prefix(llama.input_ids[: self._stable].tolist(), tokens), len(tokens) - 1)
        reuse -= reuse % _CHUNK
        llama.n_tokens = reuse
        for start in range(reuse, len(tokens), _CHUNK):
            llama.eval(tokens[start : start + _CHUNK])
        self._stable = len(tokens) - len(tokens) % _CHUNK
        pointer = self._llama_cpp.llama_get_logits_ith(llama.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).copy()

    def _grammar(self, schema: str) -> Any:
        """The grammar of a JSON schema, compiled once."""
        if schema not in self.grammars:
            from llama_cpp import LlamaGrammar

            self.grammars[schema] = LlamaGrammar.from_json_schema(schema, verbose=False)
        return self.grammars[schema]


_engines: dict[tuple[str, int, int, str | None], Engine] = {}
LOADING = threading.Lock()
"""Held while llama.cpp loads a model (here, or an embedding model elsewhere): loads take turns."""


def default_threads(n_threads: int | None) -> int:
    """``n_threads``, or by default the CPU count up to 4 (llama.cpp gains little beyond)."""
    return n_threads or max(1, min(4, os.cpu_count() or 1))


def load_engine(path: str, n_ctx: int, n_threads: int, chat_template: str | None) -> Engine:
    """The loaded model for these settings, one per process.

    Loading is serialised: besides loading the weights once, it keeps llama.cpp's
    redirection of stdout and stderr during a load from being undone out of order.
    """
    key = (path, n_ctx, n_threads, chat_template)
    if _forked_after_use:
        raise RuntimeError(
            "This process was forked after its parent used the embedded model, and llama.cpp's "
            "OpenMP runtime hangs in such a child: start worker processes with multiprocessing's "
            "'spawn' or 'forkserver' context (e.g. ProcessPoolExecutor(mp_context="
            "multiprocessing.get_context('spawn'))), as mesa.batch_run does."
        )
    with LOADING:
        if key not in _engines:
            _engines[key] = Engine(*key)
        return _engines[key]


_forked_after_use = False  # set in a child forked after this process loaded a model


def _after_fork_in_child() -> None:
    """A forked child cannot use llama.cpp once its parent has (libgomp hangs): it fails clearly instead."""
    global _forked_after_use, LOADING
    _forked_after_use = _forked_after_use or bool(_engines)
    _engines.clear()
    LOADING = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
