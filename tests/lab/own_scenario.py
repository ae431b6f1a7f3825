"""A user's own scenario as a file of their own (not a package), and undoing what loading it imports."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Walkers take an umbrella when it rains: Mesa's usual style (no annotations), rule walkers
# beside LLM walkers, a rule-following chat model for --backend rule.
WALK = '''
"""Walkers under a random sky: a scenario of one file."""

from dataclasses import dataclass
from typing import Literal

import mesa

from mesa_llm import ActionSpace, FunctionChatModel, LLMDecider, LLMRuntime, PromptTemplate
from mesa_llm.lab import ScenarioSpec
from mesa_llm.populations import llm_share_indices


@dataclass(frozen=True)
class Weather:
    raining: bool


class Walker(mesa.Agent):
    umbrella = False

    def observe(self):
        return Weather(raining=self.model.raining)

    def act(self, action):
        self.umbrella = action == "umbrella"


class CautiousWalker(Walker):
    def decide(self, observation):
        return "umbrella" if observation.raining else "none"


class LLMWalker(LLMDecider, Walker):
    action_space = ActionSpace(Literal["umbrella", "none"], fallback="none")
    prompt = PromptTemplate(
        system="You are going for a walk.", user="Is it raining now? {raining}. Do you take an umbrella?"
    )


def umbrella_if_rain(messages):
    return "umbrella" if "True" in messages[-1].content else "none"


def rule_backend(params):
    return FunctionChatModel(fn=umbrella_if_rain, model_name="umbrella-rule")


def umbrellas(model):
    return sum(walker.umbrella for walker in model.agents)


class Walk(mesa.Model):
    """Walkers under a random sky.

    Args:
        walkers: how many walk.
        rain: the chance of rain in a step (:class:`Walk` draws it from ``model.random``).
        llm_share: the share of walkers that ask a language model.
    """

    def __init__(self, walkers=10, rain=0.5, llm_share=0.5, backend=None, cache=None, rng=None):
        super().__init__(rng=rng)
        self.rain = rain
        self.raining = False
        self.llm = LLMRuntime(backend, cache=cache)
        chosen = llm_share_indices(self.rng, walkers, llm_share)
        for i in range(walkers):
            if i in chosen:
                LLMWalker(self, runtime=self.llm)
            else:
                CautiousWalker(self)
        self.datacollector = mesa.DataCollector(
            model_reporters={"umbrellas": umbrellas, **self.llm.reporters()},
            agent_reporters={"umbrella": "umbrella"},
        )
        self.datacollector.collect(self)

    def step(self):
        self.raining = self.random.random() < self.rain
        self.llm.step(self.agents, rng=self.random)
        self.datacollector.collect(self)


SCENARIO = ScenarioSpec(
    name="walk",
    model=Walk,
    summary="Walkers take an umbrella when it rains.",
    metrics=("umbrellas",),
    rule_backend=rule_backend,
)
'''


def write(folder: Path, name: str = "walk.py", text: str = WALK) -> Path:
    """Write a scenario file into ``folder`` (created); its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def imports_undone(root: Path) -> Iterator[None]:
    """Undo what loading files under ``root`` adds to ``sys.path`` and ``sys.modules``."""
    path = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = path
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(root)):
                del sys.modules[name]
