"""LLM agents: Mesa agents whose ``decide`` asks a language model.

The decision seam: an agent ``observe()``s the world into a small typed observation,
``decide(observation)`` returns an action, and ``act(action)`` changes the world. Rule
agents and LLM agents of one scenario share ``observe`` and ``act`` through a common base
class; only ``decide`` differs. :class:`LLMDecider` supplies that ``decide``; combine it
with the scenario's base class::

    class Resident(CellAgent):            # observe() and act()
        ...

    class RuleResident(Resident):         # decide() by a rule
        def decide(self, observation): ...

    class LLMResident(LLMDecider, Resident):  # decide() by a language model
        action_space = ActionSpace(Literal["stay", "move"], fallback="stay")
        prompt = PromptTemplate(system="...", user="...")
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import mesa
from mesa import Agent, Model
from mesa.discrete_space import CellAgent

from mesa_llm.actions import ActionSpace, AnswerMode
from mesa_llm.backends import resolve_backend
from mesa_llm.checks import check_instance
from mesa_llm.populations import LLM
from mesa_llm.prompts import Messages, PromptTemplate, select_framing
from mesa_llm.runtime import LLMRuntime

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from mesa_llm.records import CallRecord

__all__ = ["LLMAgent", "LLMCellAgent", "LLMDecider"]


class LLMDecider:
    """Mixin that makes an agent decide with a language model.

    It implements the :class:`~mesa_llm.decider.ModelDecider` protocol, which is all the
    runtime needs of an LLM agent.

    Class attributes a subclass sets:
        action_space: the typed actions the agent may take, with their fallback.
        prompt: the persona and the template that renders an observation.
        framings: optionally, named templates that state the same facts in other words
            (:meth:`framing` chooses one; an agent is given it as ``prompt=``).

    Class attribute it sets:
        population: ``"llm"`` (:data:`mesa_llm.populations.LLM`), the population it is
            reported in; a scenario's shared base class says ``"rule"``.

    Args:
        *args: passed on to the next class (the Mesa agent's ``model``, ...).
        runtime: the :class:`~mesa_llm.runtime.LLMRuntime` that runs the calls.
        backend: this agent's chat model or ``"provider:model"`` string; None uses the
            runtime's backend, or the embedded local model if the runtime has none. The
            agent's :attr:`chat_model` is resolved here, once.
        persona: a system prompt replacing ``prompt.system`` for this agent.
        prompt: a template replacing the class's ``prompt`` for this agent (a framing's).
        **kwargs: passed on to the next class.

    Either order of the bases works: ``class A(LLMDecider, Base)`` (the usual one) or
    ``class A(Base, LLMDecider)``, where ``Base.__init__`` never sees ``runtime=``,
    ``backend=`` or ``persona=`` and ``decide`` asks the model even if ``Base`` has a rule
    of its own. A class of the second kind that defines its own ``__init__`` is refused
    when it is created, with the fix.

    Step LLM agents with their runtime, ``model.llm.step(agents, rng=model.random)``
    (observe, decide, act; LLM calls concurrent). Mesa's ``model.agents.shuffle_do("step")``
    runs the base class's ``step`` instead: where that asks no model (it decides by the
    base's own rule, or does nothing), a ``RuntimeWarning`` says so, once per class, with
    the fix, rather than letting the LLM agents silently make no LLM decision.

    Raises:
        TypeError: if the class sets no ``action_space`` or no ``prompt``, or no
            ``runtime`` is given.
        BackendError: if the backend cannot be created (an unknown provider, a missing
            package or key, or no backend anywhere and the local model not installed).

    """

    action_space: ClassVar[ActionSpace]
    prompt: ClassVar[PromptTemplate]
    framings: ClassVar[Mapping[str, PromptTemplate]] = MappingProxyType({})
    population: ClassVar[str] = LLM
    #: Whether :meth:`messages` depends on nothing but the observation, the agent's template,
    #: its answer mode and its model's settings (which do not change within a decision
    #: phase): agents of one model observing equal things then share one rendering (see
    #: :meth:`prompt_key`). None (default): where the class overrides none of ``messages``,
    #: ``prompt_for`` and ``instructions``. Set True on a class whose ``messages`` only
    #: derives more fields from the observation and the model's settings; leave it where
    #: it reads anything of the agent itself (a memory, a name).
    observation_prompt: ClassVar[bool | None] = None
    # Given by the Mesa agent it is combined with:
    unique_id: int
    model: Model

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if LLMDecider not in cls.__bases__:
            return
        if callable(getattr(cls, "step", None)) and "step" not in vars(cls):
            cls.step = _watched_step(cls.step)  # type: ignore[attr-defined]
        if cls.__bases__[0] is LLMDecider:
            return
        mro = cls.__mro__
        before = mro[1 : mro.index(LLMDecider)]  # the bases whose methods would win over the mixin's
        for name in ("decide", "adecide"):  # the model decides, not a rule inherited from the base
            if name not in vars(cls) and any(name in vars(base) for base in before):
                setattr(cls, name, vars(LLMDecider)[name])
        if not any("__init__" in vars(base) for base in before):
            return
        if "__init__" in vars(cls):
            others = ", ".join(base.__name__ for base in cls.__bases__ if base is not LLMDecider)
            raise TypeError(
                f"{cls.__name__} lists LLMDecider after {others}, whose __init__ would receive "
                f"runtime=: put LLMDecider first, class {cls.__name__}(LLMDecider, {others})."
            )
        cls.__init__ = _decider_first(cls)  # type: ignore[method-assign]

    def __init__(
        self,
        *args: Any,
        runtime: LLMRuntime | None = None,
        backend: BaseChatModel | str | None = None,
        persona: str | None = None,
        prompt: PromptTemplate | None = None,
        **kwargs: Any,
    ) -> None:
        if not hasattr(self, "runtime"):  # not set up yet by _decider_first
            if runtime is None:
                raise TypeError(f"{type(self).__name__} needs runtime=, the LLMRuntime that runs its calls.")
            self._set_up(runtime, backend, persona, prompt)
        super().__init__(*args, **kwargs)

    @classmethod
    def framing(cls, name: str, framings: Mapping[str, PromptTemplate] | None = None) -> PromptTemplate:
        """The template of the framing ``name``: one of a user's own ``framings``, else the class's.

        Raises:
            TypeError: for a name that is not text, or ``framings`` that do not map names
                to prompt templates.
            ValueError: for an unknown name, listing the framings there are.
        """
        return select_framing(name, cls.framings, framings)

    def _set_up(
        self,
        runtime: LLMRuntime,
        backend: BaseChatModel | str | None,
        persona: str | None,
        prompt: PromptTemplate | None = None,
    ) -> None:
        """Check the class and resolve the chat model, before the Mesa agent is created.

        So a missing model leaves no agent behind.
        """
        cls = type(self)
        missing = [name for name in ("action_space", "prompt") if not hasattr(cls, name)]
        if missing:
            raise TypeError(
                f"{cls.__name__} must set the class attributes {' and '.join(missing)}: "
                "action_space = ActionSpace(Literal[...], fallback=...) and "
                "prompt = PromptTemplate(system=..., user=...)."
            )
        chat_model = resolve_backend(backend) if backend is not None else runtime.default_backend
        self.runtime = runtime
        self.chat_model: BaseChatModel = chat_model
        if prompt is not None:
            check_instance("prompt", prompt, PromptTemplate, "a PromptTemplate (a framing's) or None")
            self.prompt = prompt
        self.template = self.prompt if persona is None else replace(self.prompt, system=persona)
        self.last_observation: Any = None
        self.last_record = None
        self._prompt_key: tuple[type, PromptTemplate, str, int] | None = None

    @property
    def last_record(self) -> CallRecord | None:
        """The call record of its latest decision (None before the first).

        Where the runtime keeps its records (:meth:`keep_record`), it is made from them
        when read.
        """
        kept = self._kept
        return self._last_record if kept is None else kept[self._kept_at]

    @last_record.setter
    def last_record(self, record: CallRecord | None) -> None:
        self._last_record, self._kept, self._kept_at = record, None, -1

    def keep_record(self, records: Sequence[CallRecord], index: int) -> None:
        """Set by the runtime: the record of its latest decision is ``records[index]``, read when asked."""
        self._kept, self._kept_at = records, index

    def prompt_key(self) -> Hashable | None:
        """What, beside its observation, its prompt is made of; None where it is made of more.

        Agents with equal prompt keys, chat models and action spaces send equal messages
        for equal observations: the runtime renders their prompt once per decision phase.
        The key is the class, the template, the answer mode and the model where the prompt
        is the observation's (:attr:`observation_prompt`), else None (each agent's prompt
        is rendered).
        """
        found = self._prompt_key
        if found is not None and found[1] is self.template:  # made once, unless the template changed
            return found
        if not _observation_prompt(type(self)):
            return None
        found = self._prompt_key = (type(self), self.template, self.runtime.answer_mode, id(self.model))
        return found

    @property
    def persona(self) -> str:
        """This agent's system prompt."""
        return self.template.system

    @property
    def answer_mode(self) -> AnswerMode:
        """How this agent is asked to answer: its runtime's ``answer_mode``."""
        return self.runtime.answer_mode

    def messages(self, observation: Any) -> Messages:
        """The exact prompt for ``observation`` as ``(role, content)`` pairs.

        Override to build prompts that depend on more than the observation (memory,
        derived facts, ...); :meth:`prompt_for` renders with extra template fields. A prompt
        built without it says :meth:`instructions`, which match the answer mode.
        """
        return self.prompt_for(observation)

    def instructions(self) -> str:
        """How to answer: the action space's instructions in this agent's :attr:`answer_mode`."""
        return self.action_space.instructions(self.answer_mode)

    def prompt_for(self, observation: Any, **extra: Any) -> Messages:
        """The persona and template rendered with ``observation``, ``extra`` and :meth:`instructions`."""
        return self.template.render(observation, self.instructions(), **extra)

    def decide_without_model(self, observation: Any) -> Any | None:
        """An action taken this turn without asking the model, or None to ask it (the default).

        Override for turns on which the scenario fixes the decision (a rule-driven
        update, a forced move); such decisions make no call and no record.
        """
        return None

    def rule_decide(self, observation: Any) -> Any | None:
        """The action the scenario's rule would take for ``observation``, or None (the default).

        Override to compare every LLM decision with the rule's on the same observation
        (rule-shadow decisions): the runtime records it as the record's ``rule_action``,
        reports the share that agree each step (``llm_rule_agreement``) and tallies the
        agreement by observation (``model.llm.agreement.frame()``). It must be pure: no draw
        from an rng and no change to the agent or the model, so that it changes no
        trajectory. Typically the rule class's own method: ``return
        RuleResident.decide(self, observation)``.
        """
        return None

    def agreement_key(self, observation: Any) -> Hashable:
        """How the agreement tally groups ``observation``: the observation itself by default.

        Override for observations that are large, mutable or unique to an agent, returning
        a small named tuple of the facts the rule reads.
        """
        return observation

    def decide(self, observation: Any) -> Any:
        """Ask the language model; always returns an action of the space."""
        self._decisions = getattr(self, "_decisions", 0) + 1
        return self.runtime.decide(self, observation)

    async def adecide(self, observation: Any) -> Any:
        """Ask the language model from async code; always returns an action of the space."""
        return (await self.runtime.adecide_many([(self, observation)]))[0]


def _decider_first(cls: type[LLMDecider]) -> Callable[..., None]:
    """The ``__init__`` of ``cls``, which lists LLMDecider after its agent base.

    It takes the mixin's settings first, so the bases before LLMDecider never see them.
    """

    def init(
        self: LLMDecider,
        *args: Any,
        runtime: LLMRuntime | None = None,
        backend: BaseChatModel | str | None = None,
        persona: str | None = None,
        prompt: PromptTemplate | None = None,
        **kwargs: Any,
    ) -> None:
        if runtime is None:
            raise TypeError(f"{type(self).__name__} needs runtime=, the LLMRuntime that runs its calls.")
        self._set_up(runtime, backend, persona, prompt)
        super(cls, self).__init__(*args, **kwargs)  # type: ignore[misc]

    init.__name__ = init.__qualname__ = "__init__"
    return init


def _watched_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` of an agent base class, warning once if an LLM agent's step asks no model.

    Mesa's idiom ``model.agents.shuffle_do("step")`` runs the base class's ``step``, which
    decides by the base's own rule unless it calls ``decide``: the LLM agents would then
    make no LLM decision at all, and the comparison would be silently wrong.
    """

    @functools.wraps(step)
    def watched(self: LLMDecider, *args: Any, **kwargs: Any) -> Any:
        before = _decision_state(self)
        result = step(self, *args, **kwargs)
        cls = type(self)
        if _decision_state(self) == before and cls not in _WARNED:
            _WARNED.add(cls)
            warnings.warn(
                f"{cls.__name__}.step() ran {step.__qualname__} and asked no language model: it "
                "decides by the base class's rule. Step LLM agents with model.llm.step(agents, "
                "rng=model.random) (observe, decide, act), or call self.decide(self.observe()) "
                "where the rule decides.",
                RuntimeWarning,
                skip_file_prefixes=_LIBRARIES,  # point at the user's shuffle_do, not into Mesa
            )
        return result

    return watched


def _decision_state(agent: LLMDecider) -> tuple[int, int, int, int]:
    """What changes when ``agent`` decides: its count of decisions and where its record is."""
    return (getattr(agent, "_decisions", 0), id(agent._last_record), id(agent._kept), agent._kept_at)


_OBSERVATION_PROMPTS: dict[type, bool] = {}


def _observation_prompt(cls: type[LLMDecider]) -> bool:
    """Whether the prompts of ``cls`` are their observation's (:attr:`LLMDecider.observation_prompt`)."""
    found = _OBSERVATION_PROMPTS.get(cls)
    if found is None:
        declared = cls.observation_prompt
        found = _OBSERVATION_PROMPTS[cls] = (
            declared
            if declared is not None
            else all(
                getattr(cls, name) is getattr(LLMDecider, name)
                for name in ("messages", "prompt_for", "instructions")
            )
        )
    return found


_WARNED: set[type] = set()
_LIBRARIES = (os.path.dirname(mesa.__file__), os.path.dirname(__file__))


class LLMAgent(LLMDecider, Agent):
    """A ``mesa.Agent`` that decides with a language model (see :class:`LLMDecider`)."""


class LLMCellAgent(LLMDecider, CellAgent):
    """A ``mesa.discrete_space.CellAgent`` that decides with a language model."""
