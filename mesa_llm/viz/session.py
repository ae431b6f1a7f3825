"""The model behind a dashboard page: built from its settings, stepped in a thread, drawn from snapshots.

A :class:`Session` is a :class:`~mesa_llm.lab.Run` with Mesa's space renderer (for a model
with a Mesa space) and the scenario's own snapshot hook, if any; a
:class:`Snapshot` is what the page draws of it between two steps, so the space and the
plots never show a model half-way through a step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
from langchain_core.language_models import BaseChatModel
from mesa import Agent, Model
from mesa.visualization import SpaceRenderer
from mesa.visualization.components import AgentPortrayalStyle
from mesa.visualization.user_param import Slider

from mesa_llm.backends import DEFAULT_BACKEND
from mesa_llm.cache import InMemoryCache, ResponseCache
from mesa_llm.lab import Run, RunConfig, ScenarioSpec, model_parameters, populations_of
from mesa_llm.populations import LLM, population

__all__ = [
    "Session",
    "Snapshot",
    "in_thread",
    "input_label",
    "local_backend",
    "page_inputs",
    "page_parameters",
]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the page draws of a model between two steps.

    Attributes:
        steps: the model's completed steps.
        running: whether the model can step further.
        frame: its model reporters so far (a copy).
        agents: the Altair layer of its agents (None when the space is empty, or when the
            session has no space renderer).
        data: what the session's snapshot hook took of the model (None without a hook):
            what a scenario's own views draw.
    """

    steps: int
    running: bool
    frame: pd.DataFrame
    agents: alt.Chart | None
    data: Any = None


@dataclass(slots=True)
class Session:
    """A model built from the page's settings, with what draws it.

    Attributes:
        run: the run it was built as (its configuration, model and backend).
        renderer: Mesa's space renderer bound to the model; None for a model without a
            space (``model.grid`` or ``model.space``) or a session without a portrayal.
        structure: the Altair layer of the space's structure (drawn once; None without a renderer).
        populations: the populations of its agents (those the plots draw lines of).
        snapshot_hook: what the scenario's own views draw of the model, taken with every
            snapshot (:attr:`Snapshot.data`); None without one.
    """

    run: Run
    renderer: SpaceRenderer | None
    structure: alt.Chart | None
    populations: tuple[str, ...]
    snapshot_hook: Callable[[Model], Any] | None = None

    @property
    def config(self) -> RunConfig:
        """The run configuration it was built from."""
        return self.run.config

    @property
    def model(self) -> Model:
        """The model."""
        return self.run.model

    @classmethod
    def start(
        cls,
        config: RunConfig,
        portrayal: Callable[[Agent], AgentPortrayalStyle] | None,
        backends: Mapping[str, BaseChatModel],
        cache: ResponseCache | None,
        snapshot: Callable[[Model], Any] | None = None,
    ) -> Session:
        """Build the model of ``config``, and Mesa's renderer of its space if it has one.

        Args:
            config: the run.
            portrayal: how Mesa's renderer draws an agent; None draws no Mesa space.
            backends: chat models to use for some backend names.
            cache: the response cache of its LLM calls; None gives it its own in-memory one.
            snapshot: the scenario's snapshot hook, called with the model between steps
                (:attr:`Snapshot.data`); its result must not change when the model steps on.

        Raises:
            BackendError: for a backend that cannot be created.
            ValueError: for parameters the model rejects.
        """
        run = Run.build(config, cache if cache is not None else InMemoryCache(), backends)
        renderer = None
        if portrayal is not None and _has_space(run.model):
            renderer = SpaceRenderer(run.model, backend="altair").setup_agents(portrayal)
        structure = renderer.draw_structure() if renderer is not None else None
        return cls(run, renderer, structure, populations_of(run.model), snapshot)

    def snapshot(self) -> Snapshot:
        """The model's state for drawing; call it between steps."""
        model = self.model
        return Snapshot(
            steps=model.steps,
            running=model.running,
            frame=model.datacollector.get_model_vars_dataframe().copy(),
            agents=self.renderer.draw_agents() if self.renderer is not None and len(model.agents) else None,
            data=self.snapshot_hook(model) if self.snapshot_hook is not None else None,
        )

    def first_llm_agent(self) -> int | None:
        """The smallest id of an LLM agent, or None when all agents follow rules."""
        ids = [a.unique_id for a in self.model.agents if population(a) == LLM]
        return min(ids) if ids else None


def _has_space(model: Model) -> bool:
    """Whether ``model`` has a space for Mesa's renderer: a ``model.grid`` or a ``model.space``."""
    return getattr(model, "grid", getattr(model, "space", None)) is not None


def in_thread(function: Callable[[], Any]) -> Future:
    """Run ``function`` in a new daemon thread; its result or exception comes in the future."""
    future: Future = Future()

    def target() -> None:
        try:
            future.set_result(function())
        except BaseException as exc:  # handed to the waiting thread
            future.set_exception(exc)

    threading.Thread(target=target, name="mesa-llm-step", daemon=True).start()
    return future


def page_inputs(spec: ScenarioSpec, model_params: Mapping[str, Any] | None) -> tuple[dict, dict]:
    """Mesa-style user inputs and fixed values of a scenario's page.

    Without ``model_params`` every settable parameter of the scenario gets an input
    (a checkbox for a flag, a text field otherwise). ``llm_share`` gets a slider unless
    ``model_params`` sets it.
    """
    if model_params is None:
        model_params = {
            name: {"type": "Checkbox" if p.kind is bool else "InputText", "value": p.default, "label": name}
            for name, p in spec.parameters().items()
            if name != "llm_share"
        }
    inputs, fixed = {}, {}
    for name, options in model_params.items():
        if isinstance(options, Slider):
            inputs[name] = {
                "type": "SliderFloat" if options.is_float_slider else "SliderInt",
                "label": options.label,
                "value": options.value,
                "min": options.min,
                "max": options.max,
                "step": options.step,
            }
        elif isinstance(options, dict) and "type" in options:
            inputs[name] = dict(options)
        else:
            fixed[name] = options
    if "llm_share" in spec.parameters() and "llm_share" not in model_params:
        inputs["llm_share"] = {
            "type": "SliderFloat",
            "label": "LLM share",
            "value": 0.25,
            "min": 0.0,
            "max": 1.0,
            "step": 0.05,
        }
    return inputs, fixed


def input_label(options: Mapping[str, Any], value: Any) -> str:
    """The label of a page input with its value shown, for a slider ("LLM share: 0.25").

    A slider shows its value only while dragged; the label shows it always, rounded to
    the slider's step. Other inputs show their values themselves: their label is kept.
    """
    text = options.get("label", "")
    if options.get("type") not in ("SliderInt", "SliderFloat") or value is None:
        return text
    step = options.get("step")
    if options["type"] == "SliderInt":
        return f"{text}: {int(value)}"
    decimals = len(f"{step}".partition(".")[2]) if step is not None and "e" not in f"{step}" else 2
    return f"{text}: {float(value):.{decimals}f}"


def local_backend(n_threads: int | None = None, temperature: float | None = None) -> str:
    """The backend string of the embedded local model with these settings (None: its default).

    ``local_backend(1, 0.7)`` is ``"local,n_threads=1,temperature=0.7"``, the form
    :func:`~mesa_llm.backends.resolve_backend` (and ``mesa-llm run --backend``) reads.
    """
    settings = {"n_threads": n_threads, "temperature": temperature}
    return ",".join(
        [DEFAULT_BACKEND, *(f"{name}={value}" for name, value in settings.items() if value is not None)]
    )


def page_parameters(spec: ScenarioSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """The model's parameters from a page's values: the scenario's, typed, and any others as given.

    The scenario's parameters are its defaults overridden by ``values`` (text converted,
    see :func:`~mesa_llm.lab.model_parameters`); values of other model arguments (objects
    such as a graph, fixed by the page) pass as they are.

    Raises:
        ValueError: for a value that is not of its parameter's type.
    """
    known = spec.parameters()
    settings = {name: value for name, value in values.items() if name in known}
    return model_parameters(spec, settings) | {n: v for n, v in values.items() if n not in known}
