"""Chat models whose implied cooperation strategy is known: memory-one players and imitators.

They read the LLM player's prompt (the ``neutral`` framing, one move for all partners)
back with its template, as the rule-following chat model does.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage

from mesa_llm import FunctionChatModel, ScoringChatModel
from mesa_llm.calibration.strategy import MemoryOne
from mesa_llm_models.cooperation import ONE_MOVE

_OWN = re.compile(r"you played (\w+) and your score is")
_NEIGHBOUR = re.compile(r"^- played (\w+), score (\S+)$", re.MULTILINE)


def facts(messages: list[BaseMessage]) -> tuple[str | None, float, list[tuple[str, float]]]:
    """(own last move or None, own score, [(neighbour's move, score)]) of a player's prompt."""
    prompt = next(str(m.content) for m in messages if m.type == "human")
    fields = ONE_MOVE["neutral"].parse(prompt)
    own = _OWN.search(fields["history"])
    score = re.search(r"your score is (\S+)\.", fields["history"])
    neighbours = [(move, float(s)) for move, s in _NEIGHBOUR.findall(fields["neighbours"])]
    return (own.group(1) if own else None), float(score.group(1)) if score else 0.0, neighbours


def p_cooperate(vector: MemoryOne, messages: list[BaseMessage]) -> float:
    """The probability of cooperating a memory-one strategy gives the prompt's history (one partner)."""
    own, _, neighbours = facts(messages)
    if own is None:
        return vector.first
    (theirs, _), *_ = neighbours
    return vector.after(own == "cooperate", theirs == "cooperate")


@dataclass(frozen=True)
class Plays:
    """Answers the most probable move of a memory-one strategy (for 0/1 vectors, the strategy itself)."""

    vector: MemoryOne

    def __call__(self, messages: list[BaseMessage]) -> str:
        return "cooperate" if p_cooperate(self.vector, messages) >= 0.5 else "defect"


@dataclass(frozen=True)
class Scores:
    """Scores the moves with a memory-one strategy's probabilities."""

    vector: MemoryOne

    def __call__(self, messages: list[BaseMessage], options: Sequence[str]) -> dict[str, float]:
        p = p_cooperate(self.vector, messages)
        return {option: p if option == "cooperate" else 1.0 - p for option in options}


@dataclass
class Samples:
    """Draws each answer with a memory-one strategy's probabilities.

    The n-th asking of a prompt draws from a hash of the seed, the prompt and n, so the
    answers do not depend on the order concurrent calls run in.
    """

    vector: MemoryOne
    seed: int = 0
    _asked: dict[str, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, messages: list[BaseMessage]) -> str:
        prompt = "".join(str(m.content) for m in messages)
        with self._lock:
            n = self._asked.get(prompt, 0)
            self._asked[prompt] = n + 1
        digest = hashlib.sha256(f"{self.seed}:{n}:{prompt}".encode()).hexdigest()
        u = random.Random(int(digest[:16], 16)).random()
        return "cooperate" if u < p_cooperate(self.vector, messages) else "defect"


def playing(vector: MemoryOne | str) -> FunctionChatModel:
    """A deterministic chat model playing a memory-one strategy (the most probable move)."""
    vector = MemoryOne.parse(vector)
    return FunctionChatModel(fn=Plays(vector), model_name=f"plays-{vector.text()}")


def scoring(vector: MemoryOne | str) -> ScoringChatModel:
    """A scoring chat model with a memory-one strategy's probabilities."""
    vector = MemoryOne.parse(vector)
    return ScoringChatModel(scores=Scores(vector), model_name=f"scores-{vector.text()}", temperature=1.0)


def sampling(vector: MemoryOne | str, seed: int = 0) -> FunctionChatModel:
    """A text chat model at temperature 1 drawing its answers with a memory-one strategy's probabilities."""
    vector = MemoryOne.parse(vector)
    return FunctionChatModel(
        fn=Samples(vector, seed), model_name=f"samples-{vector.text()}-{seed}", temperature=1.0
    )


def best_move(messages: list[BaseMessage]) -> str:
    """The move of the best-scoring player among the neighbours and the player (its own on a tie)."""
    own, score, neighbours = facts(messages)
    move, best = max(neighbours, key=lambda n: n[1])
    return own if own is not None and score >= best else move


def _other(move: str) -> str:
    return "defect" if move == "cooperate" else "cooperate"


def imitator(kind: str) -> FunctionChatModel:
    """A chat model that copies the best scorer's move (``"copy"``), plays the other (``"never"``), repeats
    its own (``"repeat"``) or copies its first neighbour (``"first"``)."""
    answers = {
        "copy": best_move,
        "never": lambda messages: _other(best_move(messages)),
        "repeat": lambda messages: facts(messages)[0] or "cooperate",
        "first": lambda messages: facts(messages)[2][0][0],
    }
    return FunctionChatModel(fn=answers[kind], model_name=f"imitation-{kind}")
