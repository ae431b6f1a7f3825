import pytest
from mesa.visualization.user_param import Slider

from mesa_llm import FunctionChatModel
from mesa_llm.backends import BackendError, LocalChatModel, resolve_backend
from mesa_llm.lab import RunConfig, model_parameters
from mesa_llm.viz.session import Session, input_label, local_backend, page_inputs, page_parameters
from mesa_llm_models.cooperation import SCENARIO as COOPERATION
from mesa_llm_models.schelling import SCENARIO as SCHELLING
from mesa_llm_models.schelling.app import portrayal


def config(backend: str, **settings: str) -> RunConfig:
    return RunConfig(SCHELLING, model_parameters(SCHELLING, settings), steps=0, seed=3, backend=backend)


def test_inputs_default_to_every_parameter_and_an_llm_share_slider():
    inputs, fixed = page_inputs(COOPERATION, None)
    assert set(inputs) == set(COOPERATION.parameters())
    assert inputs["torus"]["type"] == "Checkbox"
    assert inputs["payoffs"]["type"] == "InputText"
    assert inputs["llm_share"]["type"] == "SliderFloat"
    assert fixed == {}


def test_inputs_take_mesa_sliders_and_fixed_values():
    inputs, fixed = page_inputs(SCHELLING, {"density": Slider("density", 0.7, 0.1, 0.9, 0.1), "radius": 2})
    assert inputs["density"] == {
        "type": "SliderFloat",
        "label": "density",
        "value": 0.7,
        "min": 0.1,
        "max": 0.9,
        "step": 0.1,
    }
    assert fixed == {"radius": 2}
    assert "llm_share" in inputs


def test_typed_converts_text_and_names_a_bad_value():
    typed = page_parameters(COOPERATION, {"width": "12", "payoffs": "1,0,1.6,0", "torus": False})
    assert typed["width"] == 12
    assert typed["payoffs"] == "1,0,1.6,0"  # a text parameter stays text
    assert typed["height"] == COOPERATION.parameters()["height"].default
    with pytest.raises(ValueError, match="width takes a int value"):
        page_parameters(COOPERATION, {"width": "wide"})


def test_session_builds_the_model_and_snapshots_it_between_steps():
    session = Session.start(config("rule", llm_share="0.5", width="8", height="8"), portrayal, {}, None)
    model = session.model
    assert session.first_llm_agent() == min(a.unique_id for a in model.agents if a.population == "llm")
    first = session.snapshot()
    assert (first.steps, len(first.frame)) == (0, 1)
    model.step()
    second = session.snapshot()
    assert (second.steps, len(second.frame)) == (1, 2)
    assert len(first.frame) == 1  # a snapshot is a copy
    assert second.agents is not None
    assert model.llm.log.totals.decisions == sum(a.population == "llm" for a in model.agents)


def test_session_uses_named_backends_and_reports_bad_ones():
    mine = FunctionChatModel(fn=lambda messages: "stay", model_name="always-stay")
    session = Session.start(config("mine", llm_share="1"), portrayal, {"mine": mine}, None)
    session.model.step()
    assert {r.action for r in session.model.llm.log.records} == {"stay"}
    with pytest.raises(BackendError):
        Session.start(config("nosuchprovider:model", llm_share="1"), portrayal, {}, None)
    without_llm = Session.start(config("nosuchprovider:model", llm_share="0"), portrayal, {}, None)
    assert without_llm.first_llm_agent() is None


def test_slider_labels_show_their_values_rounded_to_the_step():
    share = {"type": "SliderFloat", "label": "LLM share", "min": 0.0, "max": 1.0, "step": 0.05}
    assert input_label(share, 0.30000000000000004) == "LLM share: 0.30"
    assert input_label({**share, "step": 0.1}, 1) == "LLM share: 1.0"
    width = {"type": "SliderInt", "label": "width", "min": 5, "max": 60, "step": 1}
    assert input_label(width, 20) == "width: 20"
    assert input_label({"type": "Checkbox", "label": "torus"}, True) == "torus"  # it shows its value
    inputs, _ = page_inputs(SCHELLING, {"density": Slider("density", 0.7, 0.1, 0.9, 0.1)})
    assert input_label(inputs["density"], 0.7) == "density: 0.7"


def test_local_backend_names_the_settings_that_resolve_reads():
    assert local_backend() == "local"
    assert local_backend(n_threads=1) == "local,n_threads=1"
    assert local_backend(2, 0.7) == "local,n_threads=2,temperature=0.7"
    model = resolve_backend(local_backend(1, 0.5))
    assert isinstance(model, LocalChatModel)
    assert (model.n_threads, model.temperature) == (1, 0.5)


def test_session_knows_its_populations():
    assert Session.start(config("rule", llm_share="0.5"), portrayal, {}, None).populations == ("rule", "llm")
    assert Session.start(config("rule", llm_share="0"), portrayal, {}, None).populations == ("rule",)


def test_a_session_without_a_portrayal_draws_no_space_and_takes_the_scenarios_snapshot():
    session = Session.start(config("rule", llm_share="0.5"), None, {}, None, snapshot=lambda m: m.steps)
    assert (session.renderer, session.structure) == (None, None)
    assert session.snapshot().data == 0
    session.model.step()
    shown = session.snapshot()
    assert shown.agents is None
    assert shown.data == shown.steps == 1  # taken with the snapshot, between steps
    drawn = Session.start(config("rule", llm_share="0.5"), portrayal, {}, None).snapshot()
    assert drawn.agents is not None
    assert drawn.data is None
