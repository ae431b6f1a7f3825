"""Option scoring: chat models that give a probability to every allowed answer.

For a choice action space (stay/move, cooperate/defect) a backend that can score the
options from one forward pass returns the whole distribution instead of one sampled
answer. The runtime then draws each agent's action from it with the model's rng
(argmax at temperature 0), records the probabilities, and may share one scoring between
every agent that sent the same prompt without correlating their actions.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["OptionScorer", "OptionScores", "cumulative", "draw_option", "normalise"]


@dataclass(frozen=True, slots=True)
class OptionScores:
    """The probability of each option for one prompt.

    Attributes:
        probabilities: option label -> probability (summing to 1).
        tokens_in: prompt tokens the backend read.
    """

    probabilities: dict[str, float]
    tokens_in: int = 0


class OptionScorer(ABC):
    """A chat model that can score the allowed answers of a choice.

    Mix it into a LangChain ``BaseChatModel``; the runtime uses :meth:`ascore_options`
    for choice action spaces wherever a backend is an ``OptionScorer``.
    """

    @abstractmethod
    def score_options(self, messages: list[BaseMessage], options: Sequence[str]) -> OptionScores:
        """The probability of answering each of ``options`` to ``messages``."""

    async def ascore_options(self, messages: list[BaseMessage], options: Sequence[str]) -> OptionScores:
        """:meth:`score_options` from async code (in the loop's thread pool by default)."""
        return await asyncio.get_running_loop().run_in_executor(None, self.score_options, messages, options)


def normalise(probabilities: Mapping[str, float], options: Sequence[str]) -> dict[str, float]:
    """``probabilities`` restricted to ``options``, in their order, summing to 1.

    Raises:
        ValueError: if an option is missing, a value is negative or not finite, or all are 0.
    """
    missing = [o for o in options if o not in probabilities]
    if missing:
        raise ValueError(f"no probability for the options {missing}")
    values = [float(probabilities[o]) for o in options]
    if any(not math.isfinite(v) or v < 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"option probabilities must be finite, non-negative, not all 0: {values}")
    total = sum(values)
    return {o: v / total for o, v in zip(options, values, strict=True)}


def draw_option(probabilities: Mapping[str, float], temperature: float, rng: np.random.Generator) -> str:
    """One option drawn from ``probabilities`` at ``temperature``.

    At temperature 0 the most probable option (the first one on a tie), without using
    ``rng``; otherwise an option with probability proportional to ``p ** (1 / temperature)``,
    which is the softmax of the option log-probabilities at that temperature, drawn with
    one ``rng.random()`` (see :func:`cumulative`).
    """
    if temperature <= 0:
        options = list(probabilities)
        return options[int(np.argmax([probabilities[o] for o in options]))]
    options, bounds = cumulative(probabilities, temperature)
    return options[min(bisect.bisect_right(bounds, rng.random()), len(options) - 1)]


def cumulative(probabilities: Mapping[str, float], temperature: float) -> tuple[list[str], list[float]]:
    """The options and the cumulative probabilities a uniform number draws them by, at ``temperature`` > 0.

    A number ``u`` in [0, 1) draws the first option whose bound exceeds it
    (``bisect.bisect_right(bounds, u)``, the last option where rounding leaves none): the
    draw of :func:`draw_option`, for agents that share one distribution and draw their
    numbers at once.
    """
    options = list(probabilities)
    p = np.array([probabilities[o] for o in options], dtype=float)
    with np.errstate(divide="ignore"):
        logits = np.log(p) / temperature
    weights = np.exp(logits - logits.max())
    return options, np.cumsum(weights / weights.sum()).tolist()
