"""The protocol between the runtime and its agents: any class that implements it decides through the model."""

from dataclasses import dataclass
from typing import Literal

import mesa
import pytest

from mesa_llm import ActionSpace, FunctionChatModel, LLMRuntime, ModelDecider
from mesa_llm.decider import asks_model
from tests.world import LLM, Rule, World, chat


@dataclass(frozen=True)
class Crowd:
    crowd: int


class OwnLLMAgent(mesa.Agent):
    """An LLM agent written without LLMDecider: it implements the ModelDecider protocol itself."""

    action_space = ActionSpace(Literal["stay", "move"], fallback="stay")

    def __init__(self, model, crowd, chat_model):
        super().__init__(model)
        self.crowd = crowd
        self.chat_model = chat_model
        self.last_observation = None
        self.last_record = None
        self.done = []

    def observe(self):
        return Crowd(self.crowd)

    def messages(self, observation):
        return (("human", f"0 have moved. There are {observation.crowd} people around you. Stay or move?"),)

    def decide_without_model(self, observation):
        return None

    def decide(self, observation):  # a Decider too: decided alone, it asks the runtime
        return self.model.runtime.decide(self, observation)

    def act(self, action):
        self.done.append(action)


def test_llm_decider_agents_implement_the_protocol_and_rule_agents_do_not():
    runtime = LLMRuntime(chat()[0])
    model = World(runtime)
    assert isinstance(LLM(model, runtime=runtime), ModelDecider)
    assert not isinstance(Rule(model), ModelDecider)
    assert asks_model(LLM(model, runtime=runtime))
    assert not asks_model(Rule(model))


def test_the_runtime_asks_the_model_for_any_agent_that_implements_the_protocol():
    backend, recorder = chat()
    runtime = LLMRuntime(backend)
    model = World(runtime)
    own = [OwnLLMAgent(model, crowd, backend) for crowd in (1, 5)]
    rule = Rule(model, crowd=5)
    actions = runtime.step([*own, rule])
    assert [actions[a] for a in own] == ["stay", "move"]
    assert actions[rule] == "move"
    assert recorder.calls == 2
    assert [a.last_record.agent_type for a in own] == ["OwnLLMAgent", "OwnLLMAgent"]
    assert own[1].last_observation == Crowd(5)
    assert len(runtime.log) == 2  # the rule agent decided without a record
    assert runtime.step(own[:1], sequential=True) == {own[0]: "stay"}
    assert len(runtime.log) == 3


class Silent(mesa.Agent):
    """A rule agent that forgot its decision seam."""


class Watcher(mesa.Agent):
    def observe(self):
        return 0

    def decide(self, observation):
        return "stay"


def test_an_agent_without_the_decision_seam_is_refused_with_the_fix():
    model = mesa.Model(rng=0)
    runtime = LLMRuntime(FunctionChatModel(fn=lambda _m: "stay"))
    Silent(model)
    with pytest.raises(
        TypeError, match=r"Silent cannot be stepped .* no observe and no decide and no act"
    ) as info:
        runtime.step(model.agents)
    assert "def decide(self, observation)" in str(info.value)
    assert "LLMDecider" in str(info.value)


def test_deciding_needs_no_act_but_stepping_does():
    model = mesa.Model(rng=0)
    runtime = LLMRuntime(FunctionChatModel(fn=lambda _m: "stay"))
    Watcher(model)
    assert runtime.decide_all(list(model.agents), [0]) == ["stay"]
    with pytest.raises(TypeError, match=r"Watcher .* no act method\. Define def act\(self, action\)"):
        runtime.step(model.agents)
