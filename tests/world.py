"""A tiny world shared by the engine tests: agents that observe a crowd and stay or move."""

import threading
from dataclasses import dataclass
from typing import Literal

import mesa
from pydantic import BaseModel

from mesa_llm import ActionSpace, FunctionChatModel, LLMDecider, PromptTemplate


@dataclass(frozen=True)
class Obs:
    crowd: int
    moved: int


class Base(mesa.Agent):
    """Observes its crowd and how many agents have moved; acting records the action."""

    def __init__(self, model, crowd=0, **kwargs):
        super().__init__(model, **kwargs)
        self.crowd = crowd
        self.done = []

    def observe(self):
        return Obs(self.crowd, self.model.moved)

    def act(self, action):
        self.done.append(action)
        self.model.acted.append(self)
        if action == "move":
            self.model.moved += 1


class Rule(Base):
    def decide(self, observation):
        return "move" if observation.crowd > 2 else "stay"


class LLM(LLMDecider, Base):
    action_space = ActionSpace(Literal["stay", "move"], fallback="stay")
    prompt = PromptTemplate(
        system="You are a resident.", user="{moved} have moved. There are {crowd} people around you."
    )


class Tell(BaseModel):
    target: int
    topic: Literal["news", "rumour"]


class Teller(LLMDecider, Base):
    action_space = ActionSpace(Tell, fallback=Tell(target=0, topic="news"))
    prompt = PromptTemplate(system="You gossip.", user="There are {crowd} people around you.")


class World(mesa.Model):
    """A model that counts moves and remembers who acted, in order."""

    def __init__(self, runtime=None, rng=0):
        super().__init__(rng=rng)
        self.runtime = runtime
        self.moved = 0
        self.acted = []

    def step(self):
        self.runtime.step(self.agents, rng=self.random)


def _question(messages) -> str:
    """The user's prompt: the last message that states the facts (a retry adds an answer and a correction)."""
    return next(str(m.content) for m in reversed(messages) if "There are " in str(m.content))


def crowd_of(messages) -> int:
    return int(_question(messages).split("There are ")[1].split(" ")[0])


def moved_of(messages) -> int:
    return int(_question(messages).split(" have moved")[0])


class Recorder:
    """A chat-model function: answers with ``answer(messages)`` and keeps every prompt it got."""

    def __init__(self, answer):
        self.answer = answer
        self.prompts = []
        self._lock = threading.Lock()

    def __call__(self, messages):
        with self._lock:
            self.prompts.append(messages)
        return self.answer(messages)

    def __repr__(self):
        return f"Recorder({self.answer.__qualname__})"

    @property
    def calls(self):
        return len(self.prompts)


def crowd_rule(messages):
    return "I will MOVE." if crowd_of(messages) > 2 else "Stay."


def chat(answer=crowd_rule, name="crowd-rule", **kwargs):
    recorder = Recorder(answer)
    return FunctionChatModel(fn=recorder, model_name=name, **kwargs), recorder
