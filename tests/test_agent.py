"""LLM agents: the decision seam, personas, backends and decide()/adecide()."""

import asyncio
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Literal

import mesa
import pytest
from mesa.discrete_space import OrthogonalMooreGrid

from mesa_llm import (
    ActionSpace,
    BackendError,
    FunctionChatModel,
    LLMAgent,
    LLMCellAgent,
    LLMDecider,
    LLMRuntime,
    PromptTemplate,
)
from tests.weights import without_default_weights
from tests.world import LLM, Base, Obs, World, chat, crowd_rule


@pytest.fixture
def backend():
    return FunctionChatModel(fn=crowd_rule, model_name="crowd-rule")


@pytest.fixture
def runtime(backend):
    return LLMRuntime(backend)


def test_llm_agent_is_a_mesa_agent_registered_with_its_model(runtime):
    model = World()
    agent = LLM(model, crowd=1, runtime=runtime)
    assert isinstance(agent, mesa.Agent)
    assert agent in model.agents
    assert agent.chat_model is runtime.backend


def test_decide_asks_the_backend_and_parses_the_answer(runtime):
    model = World()
    calm, crowded = LLM(model, crowd=1, runtime=runtime), LLM(model, crowd=5, runtime=runtime)
    assert calm.decide(calm.observe()) == "stay"
    assert crowded.decide(crowded.observe()) == "move"
    assert crowded.last_observation == Obs(5, 0)
    assert crowded.last_record.action == "move"
    assert crowded.last_record.raw == "I will MOVE."
    assert crowded.last_record.agent_id == crowded.unique_id
    assert crowded.last_record.agent_type == "LLM"


def test_adecide_works_from_async_code(runtime):
    model = World()
    agent = LLM(model, crowd=9, runtime=runtime)
    assert asyncio.run(agent.adecide(agent.observe())) == "move"
    assert agent.last_record.action == "move"


def test_messages_hold_persona_template_and_instructions(runtime):
    agent = LLM(World(), crowd=4, runtime=runtime)
    (system, human) = agent.messages(agent.observe())
    assert system == ("system", "You are a resident.")
    assert human[0] == "human"
    assert human[1].startswith("0 have moved. There are 4 people around you.\n\n")
    assert human[1].endswith(LLM.action_space.instructions())


def test_persona_overrides_the_system_prompt_for_one_agent(runtime):
    model = World()
    cat = LLM(model, crowd=1, runtime=runtime, persona="You are a cat.")
    plain = LLM(model, crowd=1, runtime=runtime)
    assert cat.persona == "You are a cat."
    assert cat.messages(cat.observe())[0] == ("system", "You are a cat.")
    assert plain.persona == "You are a resident."
    assert plain.messages(plain.observe())[0] == ("system", "You are a resident.")
    assert LLM.prompt.system == "You are a resident."


def test_prompt_for_renders_extra_fields(runtime):
    class Extra(LLM):
        prompt = PromptTemplate(system="", user="{crowd} of {cells}")

        def messages(self, observation):
            return self.prompt_for(observation, cells=8)

    agent = Extra(World(), crowd=3, runtime=runtime)
    assert agent.messages(agent.observe())[0][1].startswith("3 of 8\n\n")


def test_agent_backend_overrides_the_runtime_backend(runtime):
    always_move = FunctionChatModel(fn=lambda _m: "move", model_name="always-move")
    model = World()
    agent = LLM(model, crowd=0, runtime=runtime, backend=always_move)
    assert agent.chat_model is always_move
    assert agent.decide(agent.observe()) == "move"
    assert agent.last_record.backend == "always-move"


def test_agent_backend_alone_is_enough():
    always_move = FunctionChatModel(fn=lambda _m: "move", model_name="always-move")
    agent = LLM(World(), runtime=LLMRuntime(), backend=always_move)
    assert agent.decide(agent.observe()) == "move"


def test_no_backend_anywhere_uses_the_embedded_local_model():
    from mesa_llm.backends.local import LocalChatModel

    runtime = LLMRuntime()
    agent = LLM(World(), runtime=runtime)
    assert isinstance(agent.chat_model, LocalChatModel)
    assert runtime.backend is agent.chat_model


def test_missing_local_model_fails_at_construction_and_leaves_no_agent(monkeypatch):
    without_default_weights(monkeypatch)
    model = World()
    with pytest.raises(BackendError, match=r"pip install 'mesa-llm-lab\[local\]'"):
        LLM(model, runtime=LLMRuntime())
    assert len(model.agents) == 0


def test_unknown_backend_string_raises_backend_error():
    with pytest.raises(BackendError):
        LLM(World(), runtime=LLMRuntime(), backend="nonexistent_provider:foo")


def test_ready_made_agent_classes():
    class Plain(LLMAgent):
        action_space = ActionSpace(Literal["a", "b"], fallback="a")
        prompt = PromptTemplate(system="", user="{x}")

    class OnCell(LLMCellAgent):
        action_space = ActionSpace(Literal["a", "b"], fallback="a")
        prompt = PromptTemplate(system="", user="{x}")

    backend = FunctionChatModel(fn=lambda _m: "b", model_name="b")
    runtime = LLMRuntime(backend)
    model = World()
    grid = OrthogonalMooreGrid((2, 2), random=model.random)
    plain = Plain(model, runtime=runtime)
    on_cell = OnCell(model, runtime=runtime)
    on_cell.cell = grid.all_cells.cells[0]
    assert isinstance(on_cell, mesa.discrete_space.CellAgent)
    assert on_cell in grid.all_cells.cells[0].agents
    assert plain.decide({"x": 1}) == "b"
    assert on_cell.decide({"x": 2}) == "b"


def test_a_class_without_action_space_or_prompt_is_refused(runtime):
    class Unfinished(LLMDecider, Base):
        prompt = LLM.prompt

    world = World()
    with pytest.raises(TypeError, match="must set the class attributes action_space: action_space = "):
        Unfinished(world, runtime=runtime)
    assert len(world.agents) == 0


class Sick(mesa.Agent):
    """A Mesa agent with its own __init__ and rule, as in Mesa's examples (VirusOnNetwork)."""

    def __init__(self, model, crowd=0):
        super().__init__(model)
        self.crowd = crowd
        self.done = []

    def observe(self):
        return Obs(self.crowd, 0)

    def decide(self, observation):
        return "stay"

    def act(self, action):
        self.done.append(action)


@pytest.mark.parametrize("first", ["decider", "agent"])
def test_the_order_of_the_mixin_and_the_agent_base_does_not_matter(first, runtime):
    bases = (LLMDecider, Sick) if first == "decider" else (Sick, LLMDecider)
    cls = type("LLMSick", bases, {"action_space": LLM.action_space, "prompt": LLM.prompt})
    world = World()
    agent = cls(world, crowd=5, runtime=runtime, persona="You are a patient.")
    assert (agent.crowd, agent.persona, agent.runtime) == (5, "You are a patient.", runtime)
    assert agent.decide(agent.observe()) == "move"  # the model decides, not Sick's rule
    assert agent.last_record is not None
    runtime.step([agent])  # and so does a step
    assert agent.done == ["move"]
    assert len(runtime.log) == 2
    assert len(world.agents) == 1


def test_a_subclass_of_a_mixed_class_inherits_the_order_fix(runtime):
    class LLMSick(Sick, LLMDecider):
        action_space = LLM.action_space
        prompt = LLM.prompt

    class Patient(LLMSick):
        def __init__(self, model, **kwargs):
            super().__init__(model, **kwargs)
            self.patient = True

    agent = Patient(World(), crowd=4, runtime=runtime)
    assert agent.patient
    assert agent.decide(agent.observe()) == "move"


def test_a_class_listing_the_mixin_second_with_its_own_init_is_refused_naming_the_fix():
    with pytest.raises(TypeError, match=r"put LLMDecider first, class LLMSick\(LLMDecider, Sick\)"):

        class LLMSick(Sick, LLMDecider):
            action_space = LLM.action_space
            prompt = LLM.prompt

            def __init__(self, model, **kwargs):
                super().__init__(model, **kwargs)


def test_a_missing_runtime_is_named(runtime):
    with pytest.raises(TypeError, match="needs runtime="):
        LLM(World())


class Stepping(Sick):
    """A Mesa agent whose step decides by its own rule (Mesa's usual style)."""

    def step(self):
        self.act(Sick.decide(self, self.observe()))


class Asking(Sick):
    """A Mesa agent whose step asks its decide (which the mixin makes the model's)."""

    def step(self):
        self.act(self.decide(self.observe()))


def test_a_base_step_that_asks_no_model_warns_once_with_the_fix(runtime):
    class LLMStepping(LLMDecider, Stepping):
        action_space = LLM.action_space
        prompt = LLM.prompt

    world = World()
    agents = [LLMStepping(world, crowd=5, runtime=runtime) for _ in range(3)]
    with pytest.warns(RuntimeWarning, match=r"asked no language model.*model\.llm\.step\(agents") as caught:
        world.agents.shuffle_do("step")
    world.agents.shuffle_do("step")  # once per class: no warning now (warnings are errors here)
    assert len(caught) == 1
    assert caught[0].filename == __file__  # it points at the shuffle_do line, not into Mesa
    assert [a.done for a in agents] == [["stay", "stay"]] * 3  # the base's rule decided
    assert len(runtime.log) == 0


def test_a_base_step_that_asks_decide_reaches_the_model_without_a_warning(runtime, recwarn):
    class LLMAsking(LLMDecider, Asking):
        action_space = LLM.action_space
        prompt = LLM.prompt

    world = World()
    agents = [LLMAsking(world, crowd=5, runtime=runtime) for _ in range(2)]
    world.agents.shuffle_do("step")
    assert [a.done for a in agents] == [["move"]] * 2
    assert len(runtime.log) == 2
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


TERSE = PromptTemplate(system="", user="{crowd} around, {moved} moved.")


class Framed(LLM):
    framings: ClassVar[Mapping[str, PromptTemplate]] = MappingProxyType({"plain": LLM.prompt, "terse": TERSE})


def test_an_agent_given_a_framings_prompt_asks_with_it_and_the_class_keeps_its_own(runtime):
    terse = Framed.framing("terse")
    agent = Framed(World(), runtime=runtime, prompt=terse)
    other = Framed(World(), runtime=runtime)
    assert agent.messages(Obs(moved=1, crowd=4))[-1][1].startswith("4 around, 1 moved.")
    assert other.template == LLM.prompt
    assert Framed.framing("mine", {"mine": terse}) is terse  # a user's own framing
    with pytest.raises(ValueError, match="plain, terse"):
        Framed.framing("loud")
    with pytest.raises(TypeError, match="prompt must be a PromptTemplate"):
        Framed(World(), runtime=runtime, prompt="4 around")


@pytest.mark.parametrize("keep", [True, False])
def test_each_agent_reads_its_own_record_whether_the_log_keeps_records_or_not(keep, tmp_path):
    from mesa_llm import CallLog

    backend, _ = chat()
    log = CallLog(path=tmp_path / "records.jsonl", keep=keep)
    runtime = LLMRuntime(backend, log=log)
    model = World(runtime)
    agents = [LLM(model, crowd=3, runtime=runtime) for _ in range(6)]
    runtime.step(agents)
    records = [a.last_record for a in agents]
    assert [r.agent_id for r in records] == [a.unique_id for a in agents]
    assert {r.action for r in records} == {"move"}
    assert sum(r.backend_calls for r in records) == 1
    assert sum(r.shared for r in records) == 5
    assert len(log.records) == (6 if keep else 0)
    written = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert sorted(row["agent_id"] for row in written) == sorted(a.unique_id for a in agents)
    agents[0].last_record = None  # the protocol's attribute can still be set
    assert agents[0].last_record is None
    assert agents[1].last_record is not None
