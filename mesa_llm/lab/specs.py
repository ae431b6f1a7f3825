"""Scenario specs: the models the ``mesa-llm`` command, the dashboards and sweeps run, and their parameters.

A scenario is a Mesa model class plus what a command line needs to know about it: which
model reporters are its main metrics (plotted split by population), and optionally a
deterministic chat model that answers like its rule (``--backend rule``). Packages
publish scenarios under the entry-point group ``mesa_llm.scenarios``, so a user's own
model appears in ``mesa-llm models`` once its package declares, in ``pyproject.toml``::

    [project.entry-points."mesa_llm.scenarios"]
    mymodel = "mypackage.model:SCENARIO"

Parameters are read from the model's ``__init__`` signature (names, annotations,
defaults) and its Google-style docstring (descriptions). An un-annotated parameter (Mesa's
usual style, ``width=20``) takes the type of its default; one whose default is None has
no type to read and is left out (annotate it, ``seed: int | None = None``).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

from langchain_core.language_models import BaseChatModel
from mesa import Model

__all__ = ["Parameter", "ScenarioSpec", "find_scenario", "model_parameters", "scenarios"]

ENTRY_POINT_GROUP = "mesa_llm.scenarios"

# Parameters a command line cannot express as one value (objects, not settings).
_NOT_SETTABLE = frozenset({"backend", "cache", "runtime", "graph", "rng", "llm_counts"})
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
        as it is, an ``int`` for a ``float`` parameter becoming a ``float``.

        Raises:
            ValueError: if ``value`` is not a value of that type, naming the parameter.
        """
        if not isinstance(value, str):
            return self._check(value)
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
    """

    name: str
    model: type[Model]
    summary: str
    metrics: tuple[str, ...]
    rule_backend: Callable[[Mapping[str, Any]], BaseChatModel] | None = None
    app: str | None = None
    _parameters: Mapping[str, Parameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parameters", MappingProxyType(self._read_parameters()))

    def parameters(self) -> Mapping[str, Parameter]:
        """The parameters a command line can set, in signature order (read once, when created)."""
        return self._parameters

    def _read_parameters(self) -> dict[str, Parameter]:
        init = self.model.__init__
        signature = inspect.signature(init)
        hints = _type_hints(init)
        # The class docstring's Args win over those of __init__'s docstring.
        docs = _argument_docs(inspect.getdoc(init) or "") | _argument_docs(inspect.getdoc(self.model) or "")
        found = {}
        for name, parameter in signature.parameters.items():
            if name == "self" or name in _NOT_SETTABLE or parameter.kind not in _NAMED:
                continue
            if parameter.default is inspect.Parameter.empty:
                continue
            kind = _scalar_type(hints[name]) if name in hints else _scalar_type(type(parameter.default))
            if kind is None:
                continue
            found[name] = Parameter(name, kind, parameter.default, docs.get(name, ""))
        return found

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


def model_parameters(spec: ScenarioSpec, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's complete parameters: its defaults, overridden by ``name -> value`` settings.

    Raises:
        ValueError: for an unknown parameter (listing the known ones) or a bad value.
    """
    defaults = {name: parameter.default for name, parameter in spec.parameters().items()}
    return defaults | spec.convert(settings)


def scenarios() -> dict[str, ScenarioSpec]:
    """The scenarios installed packages publish, by name."""
    found = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = entry.load()
        if not isinstance(spec, ScenarioSpec):
            raise TypeError(
                f"The entry point {entry.name!r} = {entry.value!r} of group {ENTRY_POINT_GROUP!r} "
                "must name a mesa_llm.lab.ScenarioSpec."
            )
        found[entry.name] = spec
    return dict(sorted(found.items()))


def find_scenario(name: str) -> ScenarioSpec:
    """The scenario called ``name``.

    Raises:
        ValueError: if no installed package publishes it, listing those that exist.
    """
    available = scenarios()
    if name not in available:
        raise ValueError(f"Unknown scenario {name!r}; available: {', '.join(available) or 'none'}.")
    return available[name]


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    """The evaluated annotations of ``function``.

    Where some cannot be evaluated (names imported only for type checking), each is
    evaluated alone and those that fail are None: their parameters are not settable.
    """
    try:
        return typing.get_type_hints(function)
    except NameError:
        namespace = getattr(inspect.unwrap(function), "__globals__", {})
        hints = {}
        for name, annotation in function.__annotations__.items():

            def alone() -> None: ...

            alone.__annotations__ = {name: annotation}
            try:
                hints[name] = typing.get_type_hints(alone, globalns=namespace)[name]
            except NameError:
                hints[name] = None
        return hints


def _scalar_type(annotation: Any) -> type | None:
    """The type a command line converts a value to, for an annotation a value can have.

    ``int``, ``float``, ``bool`` or ``str``, also within ``X | None``; ``str`` for a
    union that admits a string (a model that parses text, such as ``Payoffs | str``).
    """
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if str in options:
            return str
        annotation = options[0] if len(options) == 1 else None
    return annotation if annotation in (int, float, bool, str) else None


def _argument_docs(docstring: str) -> dict[str, str]:
    """Descriptions of the ``Args:`` section of a Google-style docstring."""
    section = re.search(r"^Args:\n((?:[ \t]+.*\n?|\n)+)", docstring, re.MULTILINE)
    if section is None:
        return {}
    docs: dict[str, str] = {}
    name = None
    for line in section.group(1).splitlines():
        entry = re.match(r"^\s{2,4}(\w+)(?: \([^)]*\))?:\s*(.*)$", line)
        if entry:
            name = entry.group(1)
            docs[name] = entry.group(2).strip()
        elif name and line.strip():
            docs[name] += " " + line.strip()
    return docs
