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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = [
    "Branching",
    "OptionScorer",
    "OptionScores",
    "branchings",
    "cumulative",
    "draw_option",
    "normalise",
    "path_probabilities",
]


@dataclass(frozen=True, slots=True)
class OptionScores:
    """The probability of each option for one prompt.

    Attributes:
        probabilities: option label -> probability (summing to 1).
        tokens_in: prompt tokens the backend read.
        seconds: the time the backend spent on this prompt alone, where it scores several
            at once (the embedded model's lanes); None where the call's time is its own.
            Not part of the scores: two scorings of a prompt are equal whatever they took.
    """

    probabilities: dict[str, float]
    tokens_in: int = 0
    seconds: float | None = field(default=None, compare=False)


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

    def score_options_many(
        self, prompts: Sequence[list[BaseMessage]], options: Sequence[str]
    ) -> list[OptionScores]:
        """:meth:`score_options` of each of ``prompts``, in their order.

        One prompt after the other by default; a backend that scores several prompts at
        once overrides it, and gives each prompt the scores it would give it alone.
        """
        return [self.score_options(messages, options) for messages in prompts]


@dataclass(frozen=True, slots=True)
class Branching:
    """A point where the token paths of options part, for backends that score from logits.

    Attributes:
        prefix: the tokens before it (the prompt, then what the options there share).
        following: each next token -> the options whose path goes on with it (the
            answer's end token for an option that ends here).
    """

    prefix: list[int]
    following: dict[int, list[str]]


def branchings(
    paths: Mapping[str, Sequence[int]], options: Sequence[str], start: int, end: int
) -> list[Branching]:
    """The points where the options' token paths part, depth first.

    Args:
        paths: each option's tokens (the prompt, then the option as the answer).
        options: the options, in their order.
        start: how many leading tokens all the paths share.
        end: the token that ends an answer.

    Options with distinct first tokens (stay/move) part once, right after the prompt;
    an option that prefixes another ("cooperate", "cooperate fully") parts from it where
    it ends.
    """
    found: list[Branching] = []
    _part(paths, list(options), start, end, found)
    return found


def _part(
    paths: Mapping[str, Sequence[int]], group: list[str], k: int, end: int, found: list[Branching]
) -> None:
    """Add the branchings of ``group`` (options whose paths are equal up to position ``k``)."""
    while True:
        following: dict[int, list[str]] = {}
        for option in group:
            path = paths[option]
            following.setdefault(path[k] if k < len(path) else end, []).append(option)
        if len(following) > 1:
            break
        if all(k >= len(paths[option]) for option in group):
            return
        k += 1
    found.append(Branching(list(paths[group[0]][:k]), following))
    for token, members in following.items():
        if token != end:
            _part(paths, members, k + 1, end, found)


def path_probabilities(
    found: Sequence[Branching], logits: Sequence[np.ndarray], options: Sequence[str]
) -> dict[str, float]:
    """The probability of each option, from the next-token ``logits`` after each branching's prefix.

    At each branching the model's next-token distribution, restricted to the branches,
    is renormalised, and an option's probability is the product along its path: the
    distribution of answers under a grammar allowing only the options.
    """
    log_p = dict.fromkeys(options, 0.0)
    for branching, row in zip(found, logits, strict=True):
        candidates = np.array(list(branching.following), dtype=np.intp)
        chosen = row[candidates].astype(np.float64)
        log_norm = chosen - (chosen.max() + np.log(np.exp(chosen - chosen.max()).sum()))
        for token, restricted in zip(branching.following, log_norm.tolist(), strict=True):
            for option in branching.following[token]:
                log_p[option] += restricted
    values = np.array(list(log_p.values()))
    p = np.exp(values - values.max())
    return dict(zip(options, (p / p.sum()).tolist(), strict=True))


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
