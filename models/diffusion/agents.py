"""Residents of the town: one base class for observing and acting, two ways of deciding.

Each game hour an awake resident observes where it is, who is there, the time and who
(if anyone) came up to it (:class:`Situation`), and chooses one of the hour's actions:
``talk`` with the resident who came up to it, ``go home`` or ``go to`` a public place, or
``carry on`` with its day (:class:`HourSpaces`). Rule residents follow a contagion rule
(:func:`cascade_choice`); LLM residents ask a language model, with the memories their
stream retrieves for the situation in the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from mesa import Agent

from mesa_llm import ActionSpace, LLMDecider, PromptTemplate
from mesa_llm.backends.scoring import draw_option
from mesa_llm.memory import MemoryStream, Retrieved
from mesa_llm.populations import RULE
from mesa_llm_models.diffusion.framings import FRAMINGS, KNOWN, NEUTRAL, NOBODY, STRANGER, quote_memories
from mesa_llm_models.diffusion.town import Persona, Place

if TYPE_CHECKING:
    from mesa_llm_models.diffusion.model import DiffusionModel

__all__ = [
    "CARRY_ON",
    "GO_HOME",
    "TALK",
    "HourSpaces",
    "LLMResident",
    "Resident",
    "RuleResident",
    "Situation",
    "cascade_choice",
    "go_to",
]

TALK = "talk"
"""Talk with the resident who came up to you."""
CARRY_ON = "carry on"
"""Carry on with the day (the fallback)."""
GO_HOME = "go home"
"""Go home for this hour and the next."""


def go_to(place_id: str) -> str:
    """The action of going to the public place ``place_id``: ``"go to cafe"``."""
    return f"go to {place_id}"


@dataclass(frozen=True, slots=True)
class HourSpaces:
    """The actions of an hour: with someone to talk to, and alone.

    Attributes:
        meeting: talk, carry on, go home, go to each public place.
        alone: the same without talk.
        destinations: the place id of each ``go`` action.
    """

    meeting: ActionSpace[str]
    alone: ActionSpace[str]
    destinations: Mapping[str, str]

    @classmethod
    def of(cls, public: Sequence[Place]) -> HourSpaces:
        """The spaces of a town with these public places."""
        goes = [GO_HOME, *(go_to(p.id) for p in public)]
        alone: Any = Literal[(CARRY_ON, *goes)]
        meeting: Any = Literal[(TALK, CARRY_ON, *goes)]
        description = "what you do in the next hour"
        return cls(
            meeting=ActionSpace(meeting, fallback=CARRY_ON, description=description),
            alone=ActionSpace(alone, fallback=CARRY_ON, description=description),
            destinations={GO_HOME: "home", **{go_to(p.id): p.id for p in public}},
        )


@dataclass(frozen=True, slots=True)
class Situation:
    """What a resident observes in an hour: the text its prompt states, and the facts a rule reads.

    The fields shown (``repr``) are the prompt's fields (see :mod:`~mesa_llm_models.diffusion.framings`);
    the others are the same facts for rule residents and are never rendered.
    """

    clock: str
    place: str
    company: str
    partner: str
    places: str
    memories: str
    hour: int = field(repr=False)
    day: int = field(repr=False)
    place_id: str = field(repr=False)
    partner_id: int | None = field(repr=False)
    acquainted: bool = field(repr=False)


def cascade_choice(
    labels: Sequence[str],
    *,
    informed: bool,
    acquainted: bool,
    invite: bool,
    event_place: str,
    p: float,
    q: float,
) -> dict[str, float]:
    """The cascade rule's probability of each action of an hour (``labels``, a space's).

    An informed resident goes to the event with probability ``q`` at its starting hour
    when it is elsewhere (``invite``); otherwise, when an acquaintance came up to it, it
    tells them (``talk``) with probability ``p``. Everything else is ``carry on``. Rule
    residents draw from these probabilities, and so do LLM residents asking the
    rule-following chat model (which reads the same facts from their prompt), each with
    one draw from ``model.rng``.
    """
    chances = dict.fromkeys(labels, 0.0)
    go = go_to(event_place)
    attend = q if informed and invite and go in chances else 0.0
    tell = (1.0 - attend) * p if informed and acquainted and TALK in chances else 0.0
    if attend:
        chances[go] = attend
    if tell:
        chances[TALK] = tell
    chances[CARRY_ON] = 1.0 - attend - tell
    return chances


def partner_text(name: str | None, acquainted: bool) -> str:
    """The ``partner`` field: "Tom Moreno, whom you know", "..., whom you have not met" or "nobody"."""
    if name is None:
        return NOBODY
    return f"{name}, {KNOWN if acquainted else STRANGER}"


class Resident(Agent):
    """A resident of the town: where it is, whom it meets, what it knows; observes and acts.

    Args:
        model: the diffusion model.
        persona: who it is (its name, home and usual day).
        node: its node in the acquaintance graph.
    """

    population: ClassVar[str] = RULE  # LLMDecider makes it "llm" for LLM residents
    model: DiffusionModel

    def __init__(self, model: DiffusionModel, persona: Persona, node: int, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.profile = persona
        self.node = node
        self.name = persona.name
        self.place = self.home
        #: Where it went with its latest ``go`` action (None: where its plan puts it) ...
        self.going: str | None = None
        #: ... until the end of this step (the one after the action's).
        self.going_until = 0
        #: Who came up to it this hour (drawn by the model), or None.
        self.partner: Resident | None = None
        #: Today's departures from its usual day: hour -> place id.
        self.plan: dict[int, str] = {}
        #: Whether it knows of the event; who told it (a name; None for the host, or before); when.
        self.informed = False
        self.informed_by: str | None = None
        self.informed_at: float | None = None

    @property
    def home(self) -> str:
        """The id of its home."""
        return self.profile.home

    def awake(self, hour: int) -> bool:
        """Whether it is awake at ``hour``."""
        return self.profile.awake(hour)

    def planned_place(self, hour: int) -> str:
        """Where it means to be at ``hour``: today's plan, else its usual place (home asleep)."""
        if not self.awake(hour):
            return self.home
        return self.plan.get(hour, self.profile.usual_place(hour))

    def observe(self) -> Situation:
        """The hour as it sees it (with the memories it retrieves, for an LLM resident)."""
        return self.model.situation(self, self.memories_for)

    def memories_for(self, query: str) -> str:
        """The memories its prompt quotes for ``query``: none for a rule resident."""
        return ""

    def act(self, action: str) -> None:
        """Talk (a conversation the model runs after everyone has decided), go somewhere, or carry on."""
        if action == TALK and self.partner is not None:
            self.model.start_conversation(self, self.partner)
        elif action in self.model.spaces.destinations:
            destination = self.model.spaces.destinations[action]
            self.going = self.home if destination == "home" else destination
            self.going_until = self.model.steps + 1
            self.place = self.going


class RuleResident(Resident):
    """A resident that follows the model's contagion rule (independent cascade or linear threshold)."""

    def __init__(self, model: DiffusionModel, persona: Persona, node: int, **kwargs: Any) -> None:
        super().__init__(model, persona, node, **kwargs)
        #: The acquaintances who told it the news (the linear threshold counts them).
        self.told_by: set[str] = set()

    def decide(self, observation: Situation) -> str:
        """One draw from :func:`cascade_choice`'s probabilities (``model.rng``), as an LLM resident draws."""
        model = self.model
        space = model.spaces.meeting if observation.partner_id is not None else model.spaces.alone
        chances = cascade_choice(
            space.labels,
            informed=self.informed,
            acquainted=observation.acquainted,
            invite=model.invites(observation),
            event_place=model.event.place,
            p=model.p,
            q=model.q,
        )
        return draw_option(chances, 1.0, model.rng)


class LLMResident(LLMDecider, Resident):
    """A resident that asks a language model what to do each hour, and remembers.

    Its prompt is its framing's, with its persona (who it is, whom it knows, what it
    plans) as the system message and the memories its :class:`~mesa_llm.memory.MemoryStream`
    retrieves for the hour quoted at the end. When no usable answer comes it carries on.

    Args:
        model: the diffusion model.
        persona: who it is.
        node: its node in the acquaintance graph.
        persona_text: its system message (the framing's prefix and its persona).
        prompt: its framing's template.
        **kwargs: passed on to :class:`~mesa_llm.LLMDecider` (``runtime``, ...).
    """

    framings: ClassVar[Mapping[str, PromptTemplate]] = FRAMINGS
    prompt = FRAMINGS[NEUTRAL]
    memory: MemoryStream

    @property
    def action_space(self) -> ActionSpace[str]:  # type: ignore[override]
        """The hour's actions: with ``talk`` when someone came up to it."""
        spaces = self.model.spaces
        return spaces.meeting if self.partner is not None else spaces.alone

    #: The retrieval of its latest hourly decision (None before the first), for inspection.
    decision_retrieved: Retrieved | None = None

    def observe(self) -> Situation:
        """The hour as it sees it, with the memories retrieved for it (kept as :attr:`decision_retrieved`)."""
        situation = super().observe()
        self.decision_retrieved = self.memory.last_retrieved
        return situation

    def memories_for(self, query: str) -> str:
        """The memories its stream retrieves for ``query``, quoted (their last access is now)."""
        return quote_memories(self.memory.retrieve(query).texts)
