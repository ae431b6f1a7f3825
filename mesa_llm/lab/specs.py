"""Scenario specs: the models the ``mesa-llm`` command, the dashboards and sweeps run, and their parameters.

A scenario is a Mesa model class plus what a command line needs to know about it: which
model reporters are its main metrics (plotted split by population), and optionally a
deterministic chat model that answers like its rule (``--backend rule``). Packages
publish scenarios under the entry-point group ``mesa_llm.scenarios``, so a user's own
model appears in ``mesa-llm models`` once its package declares, in ``pyproject.toml``::

    [project.entry-points."mesa_llm.scenarios"]
    mymodel = "mypackage.model:SCENARIO"

Unpackaged, a ``ScenarioSpec`` is found by a reference to it instead of a name
(:func:`find_scenario`): ``mesa-llm run path/to/my_model.py:SCENARIO`` or ``mesa-llm run
mypackage.model:SCENARIO``.

Parameters are read from the model's ``__init__`` signature (names, annotations,
defaults) and its Google-style docstring (descriptions). An un-annotated parameter (Mesa's
usual style, ``width=20``) takes the type of its default; one whose default is None has
no type to read and is left out (annotate it, ``seed: int | None = None``). Descriptions
are plain text: Sphinx roles and literals are replaced by their text, and a clause that
names a parameter which cannot be set this way (``graph``, say) is left out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import keyword
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from mesa import Model

from mesa_llm.actions import check_answer_mode
from mesa_llm.checks import check_int, check_number, check_seed
from mesa_llm.lab.signatures import argument_docs, plain_text, scalar_type, type_hints

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from mesa_llm.calibration import Probe

__all__ = [
    "Outcome",
    "Parameter",
    "ScenarioSpec",
    "check_model_arguments",
    "find_scenario",
    "model_arguments",
    "model_parameters",
    "scenarios",
]

ENTRY_POINT_GROUP = "mesa_llm.scenarios"

# Parameters a command line cannot express as one value (objects, not settings).
_NOT_SETTABLE = frozenset({"backend", "cache", "runtime", "graph", "rng", "llm_counts"})
# The texts of None, for a parameter whose default is None.
_NONE_TEXTS = frozenset({"None", "none", ""})
# Parameters that can be passed by name.
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of a scenario's model.

    Attributes:
        name: the keyword of the model's ``__init__``.
        kind: the value type a command line converts to (``int``, ``float``, ``bool``
            or ``str``).
        default: the default value.
        description: the docstring's description of the parameter.
    """

    name: str
    kind: type
    default: Any
    description: str

    def convert(self, value: Any) -> Any:
        """``value`` as this parameter's type: text is parsed, a typed value is checked.

        A value from a command line or a text field is text (``"0.5"``, ``"yes"``); one
        from Python, a slider or a checkbox is already typed (``0.5``, ``True``) and stays
        as it is, an ``int`` for a ``float`` parameter becoming a ``float``. Where the
        default is None, the text ``"None"`` (or nothing) is None.

        Raises:
            ValueError: if ``value`` is not a value of that type, naming the parameter.
        """
        if not isinstance(value, str):
            return self._check(value)
        if self.default is None and value.strip() in _NONE_TEXTS:  # as a rerun's command line gives it
            return None
        try:
            if self.kind is bool:
                lowered = value.strip().lower()
                if lowered in {"1", "true", "yes", "on"}:
                    return True
                if lowered in {"0", "false", "no", "off"}:
                    return False
                raise ValueError(value)
            return self.kind(value)
        except ValueError:
            raise self._error(value) from None

    def _check(self, value: Any) -> Any:
        """A typed value of this parameter (an int of a float parameter as a float)."""
        if value is None and self.default is None:
            return value
        if self.kind is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, self.kind) and (self.kind is bool or not isinstance(value, bool)):
            return value
        raise self._error(value)

    def _error(self, value: Any) -> ValueError:
        return ValueError(
            f"{self.name} takes a {self.kind.__name__} value (default {self.default!r}), got {value!r}."
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """An outcome metric of a scenario: how a run is summarised by it, and what difference matters.

    A sweep (:mod:`mesa_llm.experiments`) summarises each run by the mean of the model
    reporter ``metric`` over the last ``last`` steps, and its robustness verdict calls two
    conditions equivalent when their means differ by less than ``margin`` (the
    equivalence margin δ, in the metric's units).

    Args:
        metric: a model reporter of the scenario (its all-agents column).
        margin: the equivalence margin δ, in the metric's units (> 0).
        last: the steps at the end of a run averaged (>= 1); fewer where the run is shorter.
        description: what the metric measures, for reports.

    Raises:
        ValueError: for a margin that is not positive or a window under 1.
    """

    metric: str
    margin: float
    last: int = 10
    description: str = ""

    def __post_init__(self) -> None:
        if not check_number("margin", self.margin) > 0:
            raise ValueError(f"The margin of {self.metric!r} must be positive, got {self.margin}.")
        check_int("last", self.last, minimum=1)

    def summarise(self, frame: Any) -> float:
        """The run's value: the mean of ``frame[metric]`` over its last ``last`` steps after step 0.

        Args:
            frame: a run's model frame (row ``i`` is the state after step ``i``).
        """
        values = frame[self.metric].iloc[1:] if len(frame) > 1 else frame[self.metric]
        return float(values.iloc[-self.last :].mean())


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A model the command line can run.

    Args:
        name: the scenario's name on the command line.
        model: the Mesa model class; it must accept ``llm_share``, ``backend``, ``cache``
            and ``rng`` keywords and expose its :class:`~mesa_llm.LLMRuntime` as
            ``model.llm`` and its collector as ``model.datacollector``, which collects
            once when the model is built and once per step.
        summary: one line describing it.
        metrics: its main model reporters; each is plotted with the columns
            ``{metric}_rule`` and ``{metric}_llm`` where the model reports them.
        rule_backend: builds, from the model's parameters, a deterministic chat model
            with which LLM agents behave exactly as rule agents.
        app: the module of its Solara dashboard (``mesa-llm viz``), e.g.
            ``"mesa_llm_models.schelling.app"``, which defines ``page``.
        source: for a scenario no package publishes, the reference :func:`find_scenario`
            loaded it from (``"my_model.py:SCENARIO"``, as the user wrote the path); None
            for an installed one. Set by :func:`find_scenario`.
        outcomes: the outcome metrics a sweep summarises each run by and its robustness
            verdict tests (:class:`Outcome`); a scenario without them gets its runs'
            frames but no verdict.
        check: checks the model's complete parameters without building it (raising the
            model's own TypeError or ValueError), so that a sweep refuses a bad
            combination before any run starts; None leaves the checks to the model.
        probes: the probes of its LLM agents' implied rules
            (:class:`mesa_llm.calibration.Probe`), the first one the default of
            ``mesa-llm probe``; empty for none.
        outputs: writes the scenario's own outputs of a finished or interrupted run (its
            memories, say) into the folder it is given, returning the names of the files
            written; a run's folder gets them after its standard files, and ``run.json``
            lists them as ``"outputs"`` (see :class:`~mesa_llm.lab.journal.RunJournal`).
            None: no outputs of its own.
        steps_of: the run length the model's complete parameters imply (``24 * days``
            for a model that stops after ``days`` game days of 24 steps), the steps of
            ``mesa-llm run`` without ``--steps``; None: the command line's 50.
    """

    name: str
    model: type[Model]
    summary: str
    metrics: tuple[str, ...]
    rule_backend: Callable[[Mapping[str, Any]], BaseChatModel] | None = None
    app: str | None = None
    source: str | None = None
    outcomes: tuple[Outcome, ...] = ()
    check: Callable[[Mapping[str, Any]], None] | None = None
    probes: tuple[Probe, ...] = ()
    outputs: Callable[[Model, Path], Sequence[str]] | None = None
    steps_of: Callable[[Mapping[str, Any]], int] | None = None
    _parameters: Mapping[str, Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parameters", MappingProxyType(self._read_parameters()))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its arguments (its parameters are read again), for worker processes."""
        fields = (
            self.name,
            self.model,
            self.summary,
            self.metrics,
            self.rule_backend,
            self.app,
            self.source,
            self.outcomes,
            self.check,
            self.probes,
            self.outputs,
            self.steps_of,
        )
        return (type(self), fields)

    @property
    def reference(self) -> str:
        """What :func:`find_scenario` finds it by again: its source, or the name it is installed under."""
        return self.source if self.source is not None else self.name

    def parameters(self) -> Mapping[str, Parameter]:
        """The parameters a command line can set, in signature order (read once, when created)."""
        return self._parameters

    def _read_parameters(self) -> dict[str, Parameter]:
        init = self.model.__init__
        signature = inspect.signature(init)
        hints = type_hints(init)
        # The class docstring's Args win over those of __init__'s docstring.
        docs = argument_docs(inspect.getdoc(init) or "") | argument_docs(inspect.getdoc(self.model) or "")
        settable = {}
        for name, parameter in signature.parameters.items():
            if name == "self" or name in _NOT_SETTABLE or parameter.kind not in _NAMED:
                continue
            if parameter.default is inspect.Parameter.empty:
                continue
            kind = scalar_type(hints[name]) if name in hints else scalar_type(type(parameter.default))
            if kind is not None:
                settable[name] = (kind, parameter.default)
        unset = [name for name in signature.parameters if name != "self" and name not in settable]
        return {
            name: Parameter(name, kind, default, plain_text(docs.get(name, ""), unset))
            for name, (kind, default) in settable.items()
        }

    def convert(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Typed model parameters from ``name -> value`` settings, text or typed (:meth:`Parameter.convert`).

        Raises:
            ValueError: for an unknown name (listing the known ones) or a bad value.
        """
        known = self.parameters()
        values = {}
        for name, text in settings.items():
            key = name.replace("-", "_")
            if key not in known:
                raise ValueError(
                    f"{self.name} has no parameter {name!r}; its parameters are: {', '.join(known)}."
                )
            values[key] = known[key].convert(text)
        return values


def check_model_arguments(
    model: type[Model], params: Mapping[str, Any], check: Callable[[Mapping[str, Any]], None]
) -> None:
    """Check a model's complete parameters without building it: a scenario's ``ScenarioSpec.check``.

    ``params`` are bound to the model's signature (a TypeError for an unknown name, as the
    constructor would raise), completed with its defaults and passed to ``check``, the
    scenario's own checks of its values; then ``answer_mode`` (where the model has one and
    it is set) and ``rng`` are checked as the runtime and ``mesa.Model`` check them.

    Raises:
        TypeError: for an unknown parameter, or one of the wrong type.
        ValueError: for a value the checks refuse.
    """
    arguments = model_arguments(model, params)
    check(arguments)
    if arguments.get("answer_mode") is not None:
        check_answer_mode(arguments["answer_mode"])
    check_seed(arguments["rng"])


def model_arguments(model: type[Model], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` bound to the model's signature by name and completed with its defaults.

    Raises:
        TypeError: for an unknown parameter, as the constructor would raise.
    """
    bound = inspect.signature(model).bind(**params)
    bound.apply_defaults()
    return bound.arguments


def model_parameters(spec: ScenarioSpec, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's complete parameters: its defaults, overridden by ``name -> value`` settings.

    Raises:
        ValueError: for an unknown parameter (listing the known ones) or a bad value.
    """
    defaults = {name: parameter.default for name, parameter in spec.parameters().items()}
    return defaults | spec.convert(settings)


def scenarios() -> dict[str, ScenarioSpec]:
    """The scenarios installed packages publish, by name."""
    found = {entry.name: _loaded(entry) for entry in entry_points(group=ENTRY_POINT_GROUP)}
    return dict(sorted(found.items()))


def _loaded(entry: EntryPoint) -> ScenarioSpec:
    """The ScenarioSpec a scenario entry point names (importing its package).

    Raises:
        TypeError: if it names something else.
    """
    spec = entry.load()
    if not isinstance(spec, ScenarioSpec):
        raise TypeError(
            f"The entry point {entry.name!r} = {entry.value!r} of group {ENTRY_POINT_GROUP!r} "
            "must name a mesa_llm.lab.ScenarioSpec."
        )
    return spec


def find_scenario(name: str) -> ScenarioSpec:
    """The scenario ``name`` names: an installed one, or a ``ScenarioSpec`` in a file or module.

    ``name`` is the name of an installed scenario (``"schelling"``, see :func:`scenarios`),
    or a reference to a ScenarioSpec object that no package publishes:

    - ``"path/to/file.py:SPEC"`` names the object ``SPEC`` of that file (the path is
      absolute or relative to the working directory); ``"path/to/file.py"`` the only
      ScenarioSpec it defines. The file is imported as ``python path/to/file.py`` would
      run it: as a module named after it (``file``), with its folder first on
      ``sys.path``. So it imports the modules beside it, and its classes pickle, into
      spawned worker processes too (they inherit ``sys.path``). Where another module of
      that name is already imported, the file gets a module name of its own, and its
      classes pickle within this process only.
    - ``"package.module:SPEC"`` names the object ``SPEC`` of an importable module; the
      working directory is added to the end of ``sys.path`` (a package beside you
      imports without being installed).

    The spec returned carries the reference as its :attr:`~ScenarioSpec.source`, with
    the path as it was written, so that the command a run records names it again.

    Raises:
        ValueError: for an unknown scenario (listing the installed ones); a missing file
            or module; a file or module whose code fails (with its traceback); a missing
            object (listing the ScenarioSpecs there).
        TypeError: for an object that is not a ScenarioSpec.
    """
    if ":" in name or name.endswith(".py") or "/" in name or os.sep in name:
        return _load_reference(name)
    # only the package of the scenario named is imported (a rule-only Schelling run needs
    # nothing the cooperation scenario imports)
    named = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not named:
        available = sorted(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))
        raise ValueError(
            f"Unknown scenario {name!r}; available: {', '.join(available) or 'none'} "
            "(or your own, as path/to/file.py:SPEC or package.module:SPEC)."
        )
    return _loaded(tuple(named)[-1])  # as scenarios() has it where two packages publish a name


def _load_reference(reference: str) -> ScenarioSpec:
    """The ScenarioSpec a ``file.py:SPEC`` or ``module:SPEC`` reference names, carrying the reference."""
    target, colon, attribute = reference.rpartition(":")
    if not colon or reference.endswith(".py"):
        target, attribute = reference, ""
    if not target:
        raise ValueError(f"{reference!r} names no file or module: write path/to/file.py:SPEC or module:SPEC.")
    is_file = target.endswith(".py") or "/" in target or os.sep in target
    module = _import_file(target) if is_file else _import_module(target)
    specs = {key: value for key, value in vars(module).items() if isinstance(value, ScenarioSpec)}
    listed = ", ".join(specs) or "none"
    if not attribute:
        if len({id(value) for value in specs.values()}) != 1:  # aliases of one spec count once
            raise ValueError(
                f"{target} defines {len(specs) or 'no'} ScenarioSpec objects ({listed}): name the one to "
                f"run as {target}:NAME." + ("" if specs else " Define one: SCENARIO = ScenarioSpec(...).")
            )
        attribute = next(iter(specs))
    if not hasattr(module, attribute):
        raise ValueError(f"{target} has no {attribute!r}; the ScenarioSpec objects it defines: {listed}.")
    spec = getattr(module, attribute)
    if not isinstance(spec, ScenarioSpec):
        raise TypeError(
            f"{target}:{attribute} is a {type(spec).__name__}, not a mesa_llm.lab.ScenarioSpec; name a "
            f"ScenarioSpec object (there: {listed})."
        )
    return dataclasses.replace(spec, source=f"{target}:{attribute}")


def _import_file(target: str) -> ModuleType:
    """The module of the Python file ``target``, imported once (see :func:`find_scenario`)."""
    path = Path(target)
    if not path.is_file():
        raise ValueError(
            f"There is no file {target!r} (in {os.getcwd()}): give the path of a Python file that "
            "defines a ScenarioSpec, absolute or relative to the working directory."
        )
    path = path.resolve()
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = _module_name(path)
    if name in sys.modules:  # loaded before
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)  # a source file's: with a loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickling look it up there
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _import_error(target, exc) from exc
    return module


def _module_name(path: Path) -> str:
    """The module name of a file: its stem where ``import stem`` imports this file, else one of its own."""
    stem = path.stem
    if stem.isidentifier() and not keyword.iskeyword(stem):
        if stem in sys.modules:
            origin = getattr(sys.modules[stem], "__file__", None)
        else:
            found = importlib.util.find_spec(stem)  # the file's folder is first on sys.path
            origin = found.origin if found is not None else None
        if origin is not None and Path(origin).resolve() == path:
            return stem
    return f"mesa_llm_scenario_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"


def _import_module(target: str) -> ModuleType:
    """The module ``target``, imported with the working directory on ``sys.path``."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (target + ".").startswith(exc.name + "."):
            raise ValueError(
                f"There is no module {target!r}: name an importable module (package.module:SPEC, found "
                "from the working directory or the installed packages) or a file (path/to/file.py:SPEC)."
            ) from None
        raise _import_error(target, exc) from exc
    except Exception as exc:
        raise _import_error(target, exc) from exc


def _import_error(target: str, exc: Exception) -> ValueError:
    """The error of a user's file or module that failed to import, with the traceback of its own code."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen ") and frame.filename not in (__file__, importlib.__file__)
    ]
    shown = "".join([*traceback.format_list(frames), *traceback.format_exception_only(exc)]).rstrip()
    hint = ""
    if isinstance(exc, ImportError) and "relative import" in str(exc):
        hint = "\nA module of a package that imports relatively is named as package.module:SPEC."
    return ValueError(f"Importing {target} failed, in its own code:\n{shown}{hint}")
