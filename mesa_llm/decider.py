"""What the runtime needs from an agent: the typed protocols of the decision seam.

Every agent the runtime steps is a :class:`Decider`: it ``observe()``s the world,
``decide(observation)`` returns an action and ``act(action)`` changes the world. An agent
that decides with a language model is also a :class:`ModelDecider`: it gives the runtime
its chat model, its action space and the exact prompt of an observation, and the runtime
gives back the observation and record of its latest decision. :class:`~mesa_llm.LLMDecider`
implements it; so may any class of your own, without inheriting from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from mesa import Model

    from mesa_llm.actions import ActionSpace
    from mesa_llm.prompts import Messages
    from mesa_llm.records import CallRecord

__all__ = ["Decider", "ModelDecider", "asks_model", "check_deciders"]


class Decider(Protocol):
    """An agent with the decision seam: observe, decide, act."""

    def observe(self) -> Any:
        """The agent's observation of the current snapshot."""
        ...

    def decide(self, observation: Any) -> Any:
        """The action the agent takes for ``observation``."""
        ...

    def act(self, action: Any) -> None:
        """Change the world by ``action``."""
        ...


@runtime_checkable
class ModelDecider(Protocol):
    """An agent whose decisions the runtime asks of a language model.

    Attributes:
        unique_id: the agent's Mesa id (in its call records).
        model: the agent's Mesa model (``model.steps`` and ``model.time`` go into its
            records; ``model.rng`` draws its action from option probabilities).
        action_space: the actions it may take, with their fallback.
        chat_model: the chat model it asks.
        last_observation: set by the runtime: the observation of its latest decision.
        last_record: set by the runtime: the call record of its latest decision.

    Optionally, ``answer_mode``: ``"direct"`` or ``"reasoning"`` (see
    :data:`~mesa_llm.actions.ANSWER_MODES`), the mode its prompt asks for, which is how the
    runtime reads its answers; ``"direct"`` where it has none. :class:`~mesa_llm.LLMDecider`
    takes its runtime's. And ``reads_probabilities``: True for an agent that uses a scoring
    backend's option probabilities themselves, not the action drawn from them (a memory's
    importance is their expected value), which the runtime's notice that temperature 0
    argmaxes then leaves out.

    Two more are optional, for decisions at scale. ``prompt_key()``: what, beside the
    observation, the prompt is made of (None where it is made of more); agents with equal
    keys, chat models and action spaces that observe equal things share one rendering of
    their prompt per phase. ``keep_record(records, index)``: called instead of setting
    ``last_record``, so that the agent reads ``records[index]`` when asked and the runtime
    keeps no record object per decision. :class:`~mesa_llm.LLMDecider` implements both.
    """

    unique_id: int
    model: Model
    chat_model: BaseChatModel
    last_observation: Any
    last_record: CallRecord | None

    @property
    def action_space(self) -> ActionSpace[Any]:
        """The actions it may take, with their fallback (a class or an instance attribute)."""
        ...

    def messages(self, observation: Any) -> Messages:
        """The exact prompt for ``observation``."""
        ...

    def decide_without_model(self, observation: Any) -> Any | None:
        """An action taken without asking the model, or None to ask it."""
        ...


_ASKS: dict[type, bool] = {}


def asks_model(agent: object) -> bool:
    """Whether ``agent`` decides with a language model (is a :class:`ModelDecider`).

    Checked once per class: the runtime calls it for every agent of every step.
    """
    kind = type(agent)
    asks = _ASKS.get(kind)
    if asks is None:
        asks = _ASKS[kind] = isinstance(agent, ModelDecider)
    return asks


_FIXES = {
    "observe": "def observe(self): return what the agent sees (its observation)",
    "decide": (
        "def decide(self, observation): return the action of its rule (or combine the class with "
        "LLMDecider, which decides with a language model)"
    ),
    "act": "def act(self, action): change the world by the action",
}
_CHECKED: set[tuple[type, bool]] = set()


def check_deciders(agents: Iterable[object], *, acting: bool) -> None:
    """Refuse agents whose class lacks a method of the decision seam, naming the fix.

    The runtime steps an agent by ``observe()``, ``decide(observation)`` and, when it
    also applies the actions (``acting``), ``act(action)``. Checked once per class.

    Raises:
        TypeError: naming the class, the missing methods and what to define.
    """
    for kind in set(map(type, agents)):
        if (kind, acting) in _CHECKED:
            continue
        needed = ("observe", "decide", "act") if acting else ("observe", "decide")
        missing = [name for name in needed if not callable(getattr(kind, name, None))]
        if missing:
            fixes = "; ".join(_FIXES[name] for name in missing)
            raise TypeError(
                f"{kind.__name__} cannot be stepped by the runtime: it has no "
                f"{' and no '.join(missing)} method. Define {fixes}."
            )
        _CHECKED.add((kind, acting))
