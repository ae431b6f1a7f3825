"""A sweep's design: a scenario, fixed parameters, swept axes, seeds and a run length.

:class:`Design` (which :class:`~mesa_llm.experiments.Sweep` runs) checks the whole design when
it is created, before any run starts: every
fixed parameter and every value of every axis is a parameter of the scenario's model and
a value it accepts (where the scenario declares a check), so a typo in the last value of
an axis fails at once rather than an hour into the sweep. :meth:`Sweep.tasks` is the
design as one :class:`RunTask` per run, in a fixed order (conditions in the order of the
axes' product, seeds innermost): a run's position in it is its identity, used to resume
a sweep in the same folder.

Two axes are not model parameters: ``backend`` (the LLM agents' chat model: a backend
string such as ``"local:smollm2"`` or ``"rule"``, or a LangChain chat model under a name)
and ``temperature`` (the backend's sampling temperature).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from mesa_llm.backends import (
    DEFAULT_BACKEND,
    RULE_BACKEND,
    BackendError,
    backend_name,
    is_chat_model,
    resolve_backend,
)
from mesa_llm.checks import check_int, check_number
from mesa_llm.experiments.identity import check_sendable, described
from mesa_llm.lab import RunConfig, ScenarioSpec, find_scenario, model_parameters

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["BACKEND", "TEMPERATURE", "Axis", "Design", "RunTask"]

BACKEND: Final = "backend"
"""The axis of the LLM agents' chat model."""
TEMPERATURE: Final = "temperature"
"""The axis of the backend's sampling temperature."""

# Keywords of a scenario's model that a sweep sets itself.
_SET_BY_RUN = frozenset({"backend", "cache", "runtime", "rng"})


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept factor: its name and its levels, each a label and the value it stands for.

    Attributes:
        name: a parameter of the scenario's model, ``"backend"`` or ``"temperature"``.
        labels: each level's label, as the sweep's frames show it.
        values: each level's value, as the model gets it.
    """

    name: str
    labels: tuple[Any, ...]
    values: tuple[Any, ...]

    @classmethod
    def of(cls, name: str, levels: Sequence[Any] | Mapping[Any, Any]) -> Axis:
        """The axis of ``levels``: a list of values (each its own label), or ``label -> value``.

        A value that is not a number, a string or a bool (a chat model, a graph) needs a
        label: give the axis as a mapping.

        Raises:
            ValueError: for an axis without levels, a repeated label, or an unlabelled object.
        """
        if isinstance(levels, Mapping):
            labels, values = tuple(levels), tuple(levels.values())
        elif isinstance(levels, str) or not isinstance(levels, Iterable):
            raise ValueError(
                f"The axis {name!r} must list its levels, e.g. [{levels!r}, ...], got {levels!r}."
            )
        else:
            values = tuple(levels)
            for value in values:
                if not _is_label(value):
                    raise ValueError(
                        f"The axis {name!r} has the level {value!r}, which needs a name: give the axis "
                        f"as a mapping, {{'name': value, ...}}."
                    )
            labels = values
        if not labels:
            raise ValueError(f"The axis {name!r} has no levels; give it at least one.")
        for label in labels:
            if not _is_label(label):
                raise ValueError(f"The axis {name!r} has the label {label!r}: labels are strings or numbers.")
        repeated = sorted({str(label) for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"The axis {name!r} repeats the level {', '.join(repeated)}; give each once.")
        return cls(name, labels, values)

    @property
    def levels(self) -> tuple[tuple[Any, Any], ...]:
        """Each level's label and value."""
        return tuple(zip(self.labels, self.values, strict=True))


@dataclass(frozen=True, slots=True)
class RunTask:
    """One run of a sweep: everything a worker needs, and nothing of the machine it came from.

    Attributes:
        index: its position in the sweep's design.
        run: its identity in the sweep's frames and folder (``"0007"``).
        conditions: the label of each axis's level, by axis name.
        config: the run (scenario, complete parameters, steps, seed, backend, temperature).
        backends: chat models given as objects, by the name the config's backend uses.
    """

    index: int
    run: str
    conditions: Mapping[str, Any]
    config: RunConfig
    backends: Mapping[str, BaseChatModel] = field(default_factory=dict)


@dataclass(frozen=True)
class Design:
    """Runs of a scenario across the product of its axes, each for every seed.

    :class:`~mesa_llm.experiments.Sweep` is a design that runs.

    Args:
        scenario: an installed scenario's name, a reference to one
            (``"path/to/file.py:SPEC"``), or a :class:`~mesa_llm.lab.ScenarioSpec`.
        fixed: parameters of the scenario's model that every run shares.
        axes: the swept factors, by name: a model parameter, ``"backend"`` or
            ``"temperature"``; each a list of values, or a mapping ``label -> value``
            (for values that are objects, such as a chat model or a graph).
        seeds: the replications: each condition is run once per seed (the model's ``rng``).
        steps: the length of each run, in steps.
        backend: the backend of runs when ``backend`` is not an axis (the embedded model
            by default); a string or a chat model.
        temperature: the backend's sampling temperature when it is not an axis; None
            leaves each backend's default.

    Raises:
        ValueError: for an unknown scenario or parameter, a bad value (naming the axis,
            the value and the problem), no seeds or repeated ones, or a parameter both
            fixed and swept.
        TypeError: for steps or seeds that are not whole numbers.
        BackendError: for a backend that cannot be created (a provider's missing
            package or key), checked once per backend before any run.
    """

    scenario: str | ScenarioSpec
    fixed: Mapping[str, Any] = field(default_factory=dict)
    axes: Mapping[str, Sequence[Any] | Mapping[Any, Any]] = field(default_factory=dict)
    seeds: Iterable[int] = range(10)
    steps: int = 50
    backend: str | BaseChatModel = DEFAULT_BACKEND
    temperature: float | None = None
    spec: ScenarioSpec = field(init=False, repr=False)
    axis_list: tuple[Axis, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_field = object.__setattr__
        spec = self.scenario if isinstance(self.scenario, ScenarioSpec) else find_scenario(self.scenario)
        set_field(self, "spec", spec)
        set_field(self, "steps", check_int("steps", self.steps, minimum=1))
        seeds = tuple(check_int("seed", seed, minimum=0) for seed in self.seeds)
        if not seeds:
            raise ValueError("A sweep needs at least one seed: seeds=range(10), say.")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"The seeds repeat a value ({list(seeds)}); give each seed once.")
        set_field(self, "seeds", seeds)
        if self.temperature is not None:
            set_field(self, "temperature", check_number("temperature", self.temperature, minimum=0))
        set_field(self, "fixed", dict(self.fixed))
        set_field(self, "axes", dict(self.axes))
        set_field(self, "axis_list", tuple(Axis.of(name, levels) for name, levels in self.axes.items()))
        self._check_names()
        self._check_backends()
        self._check_values()

    # -- the design ------------------------------------------------------------------------

    @property
    def factors(self) -> tuple[str, ...]:
        """The axes with more than one level: the factors a robustness verdict tests."""
        return tuple(axis.name for axis in self.axis_list if len(axis.labels) > 1)

    def conditions(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Each condition's labels and values by axis, in the order of the axes' product."""
        levels = [axis.levels for axis in self.axis_list]
        for combination in itertools.product(*levels):
            labels = {axis.name: label for axis, (label, _) in zip(self.axis_list, combination, strict=True)}
            values = {axis.name: value for axis, (_, value) in zip(self.axis_list, combination, strict=True)}
            yield labels, values

    def __len__(self) -> int:
        """The number of runs: conditions times seeds."""
        n = len(self.seeds)  # type: ignore[arg-type]
        for axis in self.axis_list:
            n *= len(axis.labels)
        return n

    def tasks(self) -> list[RunTask]:
        """The runs of the sweep, in design order."""
        width = len(str(max(len(self) - 1, 0)))
        tasks = []
        for labels, values in self.conditions():
            for seed in self.seeds:  # type: ignore[union-attr]
                index = len(tasks)
                backend, backends = self._backend_of(labels, values)
                temperature = values.get(TEMPERATURE, self.temperature)
                config = RunConfig(
                    self.spec, self._parameters(values), self.steps, seed, backend, temperature, None
                )
                tasks.append(RunTask(index, f"{index:0{width}d}", labels, config, backends))
        return tasks

    def describe(self) -> dict[str, Any]:
        """The design as JSON-compatible data: what a sweep's folder records and compares.

        Objects (a chat model, a graph) are described by their identity: a chat model by
        its backend identity (its class and the settings that change its answers, so it
        need not pickle), anything else by its type and the digest of its pickle.

        Raises:
            ValueError: for an object (not a chat model) that cannot be pickled, naming it:
                a folder would have no identity by which to know the sweep again.
        """
        return {
            "scenario": self.spec.reference,
            "fixed": {name: described(value, _where(None, name)) for name, value in self.fixed.items()},
            "axes": {
                axis.name: {
                    str(label): described(value, _where(axis.name, label)) for label, value in axis.levels
                }
                for axis in self.axis_list
            },
            "seeds": list(self.seeds),  # type: ignore[arg-type]
            "steps": self.steps,
            "backend": described(self.backend, _where(BACKEND, self.backend)),
            "temperature": self.temperature,
        }

    def check_sendable(self) -> None:
        """Check that the runs can be sent to worker processes (``workers > 1``, an executor).

        A run travels pickled, with its scenario, chat models and parameters' values; in
        the sweep's own process (``workers=1``, no executor) nothing is pickled.

        Raises:
            ValueError: naming the first value that cannot be pickled, and the fix.
        """
        given = [
            (f"The scenario {self.spec.name!r}", self.spec),
            (_where(BACKEND, self.backend), self.backend),
        ]
        given += [(_where(None, name), value) for name, value in self.fixed.items()]
        for axis in self.axis_list:
            given += [(_where(axis.name, label), value) for label, value in axis.levels]
        check_sendable(given)

    def digest(self) -> str:
        """A digest of :meth:`describe`: equal for the same design."""
        text = json.dumps(self.describe(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # -- checks ---------------------------------------------------------------------------

    def _check_names(self) -> None:
        model_keywords = _keywords(self.spec)
        known = [*model_keywords, BACKEND, TEMPERATURE]
        for where, names in (("fixed", self.fixed), ("axes", self.axes)):
            for name in names:
                if name not in known:
                    raise ValueError(
                        f"{self.spec.name} has no parameter {name!r} (in {where}); its parameters are: "
                        f"{', '.join(model_keywords)}, and the sweep's own axes {BACKEND!r} and "
                        f"{TEMPERATURE!r}."
                    )
        both = sorted(set(self.fixed) & set(self.axes))
        if both:
            raise ValueError(f"{', '.join(both)} is both fixed and swept; keep it in one of fixed or axes.")
        for name in (BACKEND, TEMPERATURE):
            if name in self.fixed:
                raise ValueError(f"Give {name!r} as Sweep({name}=...) or as an axis, not in fixed.")

    def _check_backends(self) -> None:
        """Check each backend once: a provider's missing package or key fails before any run."""
        axis = next((a for a in self.axis_list if a.name == BACKEND), None)
        given = axis.values if axis is not None else (self.backend,)
        for backend in given:
            if is_chat_model(backend):
                continue
            if not isinstance(backend, str) or not backend.strip():
                raise ValueError(
                    f"The backend {backend!r} is neither a chat model nor a string naming one "
                    f"('{RULE_BACKEND}', '{DEFAULT_BACKEND}', 'provider:model')."
                )
            if backend == RULE_BACKEND:
                if self.spec.rule_backend is None:
                    raise BackendError(f"{self.spec.name} has no rule-following chat model ('rule').")
            elif not backend.startswith(DEFAULT_BACKEND):  # the embedded models load where they run
                resolve_backend(backend)
        temperatures = next((a for a in self.axis_list if a.name == TEMPERATURE), None)
        for value in temperatures.values if temperatures is not None else ():
            check_number("temperature", value, minimum=0)
        objects = [b for b in given if is_chat_model(b)]
        if objects and (temperatures is not None or self.temperature is not None):
            raise ValueError(
                f"A temperature is given, but the backend {backend_name(objects[0])!r} is a chat model "
                "object, whose temperature the sweep cannot set: set it on the object itself (one "
                "backend per temperature, under its own name), or name the backend by a string."
            )

    def _check_values(self) -> None:
        """Convert and check every fixed value and every combination of the axes' values."""
        settable = self.spec.parameters()
        for name, value in self.fixed.items():
            if name in settable:
                try:
                    settable[name].convert(value)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"The fixed parameter {name}={value!r} is refused: {exc}") from None
        for axis in self.axis_list:
            if axis.name in settable:
                for label, value in axis.levels:
                    try:
                        settable[axis.name].convert(value)
                    except (TypeError, ValueError) as exc:
                        raise ValueError(
                            f"The axis {axis.name!r} has the value {label!r}, which is refused: {exc}"
                        ) from None
        if self.spec.check is None:
            return
        for labels, values in self.conditions():
            try:
                self.spec.check(self._parameters(values))
            except (TypeError, ValueError) as exc:
                shown = ", ".join(f"{name}={label!r}" for name, label in labels.items()) or "the fixed ones"
                raise ValueError(f"The condition {shown} is refused by {self.spec.name}: {exc}") from None

    def _parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The complete model parameters of a condition: defaults, fixed, then the axes' values."""
        chosen = {**self.fixed, **{k: v for k, v in values.items() if k not in (BACKEND, TEMPERATURE)}}
        settable = self.spec.parameters()
        scalars = {name: value for name, value in chosen.items() if name in settable}
        objects = {name: value for name, value in chosen.items() if name not in settable}
        return model_parameters(self.spec, scalars) | objects

    def _backend_of(self, labels: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[str, dict]:
        """The config's backend string, and the chat model objects it names."""
        value = values.get(BACKEND, self.backend)
        if is_chat_model(value):
            name = str(labels.get(BACKEND, backend_name(value)))
            return name, {name: value}
        return value, {}


def _keywords(spec: ScenarioSpec) -> list[str]:
    """The keywords of the scenario's model a sweep can set (all but those each run sets itself)."""
    signature = inspect.signature(spec.model.__init__)
    return [
        name
        for name, p in signature.parameters.items()
        if name != "self"
        and name not in _SET_BY_RUN
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def _is_label(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (isinstance(value, float) and value != value)


def _where(axis: str | None, label: Any) -> str:
    """How an error names a value of the design: a fixed parameter (``axis`` None), a backend, a level."""
    if axis is None:
        return f"The fixed parameter {label!r}"
    if axis == BACKEND:
        return f"The backend {backend_name(label) if is_chat_model(label) else label!r}"
    return f"The level {label!r} of the axis {axis!r}"
