"""Schelling residents: one base class for observing and acting, two ways of deciding."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

from mesa.discrete_space import Cell, CellAgent

from mesa_llm import ActionSpace, LLMDecider, PromptTemplate
from mesa_llm.backends.scoring import draw_option
from mesa_llm.populations import RULE
from mesa_llm_models.schelling.framings import FRAMINGS, NEUTRAL

if TYPE_CHECKING:
    from mesa_llm_models.schelling.model import SchellingModel

__all__ = [
    "LLMResident",
    "LogisticResident",
    "Move",
    "Neighbourhood",
    "Resident",
    "RuleResident",
    "move_probabilities",
]

Move = Literal["stay", "move"]


class Neighbourhood(NamedTuple):
    """What a resident observes: the occupancy of the cells around it.

    An immutable named tuple of ints. The model's snapshot holds one object per distinct
    neighbourhood (a few dozen), not one per resident, which keeps Python's garbage
    collector out of large models.

    Attributes:
        same: neighbouring cells occupied by a resident of its own group.
        other: neighbouring cells occupied by a resident of the other group.
        empty: neighbouring cells that are empty.

    """

    same: int
    other: int
    empty: int

    @property
    def similarity(self) -> float:
        """The share of its own group among occupied neighbouring cells (0 if none)."""
        occupied = self.same + self.other
        return self.same / occupied if occupied else 0.0


class Resident(CellAgent):
    """A resident of one group on a cell; observes its neighbourhood and stays or moves.

    Args:
        model: the Schelling model.
        cell: the cell it lives in.
        group: 0 (majority) or 1 (minority).

    """

    population: ClassVar[str] = RULE  # LLMDecider makes it "llm" for LLM residents
    model: SchellingModel

    def __init__(self, model: SchellingModel, cell: Cell, group: int, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.cell = cell
        self.group = group
        self.happy = False

    def observe(self) -> Neighbourhood:
        """Count same-group, other-group and empty cells within the model's radius."""
        neighbourhood = self.cell.get_neighborhood(radius=self.model.radius)
        same = other = 0
        group = self.group
        for neighbour in neighbourhood.agents:
            if neighbour.group == group:
                same += 1
            else:
                other += 1
        return Neighbourhood(same, other, len(neighbourhood) - same - other)

    def act(self, action: Move) -> None:
        """Move to a random empty cell, or stay."""
        if action == "move":
            self.cell = self.model.grid.select_random_empty_cell()
            self.model.moves[self.population] += 1


class RuleResident(Resident):
    """Schelling's rule: move when the share of its own group is below the threshold.

    The threshold is the model's ``rule_threshold``, which is its ``homophily`` unless set.
    """

    def decide(self, observation: Neighbourhood) -> Move:
        """Stay if at least ``rule_threshold`` (the homophily unless set) of its neighbours are its group."""
        return "stay" if observation.similarity >= self.model.rule_threshold else "move"


def move_probabilities(similarity: float, intercept: float, slope: float) -> dict[str, float]:
    """P(stay) and P(move) of the logistic rule, ``logit P(move) = intercept + slope * similarity``."""
    move = 1.0 / (1.0 + math.exp(-min(max(intercept + slope * similarity, -700.0), 700.0)))
    return {"stay": 1.0 - move, "move": move}


class LogisticResident(RuleResident):
    """A stochastic rule resident: it moves with a logistic probability of the share of its own group.

    ``logit P(move) = move_intercept + move_slope * similarity`` (the model's parameters):
    the rule a threshold probe fits (:func:`mesa_llm.calibration.fit_threshold`), whose
    threshold is ``-move_intercept / move_slope``. Each resident draws its move from
    ``model.rng`` the way an LLM resident draws from a scoring backend's probabilities,
    so LLM residents asking the logistic rule-following chat model (``backend="rule"``)
    give exactly an all-rule run of these residents.
    """

    def decide(self, observation: Neighbourhood) -> Move:
        """Draw stay or move with the logistic rule's probabilities."""
        model = self.model
        probabilities = move_probabilities(observation.similarity, model.move_intercept, model.move_slope)
        return draw_option(probabilities, 1.0, model.rng)  # type: ignore[return-value]


class LLMResident(LLMDecider, Resident):
    """A resident that asks a language model whether to stay or move.

    Args:
        model: the Schelling model.
        cell: the cell it lives in.
        group: 0 (majority) or 1 (minority).
        prompt: its prompt template, a framing's (see :meth:`framing`); None for the
            class's own, the ``neutral`` framing.
        **kwargs: passed on to :class:`~mesa_llm.LLMDecider` (``runtime``, ...).
    """

    action_space = ActionSpace(Move, fallback="stay", description="stay in your home or move")
    framings: ClassVar[Mapping[str, PromptTemplate]] = FRAMINGS
    prompt = FRAMINGS[NEUTRAL]
    observation_prompt = True  # messages() derives its fields from the observation and the model

    def rule_decide(self, observation: Neighbourhood) -> Move:
        """What Schelling's rule would decide on the same neighbourhood (the rule-shadow decision)."""
        return RuleResident.decide(self, observation)  # type: ignore[arg-type]  # reads only model.homophily

    def messages(self, observation: Neighbourhood):  # noqa: D102
        cells = observation.same + observation.other + observation.empty
        return self.prompt_for(
            observation,
            cells=cells,
            homes="home" if cells == 1 else "homes",
            cells_are=_is_or_are(cells),
            same_are=_is_or_are(observation.same),
            empty_are=_is_or_are(observation.empty),
        )


def _is_or_are(count: int) -> str:
    """The verb of a prompt's count: "1 is empty", "2 are empty"."""
    return "is" if count == 1 else "are"
