"""Schelling's segregation model with rule residents, LLM residents, or both."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
from mesa import Model
from mesa.discrete_space import Cell, DiscreteSpace, Network, OrthogonalMooreGrid

from mesa_llm import LLMRuntime, PromptTemplate
from mesa_llm.backends import RULE_BACKEND
from mesa_llm.cache import ResponseCache
from mesa_llm.checks import check_seed
from mesa_llm.datacollection import DataCollector
from mesa_llm.lab import check_model_arguments
from mesa_llm.populations import ALL, LLM, POPULATIONS, RULE, llm_share_indices, per_population, ratio
from mesa_llm_models.schelling.agents import (
    LLMResident,
    LogisticResident,
    Neighbourhood,
    Resident,
    RuleResident,
)
from mesa_llm_models.schelling.framings import NEUTRAL, llm_prompt
from mesa_llm_models.schelling.parameters import check_values
from mesa_llm_models.schelling.rule_backend import rule_backend_of

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["NeighbourIndex", "SchellingModel", "check_parameters"]


class SchellingModel(Model):
    """Schelling segregation with a mix of rule and LLM residents on one space.

    The rule semantics are those of ``mesa.examples.Schelling``: a resident is happy when
    at least ``homophily`` of its occupied neighbouring cells hold its own group (0 when
    it has none); each step every resident decides on the snapshot left by the previous
    step, then residents act in shuffled order, and unhappy ones move to a random empty
    cell. With ``llm_share=0`` the model consumes ``model.random`` exactly as that example
    does, so the same ``rng`` gives the same trajectory. Which residents are LLM residents
    is drawn from ``model.rng`` (numpy), so it never perturbs that trajectory either.

    "Happy" is measured for every resident with the homophily threshold, whatever
    decides for it; an LLM resident may stay while unhappy or move while happy.

    At least one cell stays empty, so that an unhappy resident always has somewhere to
    move: if the density draw fills every cell (likely on a tiny grid), one resident,
    chosen with ``model.rng``, is left out. A run with an empty cell draws nothing more.

    Args:
        width: grid width (ignored with ``graph``).
        height: grid height (ignored with ``graph``).
        density: chance that a cell holds a resident, in [0, 1) (one cell is always left empty).
        minority_pc: chance that a resident belongs to the minority group 1, in [0, 1].
        homophily: the share of own-group neighbours a rule resident needs, in [0, 1];
            every resident is measured happy by it.
        radius: neighbourhood radius (Moore on a grid, hops on a network).
        torus: wrap the grid's edges.
        graph: a networkx graph to live on instead of a grid; residents move to a
            random empty node.
        rule_threshold: the share of own-group neighbours rule residents need to stay,
            in [0, 1], when it is not the homophily (a threshold a probe implied, say);
            happiness is still measured by the homophily. None: the homophily.
        move_intercept: with ``move_slope``, rule residents draw their move: they move with
            probability ``1 / (1 + exp(-(move_intercept + move_slope * share)))``, the
            logistic rule a threshold probe fits (its threshold ``-move_intercept /
            move_slope``). None (both): Schelling's deterministic rule.
        move_slope: the slope of that logistic rule (negative: residents move less the more
            neighbours share their group).
        llm_share: fraction of residents that decide with a language model, in [0, 1].
        llm_counts: instead of ``llm_share``, the number of LLM residents in each group,
            e.g. ``{0: 10, 1: 5}``.
        framing: the words of the LLM residents' prompt, by name: ``neutral`` (residents
            of a town, their own group and the other), ``colours`` (coloured tokens on a
            board) or ``social`` (people like you or unlike you), or one of ``framings``.
            The same facts in every framing.
        framings: a user's own framings, name -> prompt template, added to the built-in
            ones (one of an existing name replaces it); the rule-following chat model
            (``backend="rule"``) reads the facts from any of them.
        tolerance: a persona knob of the LLM residents: their system prompt adds "Your
            tolerance of neighbours unlike you is {tolerance}." (``"very low"``, ...,
            ``"very high"``); None adds nothing.
        answer_mode: how LLM residents answer: ``"direct"`` (the option, or the
            structured answer, alone) or ``"reasoning"`` (a few sentences of reasoning,
            kept in the call records, then the answer); None is ``"direct"``, or the mode
            of a given ``runtime``.
        backend: the LLM residents' chat model (a LangChain ``BaseChatModel``, a
            ``"provider:model"`` string, or a function that creates one when the first
            LLM resident needs it); ``"rule"`` answers by Schelling's rule at this
            ``homophily`` (the mixed run then equals the all-rule run); None uses the
            embedded local model.
        cache: a response cache for the LLM calls.
        runtime: a fully configured :class:`~mesa_llm.LLMRuntime` (concurrency, timeout,
            retries, dedup, ...); ``backend`` and ``cache`` then stay unset.
        sequential: sequential activation (each resident sees earlier moves) instead of
            the two-phase step.
        rng: seed or generator, as for ``mesa.Model``.

    Raises:
        TypeError: for a parameter of the wrong type (``"20"`` for a number, ``"false"``
            for a flag), naming the parameter and what to pass.
        ValueError: for parameters out of range, with the range in the message.

    """

    def __init__(
        self,
        width: int = 20,
        height: int = 20,
        density: float = 0.8,
        minority_pc: float = 0.5,
        homophily: float = 0.4,
        radius: int = 1,
        torus: bool = False,
        graph: nx.Graph | None = None,
        rule_threshold: float | None = None,
        move_intercept: float | None = None,
        move_slope: float | None = None,
        llm_share: float = 0.0,
        llm_counts: Mapping[int, int] | None = None,
        framing: str = NEUTRAL,
        framings: Mapping[str, PromptTemplate] | None = None,
        tolerance: str | None = None,
        answer_mode: str | None = None,
        backend: BaseChatModel | str | Callable[[], BaseChatModel] | None = None,
        cache: ResponseCache | None = None,
        runtime: LLMRuntime | None = None,
        sequential: bool = False,
        rng: Any = None,
    ) -> None:
        check_values(
            width=width,
            height=height,
            density=density,
            minority_pc=minority_pc,
            homophily=homophily,
            radius=radius,
            torus=torus,
            graph=graph,
            rule_threshold=rule_threshold,
            move_intercept=move_intercept,
            move_slope=move_slope,
            llm_share=llm_share,
            llm_counts=llm_counts,
            framing=framing,
            framings=framings,
            tolerance=tolerance,
            sequential=sequential,
        )
        super().__init__(rng=check_seed(rng))
        self.density = density
        self.minority_pc = minority_pc
        self.homophily = homophily
        self.rule_threshold = homophily if rule_threshold is None else rule_threshold
        self.move_intercept = move_intercept
        self.move_slope = move_slope
        self.radius = radius
        self.sequential = sequential
        self.framing = framing
        self.tolerance = tolerance
        self.llm_prompt = llm_prompt(LLMResident.framing(framing, framings), tolerance)
        if graph is None:
            self.grid = OrthogonalMooreGrid((width, height), torus=torus, capacity=1, random=self.random)
        else:
            self.grid = Network(graph, capacity=1, random=self.random, layout=None)
        self._neighbours = NeighbourIndex(self.grid, radius)

        placements = [
            (cell, 1 if self.random.random() < minority_pc else 0)
            for cell in self.grid.all_cells
            if self.random.random() < density
        ]
        if placements and len(placements) == len(self.grid.all_cells):  # nobody could move: free a cell
            del placements[int(self.rng.integers(len(placements)))]
        llm = self._choose_llm_residents([group for _, group in placements], llm_share, llm_counts)
        if backend == RULE_BACKEND:  # the rule-following chat model of these settings
            backend = rule_backend_of(
                {
                    "homophily": self.rule_threshold,
                    "move_intercept": move_intercept,
                    "move_slope": move_slope,
                    "framing": framing,
                    "framings": framings,
                }
            )
        self.llm = LLMRuntime.for_model(backend, cache, runtime, answer_mode)
        rule_class = RuleResident if move_intercept is None else LogisticResident
        for index, (cell, group) in enumerate(placements):
            if index in llm:
                self.llm_resident(cell, group)
            else:
                rule_class(self, cell, group)

        self.moves = dict.fromkeys(POPULATIONS, 0)
        self.happy = 0
        self.datacollector = DataCollector(
            model_reporters={**self._reporters(), **self.llm.reporters()},
            agent_reporters={"group": "group", "population": "population", "happy": "happy"},
        )
        self._measure()
        self.datacollector.collect(self)

    @property
    def neighbourhood_size(self) -> int:
        """The cells of the largest neighbourhood: (2r + 1)² - 1 on a grid, the largest one on a network."""
        return self._neighbours.max_degree

    def llm_resident(self, cell: Cell, group: int) -> LLMResident:
        """A new LLM resident of ``group`` on ``cell``, with the model's prompt and runtime.

        The model builds its LLM residents with it, and so does a probe of their implied
        rule, whose prompts are then exactly those of the model's residents.
        """
        return LLMResident(self, cell, group, prompt=self.llm_prompt, runtime=self.llm)

    def _choose_llm_residents(
        self, groups: list[int], share: float, counts: Mapping[int, int] | None
    ) -> set[int]:
        """Indices of the residents that decide with a language model, drawn from ``self.rng``."""
        if counts is None:
            return llm_share_indices(self.rng, len(groups), share)
        chosen: set[int] = set()
        for group, k in counts.items():
            members = [i for i, g in enumerate(groups) if g == group]
            if k > len(members):
                raise ValueError(
                    f"llm_counts asks for {k} LLM residents in group {group}, which has only "
                    f"{len(members)} residents; lower the count or raise density."
                )
            chosen.update(int(members[i]) for i in self.rng.choice(len(members), size=k, replace=False))
        return chosen

    def step(self) -> None:
        """Decide on the last snapshot, act in shuffled order, measure, collect."""
        self.moves = dict.fromkeys(POPULATIONS, 0)
        self.llm.step(self.agents, rng=self.random, observations=self.snapshot, sequential=self.sequential)
        self._measure()
        self.datacollector.collect(self)
        self.running = self.happy < len(self.agents)

    def _measure(self) -> None:
        """Observe every resident at once: the snapshot the next step decides on, and the metrics.

        The counts come from :class:`NeighbourIndex` (vectorised) and equal what each
        resident's ``observe()`` returns (tested). Residents with the same counts share
        one observation object: a few dozen objects per step instead of one per resident,
        which keeps Python's garbage collector out of large models.
        """
        residents = list(self.agents)
        position = self._neighbours.position
        same, other, empty = self._neighbours.counts(
            [position[r.cell] for r in residents], [r.group for r in residents]
        )
        base = int(self._neighbours.max_degree) + 1  # one integer per (same, other, empty)
        kinds, which = np.unique((same * base + other) * base + empty, return_inverse=True)
        observations = [Neighbourhood(k // base // base, k // base % base, k % base) for k in kinds.tolist()]
        self.snapshot: dict[Resident, Neighbourhood] = dict(
            zip(residents, map(observations.__getitem__, which.tolist()), strict=True)
        )

        occupied = same + other
        share = np.divide(same, occupied, out=np.zeros(len(residents)), where=occupied > 0)
        happy = share >= self.homophily
        for resident, is_happy in zip(residents, happy.tolist(), strict=True):
            resident.happy = is_happy
        llm = np.array([r.population == LLM for r in residents], dtype=bool)
        with_neighbours = occupied > 0
        self._happy, self._count, self._similarity = {}, {}, {}
        # All residents are measured in one pass of their own, not as the sum of the
        # populations' sums: float addition depends on the order, and this way a mixed run
        # whose LLM residents follow the rule reports exactly the all-rule run's values.
        for group, members in ((ALL, np.ones_like(llm)), (RULE, ~llm), (LLM, llm)):
            self._happy[group] = int(happy[members].sum())
            self._count[group] = int(members.sum())
            scored = members & with_neighbours
            self._similarity[group] = [float(share[scored].sum()), int(scored.sum())]
        self.happy = self._happy[ALL]

    def _reporters(self) -> dict[str, Any]:
        """Each metric for all residents, then for each population (``happy_rule``, ``happy_llm``, ...).

        Module-level functions, so that a model holding them pickles.
        """
        return {
            "happy": _happy_all,
            "pct_happy": _pct_happy_all,
            "segregation": _segregation_all,
            "moves": _moves_all,
            **per_population(
                {
                    "happy": _happy,
                    "pct_happy": _pct_happy,
                    "segregation": _segregation,
                    "moves": _moves,
                    "residents": _residents,
                }
            ),
        }


def _happy_all(m: SchellingModel) -> int:
    return m.happy


def _pct_happy_all(m: SchellingModel) -> float:
    return ratio(100.0 * m.happy, m._count[ALL])


def _segregation_all(m: SchellingModel) -> float:
    return ratio(*m._similarity[ALL])


def _moves_all(m: SchellingModel) -> int:
    return sum(m.moves.values())


def _happy(m: SchellingModel, p: str) -> int:
    return m._happy[p]


def _pct_happy(m: SchellingModel, p: str) -> float:
    return ratio(100.0 * m._happy[p], m._count[p])


def _segregation(m: SchellingModel, p: str) -> float:
    return ratio(*m._similarity[p])


def _moves(m: SchellingModel, p: str) -> int:
    return m.moves[p]


def _residents(m: SchellingModel, p: str) -> int:
    return m._count[p]


class NeighbourIndex:
    """The neighbourhoods of every cell of a space, for counting all residents at once.

    It has exactly Mesa's neighbourhoods (``cell.get_neighborhood(radius)``), on grids,
    tori and networks alike (tested), and counts same-group, other-group and empty
    neighbouring cells of every resident with numpy. On an orthogonal Moore grid it is
    computed from the coordinates by offset arithmetic: every cell within Chebyshev
    distance ``radius``, wrapped on a torus and clipped otherwise, never the cell itself.
    That is what Mesa's breadth-first neighbourhood of that radius is, without filling
    Mesa's neighbourhood cache (a Python collection per cell). Any other space, and a
    torus too small for the radius (whose offsets wrap onto one cell, where Mesa's rules
    on duplicates and the cell itself apply), is read from ``get_neighborhood``.

    Args:
        space: a discrete space whose cells hold at most one resident.
        radius: the neighbourhood radius.
    """

    def __init__(self, space: DiscreteSpace, radius: int) -> None:
        cells = list(space.all_cells)
        self.position = {cell: i for i, cell in enumerate(cells)}
        wraps = (
            isinstance(space, OrthogonalMooreGrid) and space.torus and min(space.dimensions) < 2 * radius + 1
        )
        if isinstance(space, OrthogonalMooreGrid) and not wraps:
            self._rows, self._columns = _moore_pairs(space, cells, radius)
        else:
            pairs = [
                (i, self.position[neighbour])
                for i, cell in enumerate(cells)
                for neighbour in cell.get_neighborhood(radius=radius).cells
            ]
            self._rows, self._columns = np.array(pairs, dtype=np.intp).reshape(-1, 2).T
        self._degree = np.bincount(self._rows, minlength=len(cells))
        self.max_degree = int(self._degree.max(initial=0))

    def counts(self, cells: list[int], groups: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Same-group, other-group and empty neighbouring cells of residents.

        Args:
            cells: each resident's cell position (see :attr:`position`).
            groups: each resident's group (a non-negative integer).
        """
        n = len(self._degree)
        occupant = np.full(n, -1, dtype=np.int64)
        occupant[cells] = groups
        neighbour = occupant[self._columns]
        occupied = neighbour >= 0
        same = np.bincount(self._rows, weights=occupied & (neighbour == occupant[self._rows]), minlength=n)
        occupied_count = np.bincount(self._rows, weights=occupied, minlength=n)
        same_r = same[cells].astype(np.int64)
        occupied_r = occupied_count[cells].astype(np.int64)
        return same_r, occupied_r - same_r, self._degree[cells] - occupied_r


def _moore_pairs(grid: OrthogonalMooreGrid, cells: list[Cell], radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(cell, neighbour) position pairs of every cell within Chebyshev distance ``radius``, by offsets."""
    dimensions = np.array(grid.dimensions, dtype=np.intp)
    coordinates = np.array([cell.coordinate for cell in cells], dtype=np.intp).reshape(len(cells), -1)
    lookup = np.empty(tuple(dimensions), dtype=np.intp)
    lookup[tuple(coordinates.T)] = np.arange(len(cells))
    rows, columns = [], []
    for offset in itertools.product(range(-radius, radius + 1), repeat=len(dimensions)):
        if not any(offset):
            continue
        moved = coordinates + np.array(offset, dtype=np.intp)
        if grid.torus:
            moved %= dimensions
            inside = np.arange(len(cells))
        else:
            inside = np.flatnonzero(((moved >= 0) & (moved < dimensions)).all(axis=1))
        rows.append(inside)
        columns.append(lookup[tuple(moved[inside].T)])
    return np.concatenate(rows), np.concatenate(columns)


def check_parameters(params: Mapping[str, Any]) -> None:
    """Check a :class:`SchellingModel`'s complete parameters without building it.

    Runs the constructor's own checks, so a sweep refuses a bad combination before any
    run starts. Left to the constructor: what only the built model can tell (``llm_counts``
    larger than a group turns out to be), and the LLM runtime's ``backend``, ``cache`` and
    ``runtime``, which it resolves.

    Args:
        params: keyword arguments of :class:`SchellingModel`; missing ones take their defaults.

    Raises:
        TypeError: for an unknown parameter, or one of the wrong type, as the constructor would.
        ValueError: for a value out of range or an unknown framing, as the constructor would.
    """
    check_model_arguments(SchellingModel, params, _check_values_of)


def _check_values_of(arguments: Mapping[str, Any]) -> None:
    """:func:`check_values` of the model's complete arguments (those it checks)."""
    check_values(**{name: arguments[name] for name in inspect.signature(check_values).parameters})
