"""Deterministic chat models for tests, for users' own tests, and for rule-following agents.

They are real LangChain ``BaseChatModel`` subclasses: ``invoke``/``ainvoke``/``batch``
work, and so does ``with_structured_output`` (tools are bound; the answer is returned as
a tool call), so the whole path prompt -> model -> parse -> action is exercised.
They report token usage (whitespace-separated words) like a real backend would.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult, LLMResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from mesa_llm.backends.scoring import OptionScorer, OptionScores

__all__ = [
    "FAULTS",
    "BackendFaultError",
    "BackendRateLimitError",
    "FaultyChatModel",
    "FunctionChatModel",
    "ScoringChatModel",
    "ScriptedChatModel",
]


# The fates of the calls a FaultyChatModel's generate/agenerate makes, counted when it ends.
_FATES: ContextVar[list[str]] = ContextVar("faulty_fates")


class BackendFaultError(RuntimeError):
    """The error a :class:`FaultyChatModel` raises when it injects a failure."""


class _DeterministicChatModel(BaseChatModel):
    """Base of the deterministic models: subclasses implement :meth:`_answer`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = "deterministic"
    temperature: float = 0.0

    def _answer(self, messages: list[BaseMessage]) -> str:
        raise NotImplementedError

    def __getstate__(self) -> dict[Any, Any]:
        """The state to pickle: a lock is left out (a new one is made when unpickled)."""
        state = super().__getstate__()
        state["__pydantic_private__"] = {
            name: value for name, value in (state["__pydantic_private__"] or {}).items() if name != "_lock"
        }
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        if "_lock" in self.__private_attributes__:
            self._lock = threading.Lock()

    @property
    def _llm_type(self) -> str:
        return "mesa-llm-deterministic"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any):
        """Bind tools; the answer is then returned as a call of the first tool."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _result(self, messages: list[BaseMessage], text: str, tools: list[dict] | None) -> ChatResult:
        tokens_in = sum(len(str(m.content).split()) for m in messages)
        usage = {
            "input_tokens": tokens_in,
            "output_tokens": len(text.split()),
            "total_tokens": tokens_in + len(text.split()),
        }
        if tools:
            function = tools[0]["function"]
            message = AIMessage(
                content="",
                tool_calls=[{"name": function["name"], "args": _tool_args(text, function), "id": "call_0"}],
                usage_metadata=usage,
            )
        else:
            message = AIMessage(content=text, usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(messages, self._answer(messages), kwargs.get("tools"))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, **kwargs)


def _callable_name(fn: Callable[..., Any]) -> str:
    """The module and name of a function; a callable object's repr names its settings."""
    name = getattr(fn, "__qualname__", None)
    if name is None:  # a callable object: its repr names its settings, unless it is the default one
        name = repr(fn) if " at 0x" not in repr(fn) else type(fn).__qualname__
    return f"{getattr(fn, '__module__', '')}.{name}"


def _tool_args(text: str, function: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a tool call answering ``text``.

    A JSON object is used as is; a bare answer becomes the value of the tool's only parameter.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    properties = list(function.get("parameters", {}).get("properties", {}))
    return {properties[0]: text.strip()} if len(properties) == 1 else {}


class FunctionChatModel(_DeterministicChatModel):
    """A chat model that answers with a function of the messages.

    A scenario builds one that follows its rule (read the facts from the prompt, apply
    the rule, answer); an LLM agent using it must then behave exactly like a rule agent.

    Args:
        fn: maps the list of messages to the answer text.
        model_name: names the function in records and in the cache identity, beside the
            function's qualified name; give different functions (two lambdas, say)
            different names so their cached answers stay apart.

    Example:
        >>> model = FunctionChatModel(fn=lambda messages: "stay", model_name="always-stay")
        >>> model.invoke("stay or move?").content
        'stay'

    """

    fn: Callable[[list[BaseMessage]], str]
    model_name: str = "function"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {**super()._identifying_params, "fn": _callable_name(self.fn)}

    def _answer(self, messages: list[BaseMessage]) -> str:
        return self.fn(messages)


def _no_text(_messages: list[BaseMessage]) -> str:
    """The text answer of a scoring model given no ``fn``: empty (a module function, so it pickles)."""
    return ""


class ScoringChatModel(OptionScorer, FunctionChatModel):
    """A chat model that scores options with a function: option scoring without a real model.

    Choices are answered with the probabilities ``scores(messages, options)`` returns;
    text and structured answers come from ``fn``, as for :class:`FunctionChatModel`.

    Args:
        scores: maps the messages and the option labels to a probability per label.
        fn: maps the messages to a text answer (for requests that are not scored).
        model_name: names the functions in records and in the cache identity.
        temperature: how the runtime turns the scores into each agent's action. At 1.0
            (the default) it draws the action from them as given: with ``{"move": 0.3,
            "stay": 0.7}`` about 30% of agents move, each draw from ``model.rng``. Above 1
            the draws are flatter, below 1 sharper (probabilities ``p ** (1 / T)``,
            renormalised). At 0 every agent takes the most probable option, with no draw:
            nobody would ever move in that example.

    A stochastic test model therefore needs nothing more than its scores; pass
    ``temperature=0`` for a deterministic one that argmaxes. Agents that send the same
    prompt share one scoring at any temperature and still draw their own actions.

    In the runtime's ``"reasoning"`` answer mode the reasoning is ``fn``'s answer (empty
    by default), and the options are then scored after it: ``scores`` receives the
    prompt, the reasoning as an ``ai`` message, and a ``human`` request for the final answer.

    """

    scores: Callable[[list[BaseMessage], Sequence[str]], Mapping[str, float]]
    fn: Callable[[list[BaseMessage]], str] = _no_text
    model_name: str = "scoring"
    temperature: float = 1.0

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {**super()._identifying_params, "scores": _callable_name(self.scores)}

    def score_options(self, messages: list[BaseMessage], options: Sequence[str]) -> OptionScores:
        """The function's probabilities, with words of the messages counted as prompt tokens."""
        tokens_in = sum(len(str(m.content).split()) for m in messages)
        return OptionScores(dict(self.scores(messages, options)), tokens_in)

    async def ascore_options(self, messages: list[BaseMessage], options: Sequence[str]) -> OptionScores:
        """:meth:`score_options`, without a thread hop."""
        return self.score_options(messages, options)


class ScriptedChatModel(_DeterministicChatModel):
    """A chat model that replays a script of answers, one per call, in call order.

    Args:
        responses: the answers, in order.
        cycle: start again from the first answer when the script is exhausted;
            otherwise an exhausted script raises ``IndexError``.

    """

    responses: list[str]
    cycle: bool = False
    model_name: str = "scripted"
    _position: int = PrivateAttr(default=0)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {**super()._identifying_params, "responses": self.responses, "cycle": self.cycle}

    @property
    def calls(self) -> int:
        """How many answers were given so far."""
        return self._position

    def _answer(self, messages: list[BaseMessage]) -> str:
        with self._lock:
            position = self._position
            if position >= len(self.responses) and not self.cycle:
                raise IndexError(f"the script of {len(self.responses)} answers is exhausted")
            self._position += 1
        return self.responses[position % len(self.responses)]


class BackendRateLimitError(BackendFaultError):
    """The provider's rate limit (HTTP 429) that a :class:`FaultyChatModel` injects.

    Attributes:
        status_code: 429, as the HTTP status of a provider's error.
        retry_after: the seconds it asks to wait, as a ``Retry-After`` header would.
    """

    status_code = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"injected rate limit: retry after {retry_after} s")
        self.retry_after = retry_after


#: The kinds of fault a :class:`FaultyChatModel` injects, in the order their rates apply.
FAULTS = ("error", "rate_limit", "hang", "malformed")


class FaultyChatModel(_DeterministicChatModel):
    """Wraps a chat model and injects latency, errors, rate limits, hangs and malformed answers.

    Every call first waits ``latency`` seconds (or a draw from a ``(low, high)`` range),
    then fails with one of the configured probabilities: raise
    :class:`BackendFaultError` (``error_rate``), raise :class:`BackendRateLimitError`
    asking to retry after ``retry_after_s`` (``rate_limit_rate``), hang for ``hang_s``
    seconds so a caller's timeout fires (``timeout_rate``), or answer one of
    ``malformed_answers`` (``malformed_rate``); otherwise it answers as the wrapped model.

    A call's latency and fate are drawn from a hash of the seed, the messages and how
    many times these exact messages were asked before: the n-th asking of a prompt meets
    the same fault in every run, whatever order concurrent calls run in, so a
    fault-injected run replays exactly (as long as identical prompts are not in flight
    at once, which dedup ensures at temperature 0). A retry after a corrective message is
    a new prompt; a retry after an error is the prompt's next asking.
    It counts calls, the faults its callers met (:attr:`injected`: counted when the caller
    gets the call's outcome, a hang also when its caller gives up on it), the calls cut
    short (:attr:`cut_short`) and the peak number of calls in flight.

    Args:
        inner: the model that gives the real answers.
        latency: seconds per call, or a ``(low, high)`` range.
        error_rate: probability of raising :class:`BackendFaultError`.
        rate_limit_rate: probability of raising :class:`BackendRateLimitError`.
        timeout_rate: probability of hanging for ``hang_s`` seconds.
        malformed_rate: probability of answering one of ``malformed_answers``.
        retry_after_s: the wait a rate limit asks for.
        hang_s: how long a hanging call waits before answering.
        malformed_answers: answers that cannot be used, one drawn per malformed answer.
        seed: seed of the fault draws.

    """

    inner: BaseChatModel
    latency: float | tuple[float, float] = 0.0
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    malformed_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after_s: float = Field(default=0.05, ge=0.0)
    hang_s: float = 3600.0
    malformed_answers: tuple[str, ...] = Field(default=("¯\\_(ツ)_/¯ hmm, hard to say",), min_length=1)
    seed: int = 0
    model_name: str = "faulty"
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _asked: dict[str, int] = PrivateAttr(default_factory=dict)
    _injected: dict[str, int] = PrivateAttr(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    _in_flight: int = PrivateAttr(default=0)
    _peak: int = PrivateAttr(default=0)
    _calls: int = PrivateAttr(default=0)
    _cut_short: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any) -> None:  # noqa: D102
        if sum((self.error_rate, self.rate_limit_rate, self.timeout_rate, self.malformed_rate)) > 1.0:
            raise ValueError("the fault rates of a FaultyChatModel must add up to at most 1.")
        if "temperature" not in self.model_fields_set:  # sample like the wrapped model
            self.temperature = getattr(self.inner, "temperature", None) or 0.0

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "inner": self.inner._get_llm_string(),
            "latency": self.latency,
            "rates": (self.error_rate, self.rate_limit_rate, self.timeout_rate, self.malformed_rate),
            "malformed": self.malformed_answers,
            "seed": self.seed,
        }

    @property
    def calls(self) -> int:
        """How many calls were started."""
        return self._calls

    @property
    def injected(self) -> dict[str, int]:
        """How many faults of each kind (:data:`FAULTS`) callers have met so far."""
        with self._lock:
            return dict(self._injected)

    @property
    def cut_short(self) -> int:
        """Calls that were not injected hangs but whose caller gave up on them (a timeout on a busy machine).

        Also those given up on after their answer or error was ready, which the caller
        never saw. The runtime counts each as a timeout, rightly: with :attr:`injected`
        they account for every timeout it counts.
        """
        with self._lock:
            return self._cut_short

    @property
    def peak_in_flight(self) -> int:
        """The largest number of calls that were in flight at the same time."""
        return self._peak

    def _plan(self, messages: list[BaseMessage]) -> tuple[float, str, str]:
        """Draw this call's latency and fate ("ok" or one of :data:`FAULTS`), and the malformed answer."""
        prompt = json.dumps([[m.type, str(m.content)] for m in messages], ensure_ascii=False)
        with self._lock:
            asked = self._asked.get(prompt, 0)
            self._asked[prompt] = asked + 1
        draws = random.Random(f"{self.seed}:{asked}:{prompt}")  # a string seed is hashed by SHA-512
        low, high = self.latency if isinstance(self.latency, tuple) else (self.latency,) * 2
        delay, u = draws.uniform(low, high), draws.random()
        fate = "ok"
        rates = (self.error_rate, self.rate_limit_rate, self.timeout_rate, self.malformed_rate)
        for name, rate in zip(FAULTS, rates, strict=True):
            if u < rate:
                fate = name
                break
            u -= rate
        with self._lock:
            self._calls += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        _FATES.get().append(fate)
        return (delay + self.hang_s if fate == "hang" else delay), fate, draws.choice(self.malformed_answers)

    @contextmanager
    def _meeting(self) -> Iterator[None]:
        """Count the faults of the calls made inside, as their caller meets them.

        A call's fault counts when the caller gets its outcome; a caller that gives up
        first (its timeout passed, even after the answer was ready) met none: the call is
        cut short, except an injected hang, which is then what the caller met.
        """
        fates: list[str] = []
        token = _FATES.set(fates)  # a call's tasks see the same list
        given_up = False
        try:
            yield
        except asyncio.CancelledError:
            given_up = True
            raise
        finally:
            _FATES.reset(token)
            with self._lock:
                self._in_flight -= len(fates)
                for fate in fates:
                    if given_up and fate != "hang":
                        self._cut_short += 1
                    elif fate != "ok":
                        self._injected[fate] += 1

    def generate(self, *args: Any, **kwargs: Any) -> LLMResult:  # noqa: D102
        with self._meeting():
            return super().generate(*args, **kwargs)

    async def agenerate(self, *args: Any, **kwargs: Any) -> LLMResult:  # noqa: D102
        with self._meeting():
            return await super().agenerate(*args, **kwargs)

    def _finish(
        self, messages: list[BaseMessage], fate: str, answer: str, kwargs: dict[str, Any]
    ) -> ChatResult:
        if fate == "error":
            raise BackendFaultError("injected backend failure")
        if fate == "rate_limit":
            raise BackendRateLimitError(self.retry_after_s)
        if fate == "malformed":
            return self._result(messages, answer, kwargs.get("tools"))
        return self.inner._generate(messages, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay, fate, answer = self._plan(messages)
        time.sleep(delay)
        return self._finish(messages, fate, answer, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        delay, fate, answer = self._plan(messages)
        await asyncio.sleep(delay)
        return self._finish(messages, fate, answer, kwargs)
