import pytest

from mesa_llm import FunctionChatModel
from mesa_llm.backends import BackendError
from mesa_llm.experiments import Axis, Sweep
from tests.experiments.sweeps import SMALL, mixed_sweep, noisy_backend


def test_tasks_cover_the_product_of_the_axes_with_seeds_innermost():
    sweep = Sweep(
        "schelling", fixed=SMALL, axes={"llm_share": [0.0, 1.0], "homophily": [0.3, 0.5, 0.7]}, seeds=[4, 9]
    )
    tasks = sweep.tasks()
    assert len(sweep) == len(tasks) == 12
    assert [t.run for t in tasks[:3]] == ["00", "01", "02"]
    assert [(t.conditions["llm_share"], t.conditions["homophily"], t.config.seed) for t in tasks[:4]] == [
        (0.0, 0.3, 4),
        (0.0, 0.3, 9),
        (0.0, 0.5, 4),
        (0.0, 0.5, 9),
    ]
    assert tasks[5].config.params["homophily"] == 0.7
    assert tasks[5].config.params["width"] == 8
    assert sweep.factors == ("llm_share", "homophily")


def test_an_axis_of_one_level_is_no_factor_and_a_mapping_labels_objects():
    backend = FunctionChatModel(fn=str, model_name="echo")
    sweep = Sweep(
        "schelling", fixed=SMALL, axes={"backend": {"echo": backend}, "llm_share": [1.0]}, seeds=[0]
    )
    (task,) = sweep.tasks()
    assert sweep.factors == ()
    assert task.conditions == {"backend": "echo", "llm_share": 1.0}
    assert task.config.backend == "echo"
    assert task.backends == {"echo": backend}


def test_an_unknown_parameter_is_refused_with_the_parameters_listed():
    with pytest.raises(ValueError, match=r"no parameter 'homofily' \(in axes\).*homophily"):
        Sweep("schelling", axes={"homofily": [0.3]})
    with pytest.raises(ValueError, match=r"no parameter 'widht' \(in fixed\)"):
        Sweep("schelling", fixed={"widht": 3})


def test_a_bad_value_names_the_axis_and_the_value():
    with pytest.raises(ValueError, match=r"axis 'homophily' has the value 'high'.*float"):
        Sweep("schelling", axes={"homophily": [0.3, "high"]})
    with pytest.raises(ValueError, match=r"fixed parameter width='wide'"):
        Sweep("schelling", fixed={"width": "wide"})


def test_a_value_the_scenario_refuses_is_refused_before_any_run():
    with pytest.raises(
        ValueError, match=r"condition homophily=1.5 is refused by schelling: homophily must be"
    ):
        Sweep("schelling", axes={"homophily": [0.5, 1.5]})


def test_malformed_designs_are_refused():
    with pytest.raises(ValueError, match="both fixed and swept"):
        Sweep("schelling", fixed={"homophily": 0.3}, axes={"homophily": [0.3]})
    with pytest.raises(ValueError, match="at least one seed"):
        Sweep("schelling", seeds=[])
    with pytest.raises(ValueError, match="repeat"):
        Sweep("schelling", seeds=[1, 1])
    with pytest.raises(ValueError, match="no levels"):
        Sweep("schelling", axes={"homophily": []})
    with pytest.raises(ValueError, match=r"repeats the level 0\.3"):
        Sweep("schelling", axes={"homophily": [0.3, 0.3]})
    with pytest.raises(ValueError, match="must list its levels"):
        Sweep("schelling", axes={"homophily": 0.3})
    with pytest.raises(ValueError, match="needs a name"):
        Axis.of("backend", [FunctionChatModel(fn=str)])
    with pytest.raises(ValueError, match="not in fixed"):
        Sweep("schelling", fixed={"backend": "rule"})
    with pytest.raises(ValueError, match="Unknown scenario"):
        Sweep("no-such-scenario")


def test_a_backend_that_cannot_be_created_fails_at_construction():
    with pytest.raises(BackendError, match="no-such-provider"):
        Sweep("schelling", axes={"backend": ["rule", "no-such-provider:model"]})


def test_a_chat_model_that_cannot_be_pickled_is_a_design_checked_only_for_other_processes():
    local = FunctionChatModel(fn=lambda messages: "stay", model_name="lambda")
    sweep = Sweep("schelling", axes={"backend": {"lambda": local}})  # accepted: it may run in this process
    identity = sweep.describe()["axes"]["backend"]["lambda"]["chat_model"]  # a folder needs no pickle
    assert identity.startswith("mesa_llm.backends.testing.FunctionChatModel|")
    with pytest.raises(
        ValueError,
        match=r"The backend 'lambda' cannot be pickled \(.*<lambda>.*module level.*workers=1, no executor",
    ):
        sweep.check_sendable()
    Sweep("schelling", axes={"backend": {"coin": noisy_backend()}}).check_sendable()  # a module-level one


def test_the_digest_is_that_of_the_design():
    assert mixed_sweep().digest() == mixed_sweep().digest()
    assert mixed_sweep().digest() != mixed_sweep(steps=5).digest()
    assert mixed_sweep().digest() != mixed_sweep(seeds=range(3)).digest()
    described = mixed_sweep().describe()
    assert described["axes"]["backend"]["coin"]["chat_model"].startswith(
        "mesa_llm.backends.testing.ScoringChatModel"
    )
    assert described["fixed"] == SMALL


def test_a_temperature_cannot_be_set_on_a_chat_model_object():
    with pytest.raises(ValueError, match="set it on the object itself"):
        Sweep("schelling", axes={"backend": {"coin": noisy_backend()}, "temperature": [0.0, 1.0]})
    with pytest.raises(ValueError, match="temperature must be"):
        Sweep("schelling", axes={"temperature": [-1.0]})
    sweep = Sweep("schelling", fixed=SMALL, axes={"temperature": [0.0, 0.7]}, seeds=[0])
    assert [t.config.temperature for t in sweep.tasks()] == [0.0, 0.7]


def test_fixed_parameters_are_described_as_given():
    described = Sweep(
        "schelling", fixed={"graph": None, "density": 0.5}, axes={"homophily": [0.3]}
    ).describe()
    assert described["fixed"] == {"graph": None, "density": 0.5}
