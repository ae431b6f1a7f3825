"""Scenario specs: parameters read from signatures and docstrings, conversion, entry points."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import EntryPoint, EntryPoints
from typing import TYPE_CHECKING

import mesa
import pytest

from mesa_llm.lab import specs as specs_module
from mesa_llm.lab.specs import (
    ENTRY_POINT_GROUP,
    Parameter,
    ScenarioSpec,
    find_scenario,
    model_parameters,
    scenarios,
)
from mesa_llm_models.schelling import SCENARIO, SchellingModel
from tests.lab.own_scenario import WALK, imports_undone, write

if TYPE_CHECKING:  # never imported at run time: an annotation that cannot be evaluated
    from decimal import Decimal


class Toy(mesa.Model):
    """A toy model.

    Args:
        size: how many agents there are,
            at least one.
        rate (float): a rate in [0, 1].
        label: a name.
        flag: a switch.
        llm_share: the share of LLM agents.
        rng: the seed.
    """

    def __init__(
        self,
        size: int = 3,
        rate: float | None = 0.5,
        items: list[int] | None = None,
        required: int = 0,
        *,
        label: str = "x",
        flag: bool = False,
        count: int,
        llm_share: float = 0.0,
        backend: object = None,
        cache: object = None,
        rng: int | None = None,
    ) -> None:
        super().__init__(rng=rng)


class DocumentedInit(mesa.Model):
    """No Args section here."""

    def __init__(self, width: int = 5, rng: int | None = None) -> None:
        """Build it.

        Args:
            width: the width, from __init__'s docstring.
            rng: the seed.
        """
        super().__init__(rng=rng)


class TypeCheckingOnly(mesa.Model):
    """A model with an annotation imported only for type checking."""

    def __init__(self, n: int = 1, price: Decimal | None = None, rng: int | None = None) -> None:
        super().__init__(rng=rng)


def toy() -> ScenarioSpec:
    return ScenarioSpec(name="toy", model=Toy, summary="A toy.", metrics=("x",))


def test_parameters_of_schelling_in_signature_order_without_objects():
    parameters = SCENARIO.parameters()
    assert list(parameters) == [
        "width",
        "height",
        "density",
        "minority_pc",
        "homophily",
        "radius",
        "torus",
        "rule_threshold",
        "move_intercept",
        "move_slope",
        "llm_share",
        "framing",
        "tolerance",
        "answer_mode",
        "sequential",
    ]
    homophily = parameters["homophily"]
    assert (homophily.kind, homophily.default) == (float, 0.4)
    assert homophily.description.startswith("the share of own-group neighbours")
    assert parameters["torus"].kind is bool
    assert parameters["width"].kind is int


def test_parameters_include_keyword_only_and_optional_scalars_and_skip_the_rest():
    parameters = toy().parameters()
    # items: not a scalar; count: no default; backend/cache/rng: objects, not settings.
    assert list(parameters) == ["size", "rate", "required", "label", "flag", "llm_share"]
    assert parameters["rate"] == Parameter("rate", float, 0.5, "a rate in [0, 1].")
    assert parameters["label"].kind is str
    assert parameters["flag"].kind is bool


def test_docstring_descriptions_join_continuation_lines():
    parameters = toy().parameters()
    assert parameters["size"].description == "how many agents there are, at least one."
    assert parameters["required"].description == ""


def test_descriptions_fall_back_to_the_init_docstring():
    spec = ScenarioSpec(name="d", model=DocumentedInit, summary="", metrics=())
    assert spec.parameters()["width"].description == "the width, from __init__'s docstring."


def test_parameter_with_an_unresolvable_annotation_is_left_out():
    spec = ScenarioSpec(name="t", model=TypeCheckingOnly, summary="", metrics=())
    assert list(spec.parameters()) == ["n"]


def test_convert_types_values_and_accepts_hyphenated_names():
    values = toy().convert({"size": "7", "rate": "0.25", "llm-share": "1", "flag": "yes", "label": "a b"})
    assert values == {"size": 7, "rate": 0.25, "llm_share": 1.0, "flag": True, "label": "a b"}
    assert type(values["size"]) is int
    assert toy().convert({"flag": "OFF"}) == {"flag": False}


def test_convert_unknown_name_lists_the_known_parameters():
    with pytest.raises(ValueError, match="toy has no parameter 'colour'") as info:
        toy().convert({"colour": "red"})
    assert "size, rate, required, label, flag, llm_share" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("size", "1.5", "size takes a int value \\(default 3\\), got '1.5'"),
        ("rate", "fast", "rate takes a float value"),
        ("flag", "maybe", "flag takes a bool value \\(default False\\), got 'maybe'"),
    ],
)
def test_convert_bad_value_names_the_parameter_and_type(name, text, message):
    with pytest.raises(ValueError, match=message):
        toy().convert({name: text})


def test_installed_scenarios_include_schelling():
    available = scenarios()
    assert available["schelling"] is SCENARIO
    assert find_scenario("schelling").model is SchellingModel


def test_unknown_scenario_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"Unknown scenario 'nope'; available: .*schelling"):
        find_scenario("nope")


def test_model_parameters_are_the_defaults_overridden_by_settings():
    params = model_parameters(SCENARIO, {"homophily": "0.3", "llm-share": "0.5"})
    assert params["homophily"] == 0.3
    assert params["llm_share"] == 0.5
    assert params["width"] == 20
    assert list(params) == list(SCENARIO.parameters())


def test_model_parameters_reject_unknown_names():
    with pytest.raises(ValueError, match="its parameters are: width, height"):
        model_parameters(SCENARIO, {"colour": "red"})


def test_typed_values_stay_typed_and_are_checked():
    params = model_parameters(SCENARIO, {"llm_share": 0.5, "width": 12, "torus": True, "homophily": 1})
    assert (params["llm_share"], params["width"], params["torus"]) == (0.5, 12, True)
    assert params["homophily"] == 1.0
    assert type(params["homophily"]) is float  # an int of a float parameter becomes a float
    for name, value in (("width", 1.5), ("width", True), ("torus", 1), ("llm_share", "half")):
        with pytest.raises(ValueError, match=f"{name} takes a"):
            model_parameters(SCENARIO, {name: value})


def test_parameters_are_read_once():
    assert SCENARIO.parameters() is SCENARIO.parameters()
    with pytest.raises(TypeError):
        SCENARIO.parameters()["width"] = None  # a read-only view


NOT_A_SPEC = object()


def test_entry_point_of_the_wrong_type_is_named(monkeypatch):
    bad = EntryPoint(name="bad", value=f"{__name__}:NOT_A_SPEC", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(specs_module, "entry_points", EntryPoints([bad]).select)
    with pytest.raises(TypeError, match=r"'bad' = 'tests\.lab\.test_specs:NOT_A_SPEC'.*must name a"):
        scenarios()


class MesaStyle(mesa.Model):
    """A model written in Mesa's usual style, without annotations."""

    def __init__(self, width=20, density=0.8, torus=False, label="town", graph=None, rng=None):
        super().__init__(rng=rng)
        self.width = width


def test_unannotated_parameters_take_the_type_of_their_default():
    spec = ScenarioSpec(name="m", model=MesaStyle, summary="", metrics=())
    parameters = spec.parameters()
    assert {name: p.kind for name, p in parameters.items()} == {
        "width": int,
        "density": float,
        "torus": bool,
        "label": str,
    }  # graph=None has no type to read: left out, not taken for text
    assert model_parameters(spec, {"width": "30", "torus": "yes"})["width"] == 30
    assert model_parameters(spec, {"torus": "no"})["torus"] is False


class Documented(mesa.Model):
    """A model whose docstring speaks reST and of parameters a command line cannot set.

    Args:
        width: grid width (ignored with ``graph``).
        share: the share of :class:`~mesa_llm.LLMAgent` agents, as in :func:`a.b.f`.
            Drawn once. Like ``items``, it is never redrawn.
        kind: ``"a"`` or `b`; see :ref:`the guide <guide>`.
        graph: a network instead of a grid.
        items: a list.
    """

    def __init__(self, width=3, share=0.5, kind="a", graph=None, items=(1, 2), rng=None):
        super().__init__(rng=rng)


def test_descriptions_are_plain_text_without_clauses_about_unsettable_parameters():
    parameters = ScenarioSpec(name="d", model=Documented, summary="", metrics=()).parameters()
    assert list(parameters) == ["width", "share", "kind"]
    assert parameters["width"].description == "grid width."
    assert parameters["share"].description == "the share of LLMAgent agents, as in a.b.f. Drawn once."
    assert parameters["kind"].description == '"a" or b; see the guide.'


def test_a_spec_pickles_as_its_arguments():
    again = pickle.loads(pickle.dumps(SCENARIO))
    assert again == SCENARIO
    assert again.parameters() == SCENARIO.parameters()


# A user's own scenario, from a file or a module (no entry point).


@pytest.fixture
def own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with imports_undone(tmp_path):
        yield tmp_path


def test_a_file_reference_finds_its_spec_and_remembers_the_reference_as_written(own):
    write(own / "my")
    spec = find_scenario("my/walk.py:SCENARIO")
    assert (spec.name, spec.source, spec.reference) == ("walk", "my/walk.py:SCENARIO", "my/walk.py:SCENARIO")
    assert list(spec.parameters()) == ["walkers", "rain", "llm_share"]
    assert (
        spec.parameters()["rain"].description
        == "the chance of rain in a step (Walk draws it from model.random)."
    )
    assert spec.model.__module__ == "walk"  # named after the file, as `python my/walk.py` would
    assert find_scenario("my/walk.py").model is spec.model  # the only spec; the file is imported once
    assert find_scenario("my/walk.py").source == "my/walk.py:SCENARIO"
    assert find_scenario(str(own / "my" / "walk.py:SCENARIO")).source == f"{own}/my/walk.py:SCENARIO"
    assert SCENARIO.reference == "schelling"  # an installed one is found by its name


def test_a_file_can_import_the_modules_beside_it(own):
    write(own, "weather.py", "RAIN = 0.25\n")
    text = WALK.replace("import mesa\n", "import mesa\nfrom weather import RAIN\n").replace(
        "rain=0.5", "rain=RAIN"
    )
    write(own, "walk.py", text)
    assert find_scenario("walk.py").parameters()["rain"].default == 0.25


def _umbrellas_in_a_worker(spec):
    model = spec.model(backend=spec.rule_backend({}), rng=3)
    model.run_for(4)
    return model.datacollector.get_model_vars_dataframe()["umbrellas"].tolist()


def test_the_classes_of_a_file_pickle_into_a_spawned_worker(own):
    spec = find_scenario(str(write(own)))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        in_worker = pool.submit(_umbrellas_in_a_worker, spec).result(timeout=120)
    assert in_worker == _umbrellas_in_a_worker(spec)
    assert max(in_worker) > 0


def test_a_file_named_like_an_imported_module_gets_a_module_name_of_its_own(own):
    spec = find_scenario(str(write(own, "json.py")))  # json is imported: the stdlib's
    assert spec.model.__module__.startswith("mesa_llm_scenario_")
    assert pickle.loads(pickle.dumps(spec.model)) is spec.model  # within this process
    assert json.dumps([1]) == "[1]"
    again = find_scenario(str(write(own / "other", "json.py")))  # another file: another module
    assert again.model is not spec.model


def test_a_module_reference_imports_from_the_working_directory(own):
    write(own / "mypkg", "__init__.py", "")
    write(own / "mypkg", "walk.py")
    spec = find_scenario("mypkg.walk:SCENARIO")
    assert spec.model.__module__ == "mypkg.walk"
    assert spec.source == "mypkg.walk:SCENARIO"


@pytest.mark.parametrize(
    ("text", "reference", "error", "message"),
    [
        (WALK, "nowhere/walk.py:SCENARIO", ValueError, "There is no file 'nowhere/walk.py'"),
        (
            WALK,
            "walk.py:SCENE",
            ValueError,
            "walk.py has no 'SCENE'; the ScenarioSpec objects it defines: SCENARIO",
        ),
        (WALK, "walk.py:Walk", TypeError, "walk.py:Walk is a type, not a mesa_llm.lab.ScenarioSpec"),
        ("X = 1\n", "walk.py", ValueError, "walk.py defines no ScenarioSpec objects \\(none\\).*SCENARIO = "),
        (
            WALK + "import dataclasses\nOTHER = dataclasses.replace(SCENARIO, name='other')\n",
            "walk.py",
            ValueError,
            "defines 2 ScenarioSpec objects \\(SCENARIO, OTHER\\): name the one to run as walk.py:NAME",
        ),
        (WALK, "nosuchpkg.walk:SCENARIO", ValueError, "There is no module 'nosuchpkg.walk'"),
        (WALK, ":SCENARIO", ValueError, "names no file or module"),
    ],
)
def test_a_bad_reference_names_the_fix(own, text, reference, error, message):
    write(own, text=text)
    with pytest.raises(error, match=message):
        find_scenario(reference)


def test_an_error_in_the_users_file_shows_its_own_traceback(own):
    write(own, text=WALK + "\n\ndef broken():\n    return 1 / 0\n\n\nbroken()\n")
    with pytest.raises(ValueError, match=r"Importing walk\.py failed, in its own code") as info:
        find_scenario("walk.py")
    shown = str(info.value)
    assert 'walk.py", line' in shown
    assert "return 1 / 0" in shown
    assert shown.endswith("ZeroDivisionError: division by zero")
    assert "<frozen" not in shown
    assert "specs.py" not in shown
    assert "walk" not in sys.modules  # a failed import leaves nothing behind
    write(own, text="def f(:\n")
    with pytest.raises(ValueError, match="SyntaxError"):
        find_scenario("walk.py")


def test_a_missing_dependency_of_a_module_is_its_error_not_a_missing_module(own):
    write(own / "mypkg", "__init__.py", "")
    write(own / "mypkg", "walk.py", "import nosuchdependency\n")
    with pytest.raises(ValueError, match=r"Importing mypkg\.walk failed") as info:
        find_scenario("mypkg.walk:SCENARIO")
    assert "No module named 'nosuchdependency'" in str(info.value)


def test_a_parameter_whose_default_is_none_reads_the_text_none_as_none():
    answer_mode = SCENARIO.parameters()["answer_mode"]
    assert answer_mode.default is None
    assert answer_mode.convert("None") is None
    assert answer_mode.convert("") is None
    assert answer_mode.convert("reasoning") == "reasoning"
    assert SCENARIO.parameters()["framing"].convert("None") == "None"  # a str default: text stays text


def test_every_installed_scenario_pickles_whole_with_its_probes():
    """Worker processes receive the spec: its probes, rule backend and checks must pickle."""
    import pickle

    for name, spec in scenarios().items():
        again = pickle.loads(pickle.dumps(spec))
        assert again == spec, name
        assert [probe.name for probe in again.probes] == [probe.name for probe in spec.probes]
