"""llama.cpp, loaded once per process: the engine behind :class:`~mesa_llm.backends.local.LocalChatModel`.

:func:`load_engine` loads a GGUF file once per process and settings. An :class:`Engine`
generates answers (under a JSON schema's grammar where asked) on one llama.cpp context,
one call at a time, and scores the options of choices from the model's logits on
:class:`Lanes`: a few more contexts over the same weights, each scoring one prompt while
the others score theirs.

Threads: llama.cpp splits an evaluation among its threads, which wait for each other
after every operation. When other processes use the cores, a thread that loses its core
stalls the rest, and a call with two threads on two busy cores took 4-30 times its idle
time. So a call gets one thread (:func:`default_threads`), and the cores are used by
several calls at once instead, one per lane (:func:`default_lanes`), which need no
waiting for each other.

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
from mesa_llm.backends.lanes import CHUNK, Lane, Lanes, common_prefix
from mesa_llm.backends.scoring import Branching, OptionScores, branchings, path_probabilities

__all__ = [
    "PLAIN_CUE",
    "Engine",
    "default_lanes",
    "default_threads",
    "load_engine",
    "plain_document",
    "q4_1_kernels",
]

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
    """One llama.cpp model loaded in this process: generation on one context, scoring on lanes.

    Args:
        path: the GGUF file.
        n_ctx: context window in tokens.
        n_threads: llama.cpp's threads of one call, for prompts and generation alike.
        n_lanes: prompts scored at once, each on a context of its own (started at the
            first scoring).
        chat_template: a Jinja chat template replacing the file's own.
        plain: prompt the model as a plain document (a base model) instead of through a
            chat template.

    Raises:
        BackendError: for a chat-prompted model without a chat template.
    """

    def __init__(
        self, path: str, n_ctx: int, n_threads: int, n_lanes: int, chat_template: str | None, plain: bool
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr

        # verbose=False silences the load but not the context's creation, where llama.cpp
        # writes a notice to stderr for models with sliding-window attention (Gemma 3).
        with suppress_stdout_stderr(disable=False):
            self.llama = Llama(
                model_path=path,
                n_ctx=n_ctx,
                n_batch=CHUNK,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                verbose=False,
            )
        self.n_ctx = n_ctx
        self.n_lanes = n_lanes
        self.main = Lane(self.llama.ctx, self.llama.n_vocab(), n_ctx, owned=False)  # generation's context
        self.eos = self.llama.token_eos()
        self.formatter = None if plain else self._formatter(path, chat_template)
        self.lead = " " if plain else ""  # what separates the prompt from an answer
        self.grammars: dict[str, Any] = {}
        self.lock = threading.Lock()  # the generation context, one call at a time
        self._lanes: Lanes | None = None

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

    @property
    def lanes(self) -> Lanes:
        """The scoring lanes, started at the first scoring: contexts with the generation context's settings.

        Raises:
            BackendError: if llama.cpp cannot create a context (out of memory).
        """
        if self._lanes is None:
            from llama_cpp import llama_cpp
            from llama_cpp._utils import suppress_stdout_stderr

            with LOADING:  # contexts are created as models are loaded: one at a time, output silenced
                if self._lanes is None:
                    settings = self.llama.context_params
                    lanes = []
                    for _ in range(self.n_lanes):
                        with suppress_stdout_stderr(disable=False):
                            ctx = llama_cpp.llama_init_from_model(
                                self.llama.model, type(settings).from_buffer_copy(settings)
                            )
                        if not ctx:
                            for lane in lanes:
                                lane.close()
                            raise BackendError(
                                "llama.cpp could not create a context for scoring: lower n_parallel or n_ctx."
                            )
                        lanes.append(Lane(ctx, self.llama.n_vocab(), self.n_ctx, owned=True))
                    self._lanes = Lanes(lanes)
        return self._lanes

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
            self.main.logits(tokens)  # the prompt evaluated as always; generation starts from it
            self.llama.input_ids[: len(tokens)] = tokens
            self.llama.n_tokens = len(tokens)
            try:
                output = self.llama.create_completion(
                    tokens,
                    seed=seed,
                    stop=[*template_stop, *(stop or [])],
                    grammar=self._grammar(schema) if schema else None,
                    stopping_criteria=self._paragraph_ended(len(tokens)) if paragraph else None,
                    **sampling,
                )
            finally:  # llama-cpp-python evaluates the prompt's last token again, alone, then the answer
                self.main.keep(len(tokens) - 1)
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

        Options with distinct first tokens (stay/move, cooperate/defect) need one forward
        pass over the prompt (see :func:`~mesa_llm.backends.scoring.branchings`), whose
        whole chunks in common with what the lane evaluated before are reused.
        """
        return self.score_many([chat], options)[0]

    def score_many(self, chats: Sequence[list[dict[str, str]]], options: Sequence[str]) -> list[OptionScores]:
        """:meth:`score` of each chat, several at once on the lanes; each as if scored alone."""
        prepared = [self._branchings(chat, options) for chat in chats]
        evaluated = self.lanes.evaluate([[b.prefix for b in found] for _, found in prepared])
        return [
            OptionScores(path_probabilities(found, logits, options), tokens_in=tokens_in, seconds=seconds)
            for (tokens_in, found), (logits, seconds) in zip(prepared, evaluated, strict=True)
        ]

    def _branchings(self, chat: list[dict[str, str]], options: Sequence[str]) -> tuple[int, list[Branching]]:
        """The prompt's length in tokens, and where the options' token paths part after it."""
        text, base, _ = self._prompt(chat)
        bos = self.formatter is None  # as the prompt's tokens: a plain prompt starts with BOS
        paths = {option: self._tokens(text + self.lead + option, bos=bos) for option in options}
        start = min(common_prefix(base, path) for path in paths.values())
        return len(base), branchings(paths, options, start, self.eos)

    def _grammar(self, schema: str) -> Any:
        """The grammar of a JSON schema, compiled once."""
        if schema not in self.grammars:
            from llama_cpp import LlamaGrammar

            self.grammars[schema] = LlamaGrammar.from_json_schema(schema, verbose=False)
        return self.grammars[schema]

    def close(self) -> None:
        """Free the lanes, then the model (a call still running finishes first)."""
        with self.lock:
            if self._lanes is not None:
                self._lanes.close()
            self.main.close()
            self.llama.close()


_engines: dict[tuple[str, int, int, int, str | None, bool], Engine] = {}
LOADING = threading.Lock()
"""Held while llama.cpp loads a model (here, or an embedding model elsewhere): loads take turns."""


def default_threads(n_threads: int | None) -> int:
    """``n_threads``, or by default 1: llama.cpp's threads of one call (and of its prompt batches).

    A call's threads wait for each other after every operation (at OpenMP barriers, where
    they spin), so they stall when other processes take their cores: with a busy process
    on each of 2 cores, a scoring on two threads took 2.3-2.4 times its idle time (4-30
    times in earlier runs), on one thread 1.4-1.5 times. The cores are better used by
    scoring several prompts at once (:func:`default_lanes`).
    """
    return n_threads or 1


def default_lanes(n_lanes: int | None) -> int:
    """``n_lanes``, or by default the CPU count up to 4: prompts the local model scores at once."""
    return n_lanes or max(1, min(4, os.cpu_count() or 1))


def q4_1_kernels() -> str:
    """How llama.cpp multiplies Q4_1 weights (SmolLM2's) in this process, in words.

    ``scripts/setup.sh`` builds llama-cpp-python with mesa_llm's patch
    (``scripts/llama-cpp/``), whose Q4_1 tiles multiply a prompt's chunk of 16 tokens by
    each weight block at once, with AVX-512 VNNI where the CPU has it (AVX2 otherwise),
    instead of token by token; every product keeps the bits of llama.cpp's own code.
    The environment variable ``GGML_Q4_1_TILES=0`` turns them off (``avx2`` keeps them
    to AVX2). A build of llama-cpp-python from the package index has llama.cpp's own
    code only.
    """
    import ctypes

    import llama_cpp

    for path in sorted((Path(llama_cpp.__file__).parent / "lib").glob("libggml-cpu.*")):
        tiles = getattr(ctypes.CDLL(str(path)), "ggml_cpu_q4_1_tiles", None)
        if tiles is not None:
            return _TILES[tiles()]
    return "llama.cpp's own (a build without mesa_llm's Q4_1 tiles: bash scripts/setup.sh local builds them)"


_TILES = {
    0: "llama.cpp's own (mesa_llm's Q4_1 tiles turned off by GGML_Q4_1_TILES=0)",
    1: "mesa_llm's Q4_1 tiles (AVX2)",
    2: "mesa_llm's Q4_1 tiles (AVX-512 VNNI)",
}


def load_engine(
    path: str, n_ctx: int, n_threads: int, n_lanes: int, chat_template: str | None, plain: bool
) -> Engine:
    """The loaded model for these settings (those of :class:`Engine`), one per process.

    Loading is serialised: besides loading the weights once, it keeps llama.cpp's
    redirection of stdout and stderr during a load from being undone out of order.
    """
    key = (path, n_ctx, n_threads, n_lanes, chat_template, plain)
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
    finaliser finds its bindings gone and prints a traceback. A decode still running on
    another thread (the exit of an interrupted run) finishes first, rather than running
    on a freed model.
    """
    for engine in _engines.values():
        engine.close()
    _engines.clear()


atexit.register(_close_engines)
