"""llama.cpp, loaded once per process: the engine behind :class:`~mesa_llm.backends.local.LocalChatModel`.

:func:`load_engine` loads a GGUF file once per process and settings; an :class:`Engine`
generates answers (under a JSON schema's grammar where asked) and scores the options of a
choice from the model's logits. One llama.cpp context is not safe for concurrent use, so
a lock gives it to one call at a time.

An instruction-tuned model is prompted through its chat template. A base model, which
has none, is prompted as a plain document (:func:`plain_document`): each message a
paragraph, ending in the cue ``"Answer:"``; its options are scored as the words that
follow the cue, and generated text ends with its first paragraph or where the model
starts another answer.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mesa_llm.backends.errors import BackendError
from mesa_llm.backends.scoring import OptionScores

__all__ = ["PLAIN_CUE", "Engine", "load_engine", "plain_document"]

# Tokens are evaluated in chunks at fixed positions: llama.cpp's results depend (slightly)
# on how tokens are batched, so a prompt must be evaluated the same way whatever the
# cache held before for its answer to depend on the prompt alone.
_CHUNK = 16

PLAIN_CUE = "Answer:"
"""The line that ends a plain-text prompt: a base model continues it with its answer."""
# A base model's free-text answer ends at the end of its first paragraph (it often starts
# on the line below the cue), or where it begins another answer.
_PARAGRAPH_END = "\n\n"
_PLAIN_STOP = (f"\n{PLAIN_CUE}",)


def plain_document(chat: list[dict[str, str]]) -> str:
    """Chat messages as a plain document for a base model, ending in :data:`PLAIN_CUE`.

    System and user messages are paragraphs; an assistant message is an answer after
    the cue on the line below the message it answers.
    """
    text = ""
    for message in chat:
        content = message["content"].strip()
        if message["role"] == "assistant":
            text += f"\n{PLAIN_CUE} {content}"
        else:
            text += f"\n\n{content}" if text else content
    return f"{text}\n{PLAIN_CUE}"


class Engine:
    """One llama.cpp model loaded in this process; a lock gives it to one call at a time.

    Args:
        path: the GGUF file.
        n_ctx: context window in tokens.
        n_threads: llama.cpp's threads, for prompts and generation alike.
        chat_template: a Jinja chat template replacing the file's own.
        plain: prompt the model as a plain document (a base model) instead of through a
            chat template.

    Raises:
        BackendError: for a chat-prompted model without a chat template.
    """

    def __init__(self, path: str, n_ctx: int, n_threads: int, chat_template: str | None, plain: bool) -> None:
        from llama_cpp import Llama, llama_cpp
        from llama_cpp._utils import suppress_stdout_stderr

        self._llama_cpp = llama_cpp
        # verbose=False silences the load but not the context's creation, where llama.cpp
        # writes a notice to stderr for models with sliding-window attention (Gemma 3).
        with suppress_stdout_stderr(disable=False):
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
        self.eos = self.llama.token_eos()
        self.formatter = None if plain else self._formatter(path, chat_template)
        self.lead = " " if plain else ""  # what separates the prompt from an answer
        self.grammars: dict[str, Any] = {}
        self.lock = threading.Lock()

    def _formatter(self, path: str, chat_template: str | None) -> Any:
        """The chat template's formatter: ``chat_template`` or the file's own."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = chat_template or self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(
                f"The model file {Path(path).name} has no chat template: pass chat_template= "
                "(a Jinja chat template) to LocalChatModel, or prompt_format='plain' for a base model."
            )
        vocab = self.llama._model
        eos, bos = self.eos, self.llama.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(eos) if eos != -1 else "",
            bos_token=vocab.token_get_text(bos) if bos != -1 else "",
        )

    def _prompt(self, chat: list[dict[str, str]]) -> tuple[str, list[int], list[str]]:
        """The prompt text, its tokens and the stop strings of generated answers."""
        if self.formatter is None:
            text = plain_document(chat)
            return text, self._tokens(text, bos=True), list(_PLAIN_STOP)
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
        paragraph = self.formatter is None and schema is None  # a base model's free text
        with self.lock:
            _, tokens, template_stop = self._prompt(chat)
            self._logits(tokens)  # the prompt evaluated as always; generation starts from its logits
            output = self.llama.create_completion(
                tokens,
                seed=seed,
                stop=[*template_stop, *(stop or [])],
                grammar=self._grammar(schema) if schema else None,
                stopping_criteria=self._paragraph_ended(len(tokens)) if paragraph else None,
                **sampling,
            )
        usage = output["usage"]  # type: ignore[index]
        text = output["choices"][0]["text"].strip()  # type: ignore[index]
        if paragraph:
            text = text.split(_PARAGRAPH_END, 1)[0].rstrip()
        return text, usage["prompt_tokens"], usage["completion_tokens"]

    def _paragraph_ended(self, start: int) -> Any:
        """A stopping criterion: the text generated after ``start`` tokens has ended a paragraph."""
        from llama_cpp import StoppingCriteriaList

        def ended(tokens: np.ndarray, logits: np.ndarray) -> bool:
            text = self.llama.detokenize(tokens[start:].tolist()).decode(errors="ignore")
            return _PARAGRAPH_END in text.lstrip()

        return StoppingCriteriaList([ended])

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
            bos = self.formatter is None  # as the prompt's tokens: a plain prompt starts with BOS
            paths = {option: self._tokens(text + self.lead + option, bos=bos) for option in options}
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


_engines: dict[tuple[str, int, int, str | None, bool], Engine] = {}
LOADING = threading.Lock()
"""Held while llama.cpp loads a model (here, or an embedding model elsewhere): loads take turns."""


def default_threads(n_threads: int | None) -> int:
    """``n_threads``, or by default the CPU count up to 4 (llama.cpp gains little beyond)."""
    return n_threads or max(1, min(4, os.cpu_count() or 1))


def load_engine(path: str, n_ctx: int, n_threads: int, chat_template: str | None, plain: bool) -> Engine:
    """The loaded model for these settings (those of :class:`Engine`), one per process.

    Loading is serialised: besides loading the weights once, it keeps llama.cpp's
    redirection of stdout and stderr during a load from being undone out of order.
    """
    key = (path, n_ctx, n_threads, chat_template, plain)
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


def _close_engines() -> None:
    """Free the loaded models at exit, while llama.cpp's bindings still exist.

    Left to the garbage collector during the interpreter's teardown, llama.cpp's
    finaliser finds its bindings gone and prints a traceback. Each engine is closed under
    its lock: a decode still running on another thread (the exit of an interrupted run)
    finishes first, rather than running on a freed model.
    """
    for engine in _engines.values():
        with engine.lock:
            engine.llama.close()
    _engines.clear()


atexit.register(_close_engines)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
