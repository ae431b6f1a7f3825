"""Life cells: one base class for observing and acting, two ways of deciding."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

from mesa.discrete_space import Cell, FixedAgent

from mesa_llm import ActionSpace, LLMDecider, PromptTemplate
from mesa_llm.backends.scoring import draw_option
from mesa_llm.populations import RULE
from mesa_llm_models.life.framings import FRAMINGS, NEUTRAL
from mesa_llm_models.life.rules import NEIGHBOURS

if TYPE_CHECKING:
    from mesa_llm_models.life.model import LifeModel

__all__ = ["OBSERVATIONS", "CellState", "LLMCell", "LifeCell", "NextState", "RuleCell", "cell_state"]

NextState = Literal["alive", "dead"]
"""A cell's decision: its state in the next step."""


class CellState(NamedTuple):
    """What a cell observes: its own state and how many of its 8 neighbours are alive.

    An immutable named tuple. There are 18 of them (:data:`OBSERVATIONS`), and every cell
    of a model observes one of those objects (:func:`cell_state`), not one of its own,
    which keeps Python's garbage collector out of large models.

    Attributes:
        alive: whether the cell is alive now.
        live_neighbours: how many of its 8 neighbours are alive now (0 to 8).
    """

    alive: bool
    live_neighbours: int


OBSERVATIONS: tuple[CellState, ...] = tuple(
    CellState(alive, n) for alive in (False, True) for n in range(NEIGHBOURS + 1)
)
"""Every observation a cell can make: dead with 0 to 8 live neighbours, then alive with 0 to 8."""


def cell_state(alive: bool, live_neighbours: int) -> CellState:
    """The observation of a cell in this state with this many live neighbours, one of :data:`OBSERVATIONS`."""
    return OBSERVATIONS[(NEIGHBOURS + 1) * alive + live_neighbours]


class LifeCell(FixedAgent):
    """A cell of the board, alive or dead; observes its neighbours and sets its next state.

    Args:
        model: the Life model.
        cell: the grid cell it stays on; None for a cell off the board (a probe's, asked
            about given observations: it observes nothing, and no step reaches it).
        alive: whether it starts alive.
    """

    population: ClassVar[str] = RULE  # LLMDecider makes it "llm" for LLM cells
    model: LifeModel

    def __init__(self, model: LifeModel, cell: Cell | None, alive: bool, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if cell is not None:
            self.cell = cell
        self.alive = alive

    def observe(self) -> CellState:
        """Its state and the number of live cells among its 8 Moore neighbours on the torus."""
        return cell_state(self.alive, sum(neighbour.alive for neighbour in self.cell.neighborhood.agents))

    def act(self, action: NextState) -> None:
        """Take the decided state (every cell decided on the same snapshot before any acts)."""
        self.alive = action == "alive"


class RuleCell(LifeCell):
    """A cell that follows the model's rule, or draws its next state from the model's rule table."""

    def decide(self, observation: CellState) -> NextState:
        """The B/S rule's decision; with a rule table, alive next with the table's probability.

        A B/S rule draws nothing. With a table every decision draws once from ``model.rng``
        (numpy), the way an LLM cell draws its answer from a scoring backend's
        probabilities, so that LLM cells asking the table's rule-following chat model
        (``backend="rule"``) give exactly an all-rule run of these cells.
        """
        model = self.model
        if model.rule_table is None:
            return "alive" if model.rule.next_alive(*observation) else "dead"
        return draw_option(model.rule_table.probabilities(*observation), 1.0, model.rng)  # type: ignore[return-value]


class LLMCell(LLMDecider, LifeCell):
    """A cell that asks a language model whether it is alive or dead next.

    Its prompt states its own state and how many of its 8 neighbours are alive and, where
    the model's ``rule_in_prompt`` is set, the model's rule in words. When no usable answer
    comes (after the runtime's retries) the cell is dead next: the fallback is fixed, and
    in Life most cells are dead most of the time (every fallback is counted, as
    ``llm_fallbacks``).

    Args:
        model: the Life model.
        cell: the grid cell it stays on; None for a cell off the board (see :class:`LifeCell`).
        alive: whether it starts alive.
        prompt: its prompt template, a framing's (see :meth:`framing`); None for the
            class's own, the ``neutral`` framing.
        **kwargs: passed on to :class:`~mesa_llm.LLMDecider` (``runtime``, ...).
    """

    action_space = ActionSpace(NextState, fallback="dead", description="be alive or dead in the next step")
    framings: ClassVar[Mapping[str, PromptTemplate]] = FRAMINGS
    prompt = FRAMINGS[NEUTRAL]
    observation_prompt = True  # messages() derives its fields from the observation and the model

    def rule_decide(self, observation: CellState) -> NextState:
        """What the model's B/S rule decides on the same observation (the rule-shadow decision)."""
        return "alive" if self.model.rule.next_alive(*observation) else "dead"

    def messages(self, observation: CellState):  # noqa: D102
        return self.prompt_for(
            observation,
            state="alive" if observation.alive else "dead",
            are="is" if observation.live_neighbours == 1 else "are",
            rule=self.model.rule_statement,
        )
