"""Conway's Game of Life (and any Life-like rule) with rule cells, LLM cells, or both."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from mesa import Model
from mesa.discrete_space import Cell, OrthogonalMooreGrid

from mesa_llm import LLMRuntime, PromptTemplate, choose_llm
from mesa_llm.backends import RULE_BACKEND
from mesa_llm.cache import ResponseCache
from mesa_llm.checks import check_seed
from mesa_llm.datacollection import DataCollector
from mesa_llm.lab import check_model_arguments
from mesa_llm.populations import ALL, LLM, RULE, per_population, ratio
from mesa_llm_models.life.agents import OBSERVATIONS, CellState, LifeCell, LLMCell, RuleCell
from mesa_llm_models.life.framings import NEUTRAL, rule_statement
from mesa_llm_models.life.parameters import check_arguments
from mesa_llm_models.life.patterns import Pattern, glider_at
from mesa_llm_models.life.rule_backend import rule_following_backend
from mesa_llm_models.life.rules import NEIGHBOURS, LifeRule, RuleTable

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["LifeModel", "check_parameters"]


class LifeModel(Model):
    """A Life-like cellular automaton on a torus, each cell decided by a rule or a language model.

    Every cell of an ``OrthogonalMooreGrid`` torus holds one cell agent, alive or dead.
    Each step every cell observes the same snapshot (its state and how many of its 8
    neighbours are alive) and decides its next state; then all cells take it. Rule cells
    follow ``rule`` (or the probabilities of ``rule_table``); LLM cells ask a language
    model. With rule cells only, Conway's rule and a random start, the model consumes
    ``model.random`` exactly as ``mesa.examples.ConwaysGameOfLife`` does (one draw per
    cell, in the grid's order), so the same ``rng`` gives the same trajectory. Which cells
    are LLM cells is drawn from ``model.rng`` (numpy), so it never perturbs that trajectory.

    Args:
        width: grid width (at least 3, so that a cell's 8 neighbours are distinct cells).
        height: grid height (at least 3).
        initial_fraction_alive: chance that a cell starts alive, with ``start="random"``.
        start: ``"random"`` (each cell alive with ``initial_fraction_alive``) or
            ``"glider"`` (a single glider in the middle of an empty board, which needs a
            board of at least 5 x 5; the ``glider`` reporter says whether it is intact).
        rule: the rule in B/S notation: ``"B3/S23"`` (Conway's Life), ``"B36/S23"``
            (HighLife), any ``B[0-8]*/S[0-8]*``. Rule cells follow it (unless ``rule_table``
            is given), the prompt states it with ``rule_in_prompt``, and LLM cells are
            compared with it (``llm_rule_agreement``).
        rule_table: stochastic rule cells instead: the probability that a cell is alive
            next, as ``"B:p0,...,p8/S:p0,...,p8"``: after ``B:`` the nine probabilities
            for a dead cell with 0 to 8 live neighbours, after ``S:`` the nine for a live
            cell (``"B:0,0,0,1,0,0,0,0,0/S:0,0,1,1,0,0,0,0,0"`` is Conway's rule). Each
            rule cell draws its next state from ``model.rng`` every step, as an LLM cell
            draws from a scoring backend's probabilities. None (default): rule cells
            follow ``rule``.
        rule_in_prompt: state the model's ``rule`` in words in the LLM cells' prompt (does
            the model follow a stated rule?); without it the prompt says only what the
            cell sees (what does the model retrieve about "life"?).
        llm_share: fraction of cells that decide with a language model, in [0, 1].
        framing: the words of the LLM cells' prompt, by name: ``neutral`` (cells on a
            grid), ``conway`` (names Conway's Game of Life) or ``lights`` (lamps on a
            panel), or one of ``framings``. The same facts in every framing.
        framings: a user's own framings, name -> prompt template, added to the built-in
            ones (one of an existing name replaces it); the rule-following chat model
            (``backend="rule"``) reads the facts from any of them.
        answer_mode: how LLM cells answer: ``"direct"`` (the option alone) or
            ``"reasoning"`` (a few sentences of reasoning, kept in the call records, then
            the answer); None is ``"direct"``, or the mode of a given ``runtime``.
        backend: the LLM cells' chat model (a LangChain ``BaseChatModel``, a
            ``"provider:model"`` string, or a function that creates one when the first LLM
            cell needs it); ``"rule"`` answers as the rule cells do: by ``rule`` (a mixed
            run then equals the all-rule run), or with ``rule_table``'s probabilities (an
            all-LLM run then equals the all-rule run); None uses the embedded local model.
        cache: a response cache for the LLM calls.
        runtime: a fully configured :class:`~mesa_llm.LLMRuntime` (concurrency, timeout,
            retries, dedup, ...); ``backend`` and ``cache`` then stay unset.
        rng: seed or generator, as for ``mesa.Model``.

    Raises:
        TypeError: for a parameter of the wrong type (``"20"`` for a number, ``"false"``
            for a flag), naming the parameter and what to pass.
        ValueError: for parameters out of range, a rule or rule table that cannot be read
            (with its notation), an unknown start or framing, or a framing without a
            ``{rule}`` field with ``rule_in_prompt``.
    """

    def __init__(
        self,
        width: int = 50,
        height: int = 50,
        initial_fraction_alive: float = 0.2,
        start: str = "random",
        rule: LifeRule | str = "B3/S23",
        rule_table: RuleTable | str | None = None,
        rule_in_prompt: bool = False,
        llm_share: float = 0.0,
        framing: str = NEUTRAL,
        framings: Mapping[str, PromptTemplate] | None = None,
        answer_mode: str | None = None,
        backend: BaseChatModel | str | Callable[[], BaseChatModel] | None = None,
        cache: ResponseCache | None = None,
        runtime: LLMRuntime | None = None,
        rng: Any = None,
    ) -> None:
        self.rule, self.rule_table, self.llm_prompt = check_arguments(locals())
        if backend == RULE_BACKEND:  # the rule-following chat model of these settings
            backend = rule_following_backend(self.rule, framing, framings, self.rule_table)
        llm_runtime = LLMRuntime.for_model(backend, cache, runtime, answer_mode)
        super().__init__(rng=check_seed(rng))
        self.start = start
        self.framing = framing
        self.rule_statement = rule_statement(self.rule) if rule_in_prompt else ""
        self.llm = llm_runtime
        self.grid = OrthogonalMooreGrid((width, height), capacity=1, random=self.random, torus=True)
        self._shape = (width, height)
        self.glider_origin = ((width - 3) // 2, (height - 3) // 2)

        cells = list(self.grid.all_cells)
        if start == "random":  # one draw per cell in the grid's order, as Mesa's example
            states = [self.random.random() < initial_fraction_alive for _ in cells]
        else:
            glider = glider_at(0, self.glider_origin, (width, height))
            states = [cell.coordinate in glider for cell in cells]
        llm = choose_llm(self, len(cells), llm_share)
        for index, (cell, alive) in enumerate(zip(cells, states, strict=True)):
            if index in llm:
                self.llm_cell(cell, alive)
            else:
                RuleCell(self, cell, alive)
        self.cells: list[LifeCell] = list(self.agents)  # in the grid's order
        position = {cell: i for i, cell in enumerate(cells)}
        self._neighbours = np.array(
            [[position[n] for n in cell.neighborhood.cells] for cell in cells], dtype=np.intp
        ).reshape(len(cells), NEIGHBOURS)
        self._coordinates = [cell.coordinate for cell in cells]
        self._llm = np.array([c.population == LLM for c in self.cells], dtype=bool)
        self._count = {ALL: len(cells), LLM: int(self._llm.sum()), RULE: int((~self._llm).sum())}
        self.generation = 0
        self.running = True
        self.datacollector = DataCollector(
            model_reporters={**self._reporters(), **self.llm.reporters()},
            agent_reporters={"alive": "alive", "population": "population"},
        )
        self._measure()
        self.datacollector.collect(self)

    def llm_cell(self, cell: Cell | None = None, alive: bool = False) -> LLMCell:
        """A new LLM cell on ``cell``, with the model's prompt and runtime.

        The model builds its LLM cells with it. A probe of their implied rule builds one
        off the board (``cell=None``: every cell of the board is taken, and it never
        steps) and asks it about each of the 18 :data:`OBSERVATIONS`: its prompts are then
        exactly those of the model's cells.
        """
        return LLMCell(self, cell, alive, prompt=self.llm_prompt, runtime=self.llm)

    def step(self) -> None:
        """Every cell decides on the last snapshot, then all take their next state; measure, collect."""
        self.llm.step(self.cells, observations=self.snapshot)
        self.generation += 1
        self._measure()
        self.datacollector.collect(self)

    def live_pattern(self) -> Pattern:
        """The coordinates of the live cells."""
        return frozenset(self._coordinates[i] for i in np.flatnonzero(self._alive))

    def _measure(self) -> None:
        """Observe every cell at once: the snapshot the next step decides on, and the metrics.

        The live neighbours are counted with numpy and equal what each cell's ``observe()``
        returns (tested); every cell's observation is one of the 18 :data:`OBSERVATIONS`.
        """
        alive = np.fromiter((c.alive for c in self.cells), dtype=bool, count=len(self.cells))
        kinds = (NEIGHBOURS + 1) * alive + alive[self._neighbours].sum(axis=1)
        self.snapshot: dict[LifeCell, CellState] = dict(
            zip(self.cells, map(OBSERVATIONS.__getitem__, kinds.tolist()), strict=True)
        )
        self._alive = alive
        self._live = {
            ALL: int(alive.sum()),
            LLM: int(alive[self._llm].sum()),
            RULE: int(alive[~self._llm].sum()),
        }
        self.glider = (
            math.nan
            if self.start != "glider"
            else float(self.live_pattern() == glider_at(self.generation, self.glider_origin, self._shape))
        )

    def _reporters(self) -> dict[str, Any]:
        """The live fraction for all cells and each population, the cells of each, and the glider.

        Module-level functions, so that a model holding them pickles.
        """
        return {
            "alive": _alive_all,
            "glider": _glider,
            **per_population({"alive": _alive, "cells": _cells}),
        }


def _alive_all(m: LifeModel) -> float:
    return ratio(m._live[ALL], m._count[ALL])


def _glider(m: LifeModel) -> float:
    return m.glider


def _alive(m: LifeModel, p: str) -> float:
    return ratio(m._live[p], m._count[p])


def _cells(m: LifeModel, p: str) -> int:
    return m._count[p]


def check_parameters(params: Mapping[str, Any]) -> None:
    """Check a :class:`LifeModel`'s complete parameters without building it.

    Runs the constructor's own checks, so a sweep refuses a bad combination before any
    run starts; the LLM runtime's ``backend``, ``cache`` and ``runtime``, which the
    constructor resolves, are left to it.

    Args:
        params: keyword arguments of :class:`LifeModel`; missing ones take their defaults.

    Raises:
        TypeError: for an unknown parameter, or one of the wrong type, as the constructor would.
        ValueError: for a value out of range, a rule or table that cannot be read, an
            unknown start or framing, as the constructor would.
    """
    check_model_arguments(LifeModel, params, check_arguments)
