"""A scenario's probes: declared with the scenario, run on a model built for probing.

A scenario declares its probes (:class:`Probe`) in its :class:`~mesa_llm.lab.ScenarioSpec`
(``probes=``). A probe builds its grid from a model of the scenario, built with the
probe's parameters and the chosen backend, so that every point is an observation of that
model and every prompt one its LLM agents are asked. :func:`probe_scenario` runs it and
fits the answers; :class:`ProbeResult` writes the table, the fit and a figure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from mesa import Model

from mesa_llm.backends import DEFAULT_BACKEND, backend_name, is_chat_model
from mesa_llm.cache import ResponseCache
from mesa_llm.calibration.described import Described
from mesa_llm.calibration.probe import ProbePoint, ProbeRun, run_probe
from mesa_llm.checks import check_number
from mesa_llm.lab import RunConfig, ScenarioSpec, find_scenario, model_parameters, open_cache
from mesa_llm.lab.runs import resolve_run_backend

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "PROBE_FILES",
    "Probe",
    "ProbeError",
    "ProbeResult",
    "find_probe",
    "probe_scenario",
    "with_temperature",
]

PROBE_FILES = {"table": "probe.csv", "fit": "fit.json", "figure": "probe.png"}
"""What :meth:`ProbeResult.write` writes into its folder."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A probe a scenario declares: its grid, how its answers are fitted, and the rules they imply.

    Attributes:
        name: its name (``mesa-llm probe SCENARIO --probe NAME``).
        description: one line saying what it measures.
        grid: the points, from a model of the scenario built for probing (with
            :attr:`parameters` and the probe's backend).
        fit: fits the probe table (:attr:`ProbeRun.table`), called with the keyword
            ``alpha`` (its intervals' level is ``1 - alpha``); its result has a
            ``describe()`` sentence, a ``to_dict()`` of JSON-ready values and a ``level``.
        parameters: model parameters of the model built for probing (a small world in
            which the grid's agents exist), over the scenario's defaults; a user's own
            parameters override them.
        rules: the rule populations a fit implies, name -> model parameters, for
            round trips (:func:`~mesa_llm.calibration.round_trip`); None where there are none.
        trip_parameters: model parameters every population of a round trip gets, over
            the user's: what makes the LLM population comparable with the rule ones
            (cooperation's LLM players choose their opening move, as the fitted
            memory-one players do).
        figure: draws a probe result as a ``matplotlib.figure.Figure``; None for no figure.
        implied: the implied parameter of a fit as ``(estimate, ci_low, ci_high)`` (NaN
            where the fit has none), for knob maps (:func:`~mesa_llm.calibration.knob_map`);
            None where the probe has no scalar parameter.
        implied_name: the implied parameter's name (``"t*"``).
    """

    name: str
    description: str
    grid: Callable[[Model], Sequence[ProbePoint]]
    fit: Callable[[pd.DataFrame], Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    rules: Callable[[Any], Mapping[str, Mapping[str, Any]]] | None = None
    trip_parameters: Mapping[str, Any] = field(default_factory=dict)
    figure: Callable[[ProbeResult], Any] | None = None
    implied: Callable[[Any], tuple[float, float, float]] | None = None
    implied_name: str = "implied parameter"


@dataclass(frozen=True, slots=True, repr=False)
class ProbeResult(Described):
    """A probe of a scenario's LLM agents, with its fit.

    Attributes:
        scenario: the scenario.
        probe: the probe.
        parameters: the probed model's complete parameters.
        settings: the parameters the user gave (those a round trip's runs share).
        backend: the short name of the chat model asked.
        chat_model: the chat model asked (at the probe's temperature).
        samples: answers asked per sampled point.
        seed: the probed model's ``rng``.
        run: the answers and what they cost (:class:`~mesa_llm.calibration.ProbeRun`).
        fit: the probe's fit of the answers.
    """

    scenario: ScenarioSpec
    probe: Probe
    parameters: Mapping[str, Any]
    settings: Mapping[str, Any]
    backend: str
    chat_model: BaseChatModel = field(repr=False)
    samples: int
    seed: int
    run: ProbeRun
    fit: Any

    @property
    def table(self) -> pd.DataFrame:
        """The probe table: one row per point and action."""
        return self.run.table

    def describe(self) -> str:
        """The fit's verdict in one sentence."""
        return self.fit.describe()

    def summary(self) -> dict[str, Any]:
        """What was probed, what it cost, and the fit, as JSON-ready values."""
        return {
            "scenario": self.scenario.reference,
            "probe": self.probe.name,
            "backend": self.backend,
            "samples": self.samples,
            "seed": self.seed,
            "parameters": {k: v for k, v in self.parameters.items() if _is_plain(v)},
            "points": int(self.table["point"].nunique()),
            "calls": self.run.calls,
            "cache_hits": self.run.cache_hits,
            "fallbacks": self.run.fallbacks,
            "verdict": self.describe(),
            "fit": self.fit.to_dict(),
        }

    def write(self, out: str | os.PathLike[str]) -> dict[str, Path]:
        """Write the table (CSV), the summary and fit (JSON) and the figure (PNG) into ``out``.

        Returns:
            The paths written, by :data:`PROBE_FILES`' names.
        """
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / file for name, file in PROBE_FILES.items()}
        self.table.to_csv(paths["table"], index=False)
        paths["fit"].write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
        if self.probe.figure is None:
            del paths["figure"]
        else:
            self.probe.figure(self).savefig(paths["figure"], dpi=120)
        return paths


class ProbeError(ValueError):
    """A probe that got no usable answer from its backend: there is nothing to fit."""


def find_probe(scenario: ScenarioSpec, name: str | None = None) -> Probe:
    """The probe ``name`` of ``scenario`` (its first one for None).

    Raises:
        ValueError: for a scenario without probes, or an unknown name (listing the probes there are).
    """
    probes = {probe.name: probe for probe in scenario.probes}
    if not probes:
        raise ValueError(
            f"{scenario.name} declares no probes: give its ScenarioSpec probes=(Probe(...), ...)."
        )
    if name is None:
        return scenario.probes[0]
    if name not in probes:
        raise ValueError(f"{scenario.name} has no probe {name!r}; its probes are: {', '.join(probes)}.")
    return probes[name]


def with_temperature(chat_model: BaseChatModel, temperature: float) -> BaseChatModel:
    """A copy of ``chat_model`` that samples at ``temperature``.

    Raises:
        ValueError: for a negative temperature, or a chat model without a ``temperature`` setting.
    """
    check_number("temperature", temperature, minimum=0)
    if "temperature" not in type(chat_model).model_fields:
        raise ValueError(
            f"{type(chat_model).__name__} has no temperature setting: probe it without temperature=, "
            "at its own sampling."
        )
    return chat_model.model_copy(update={"temperature": float(temperature)})


def probe_scenario(
    scenario: str | ScenarioSpec,
    probe: str | None = None,
    *,
    backend: BaseChatModel | str = DEFAULT_BACKEND,
    parameters: Mapping[str, Any] | None = None,
    samples: int = 20,
    temperature: float | None = None,
    cache: ResponseCache | str | os.PathLike[str] | None = None,
    seed: int = 0,
    alpha: float = 0.05,
) -> ProbeResult:
    """Probe a scenario's LLM agents and fit their answers.

    Args:
        scenario: the scenario or its name.
        probe: the probe's name; None for the scenario's first.
        backend: the chat model asked: a chat model, ``"rule"`` (the scenario's
            rule-following one), ``"local"`` (the embedded one, the default) or a
            ``"provider:model"`` string.
        parameters: the probed model's parameters (``framing``, ``homophily``, ...), over
            the probe's and the scenario's defaults.
        samples: answers per point where the backend does not score the options.
        temperature: the sampling temperature of those answers; None keeps the backend's.
        cache: a response cache, or the path of a SQLite cache file (opened for the probe):
            a second identical probe with it makes no call.
        seed: the probed model's ``rng``.
        alpha: the intervals' level is ``1 - alpha``.

    Raises:
        ValueError: for an unknown scenario, probe or parameter, or a bad value.
        BackendError: for a backend that cannot be created.
        ProbeError: when every answer fell back (the backend gave no usable answer).
    """
    spec = find_scenario(scenario) if isinstance(scenario, str) else scenario
    chosen = find_probe(spec, probe)
    params = model_parameters(spec, {**chosen.parameters, **(parameters or {})})
    if is_chat_model(backend):
        chat_model = backend if temperature is None else with_temperature(backend, temperature)
    else:
        config = RunConfig(spec, params, steps=0, seed=seed, backend=backend, temperature=temperature)
        chat_model = resolve_run_backend(config)
    if isinstance(cache, str | os.PathLike):
        with open_cache(Path(cache)) as opened:
            return probe_scenario(
                spec,
                chosen.name,
                backend=chat_model,
                parameters=parameters,
                samples=samples,
                cache=opened,
                seed=seed,
                alpha=alpha,
            )
    model = spec.model(**params, backend=chat_model, cache=cache, rng=seed)
    run = run_probe(chosen.grid(model), model.llm, samples=samples, alpha=alpha)
    if run.records and run.fallbacks == len(run.records):
        last = run.records[-1]
        raise ProbeError(
            f"Every answer of {backend_name(chat_model)} fell back: none of its {len(run.records)} decisions "
            f"gave a usable answer after the retries ({last.backend_calls} calls for the last one; its last "
            f"error: {last.error or 'an answer that names none of the options'}), so there is nothing to "
            "fit. Check the backend (its key, its model name, that it answers in text) with one run first."
        )
    return ProbeResult(
        scenario=spec,
        probe=chosen,
        parameters=params,
        settings=dict(parameters or {}),
        backend=backend_name(chat_model),
        chat_model=chat_model,
        samples=samples,
        seed=seed,
        run=run,
        fit=chosen.fit(run.table, alpha=alpha),
    )


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is written as is into a JSON summary."""
    return value is None or isinstance(value, bool | int | float | str)
