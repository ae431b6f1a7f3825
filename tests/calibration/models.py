"""Chat models whose implied Schelling rule is known: logistic scorers, samplers and flat ones."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel, ScoringChatModel
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer


def logistic(eta: float) -> float:
    return 1.0 / (1.0 + math.exp(-eta))


def _share(messages: list[BaseMessage]) -> float:
    """The share of the own group the prompt states (0 with no occupied neighbour)."""
    return SchellingRuleAnswer(homophily=0.5).neighbourhood(messages).similarity


@dataclass(frozen=True)
class NoisyLogistic:
    """P(move) = logistic(b0 + b1 * share + e), e ~ N(0, noise) fixed per prompt and seed."""

    b0: float
    b1: float
    noise: float = 0.0
    seed: int = 0

    def __call__(self, messages: list[BaseMessage], options: Sequence[str]) -> dict[str, float]:
        text = "".join(str(m.content) for m in messages)
        digest = int(hashlib.sha256(f"{self.seed}:{text}".encode()).hexdigest()[:12], 16)
        error = random.Random(digest).gauss(0.0, self.noise) if self.noise else 0.0
        move = logistic(self.b0 + self.b1 * _share(messages) + error)
        probabilities = {"stay": 1.0 - move, "move": move}
        return {option: probabilities[option] for option in options}


def logistic_scorer(b0: float, b1: float, noise: float = 0.0, seed: int = 0) -> ScoringChatModel:
    """A scoring model with a known logistic P(move) (noisy per prompt where ``noise`` > 0)."""
    return ScoringChatModel(
        scores=NoisyLogistic(b0, b1, noise, seed),
        model_name=f"logistic-{b0}-{b1}-{noise}-{seed}",
        temperature=1.0,
    )


@dataclass
class SampledLogistic:
    """Answers "move" with probability logistic(b0 + b1 * share), drawn from its own seeded generator."""

    b0: float
    b1: float
    seed: int = 0
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, messages: list[BaseMessage]) -> str:
        return "move" if self.rng.random() < logistic(self.b0 + self.b1 * _share(messages)) else "stay"


def sampled_logistic(b0: float, b1: float, seed: int = 0) -> FunctionChatModel:
    """A text model sampling its answers (temperature 1, so the runtime keeps each sample)."""
    return FunctionChatModel(
        fn=SampledLogistic(b0, b1, seed), model_name=f"sampled-{b0}-{b1}-{seed}", temperature=1.0
    )


def constant(answer: str) -> FunctionChatModel:
    """Always the same answer, whatever the neighbourhood."""
    return FunctionChatModel(fn=lambda _messages: answer, model_name=f"always-{answer}")
