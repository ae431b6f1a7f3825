"""A Solara dashboard for a scenario: its space, its metrics, and its LLM decisions.

:func:`ScenarioDashboard` is the page of every scenario in ``models/`` (``solara run
models/schelling/app.py`` or ``mesa-llm viz schelling``). It shows:

- the space, drawn with Mesa's ``SpaceRenderer`` (Altair) and a portrayal that marks each
  agent's population (see :mod:`mesa_llm.viz.portrayal`), with a legend of the marks;
  clicking an agent selects it; or the scenario's own view of its space (a network without
  a Mesa space, say), drawn from what its snapshot hook takes between steps;
- the scenario's metrics over time, for all, rule and LLM agents (the plot of ``mesa-llm run``),
  readable from step 0 on;
- controls: Mesa-style parameter inputs (sliders show their values), ``llm_share``, the
  backend (the embedded local model, with its thread count and temperature, the scenario's
  rule-following model, or a ``provider:model`` string) and the seed; Reset, Play/Pause and Step;
- the LLM panel, the agent inspector (or the scenario's own) and the transcript of
  :mod:`mesa_llm.viz.components`, and the scenario's own cards, if any;
- for a scenario with probes, the calibration panel of :mod:`mesa_llm.viz.calibration`: the
  rule the LLM agents of the page's settings imply, probed on demand in the background.

Steps run in a background thread, so the page stays responsive while the LLM phase of a step
runs: it shows how many of the phase's prompts are answered, and the agent inspector and the
transcript can be used meanwhile. The space and the plots show the state after the last
completed step; they are drawn from a snapshot taken between steps, never from a model that
is half-way through one. (Mesa's ``SolaraViz`` runs a Step button's step in the server's
event handler, which blocks the page for the whole LLM phase; that is why this page has its
own controller.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import solara
from langchain_core.language_models import BaseChatModel
from mesa import Agent, Model
from mesa.visualization.components import AgentPortrayalStyle
from mesa.visualization.solara_viz import UserInputs
from mesa.visualization.utils import force_update

from mesa_llm.backends import DEFAULT_BACKEND, BackendError
from mesa_llm.cache import ResponseCache
from mesa_llm.lab import RULE_BACKEND, RunConfig, ScenarioSpec, find_scenario
from mesa_llm.viz.calibration import CalibrationPanel
from mesa_llm.viz.components import AgentInspector, LLMPanel, Transcript
from mesa_llm.viz.portrayal import LegendEntry
from mesa_llm.viz.session import (
    Session,
    Snapshot,
    in_thread,
    input_label,
    local_backend,
    page_inputs,
    page_parameters,
)
from mesa_llm.viz.views import MetricsView, ScenarioView, SpaceView

__all__ = ["ScenarioDashboard"]

logger = logging.getLogger(__name__)

#: The backend choice that reveals a text field for a LangChain ``provider:model`` string.
OTHER_BACKEND = "provider:model"

# How often the status line refreshes while a step runs (seconds).
_POLL_S = 0.25


@solara.component
def ScenarioDashboard(
    scenario: ScenarioSpec | str,
    agent_portrayal: Callable[[Agent], AgentPortrayalStyle] | None = None,
    model_params: Mapping[str, Any] | None = None,
    *,
    backend: str = DEFAULT_BACKEND,
    backends: Mapping[str, BaseChatModel] | None = None,
    seed: int = 1,
    play_interval: float = 0.0,
    cache: ResponseCache | None = None,
    name: str | None = None,
    legend: Sequence[LegendEntry] = (),
    observation_view: Callable[[Any], Any] | None = None,
    space_view: ScenarioView | None = None,
    inspector: ScenarioView | None = None,
    cards: Sequence[ScenarioView] = (),
    snapshot: Callable[[Model], Any] | None = None,
    status_line: Callable[[Snapshot], str] | None = None,
):
    """The dashboard of a scenario: space, metrics, controls, LLM panel, inspector, transcript.

    A scenario may draw its space, its agent inspector and more cards itself: each is a
    :data:`~mesa_llm.viz.views.ScenarioView`, a component called as ``view(current, shown,
    selected)`` with the session, the snapshot drawn and the selected agent's id, that draws
    its whole card. The space and the inspector share the first row; the cards share the
    next, left to right; the metrics and the transcript follow.

    Args:
        scenario: the scenario, or its name (see ``mesa-llm models``).
        agent_portrayal: how Mesa's ``SpaceRenderer`` draws an agent, e.g. from
            :func:`~mesa_llm.viz.portrayal.population_portrayal`; needed by the default
            space view, optional with a ``space_view`` (given, and the model has a space,
            the snapshots still carry Mesa's layer of the agents).
        model_params: the model's parameters in Mesa's ``SolaraViz`` format: a dict of
            inputs (``{"type": "SliderFloat", "value": ..., "min": ..., ...}``, ``Slider``)
            and fixed values; None gives every scenario parameter a text input.
        backend: the backend chosen when the page opens: ``"local"``, ``"rule"``, a
            ``provider:model`` string or a key of ``backends``.
        backends: more chat models to offer, by name (your own LangChain models).
        seed: the seed chosen when the page opens.
        play_interval: seconds to wait between steps while playing.
        cache: a response cache shared by every model the page builds (e.g. a
            :class:`~mesa_llm.cache.SQLiteCache`); None gives each model its own in-memory one.
        name: the page's title; the scenario's name by default.
        legend: what the scenario's colours and marks mean (its groups, its hollow agents);
            the legend under the space adds the shapes of the populations and the selection.
        observation_view: what the agent inspector shows of an observation (see
            :func:`~mesa_llm.viz.components.AgentInspector`); its fields by default.
        space_view: the scenario's card of its space, instead of Mesa's space with the
            legend (which it then draws itself, if it wants one).
        inspector: the scenario's card of the selected agent, instead of
            :func:`~mesa_llm.viz.components.AgentInspector`.
        cards: more cards of the scenario (who is where, conversations, ...).
        snapshot: the scenario's snapshot hook: called with the model between steps, its
            result is the ``data`` of the snapshots its views draw (see
            :class:`~mesa_llm.viz.session.Session`).
        status_line: a line under the step line, of the snapshot drawn (the scenario's
            clock, say).

    Raises:
        TypeError: with neither an ``agent_portrayal`` nor a ``space_view``.
    """
    if agent_portrayal is None and space_view is None:
        raise TypeError("ScenarioDashboard draws the space with an agent_portrayal or a space_view.")
    spec = find_scenario(scenario) if isinstance(scenario, str) else scenario
    extra = dict(backends or {})
    inputs, fixed = solara.use_memo(lambda: page_inputs(spec, model_params), [])
    choices = [DEFAULT_BACKEND, *([RULE_BACKEND] if spec.rule_backend else []), *extra, OTHER_BACKEND]
    known = backend in choices

    values = solara.use_reactive({name: options["value"] for name, options in inputs.items()})
    chosen = solara.use_reactive(backend if known else OTHER_BACKEND)
    custom = solara.use_reactive("" if known else backend)
    seed_value = solara.use_reactive(seed)
    threads = solara.use_reactive(None)
    temperature = solara.use_reactive(None)
    session = solara.use_reactive(None)
    latest = solara.use_reactive(None)  # the snapshot drawn
    selected = solara.use_reactive(None)
    problem = solara.use_reactive(None)
    progress = solara.use_reactive(None)
    playing = solara.use_reactive(False)
    closed = solara.use_memo(threading.Event, [])

    def wanted() -> RunConfig:
        choice = custom.value.strip() if chosen.value == OTHER_BACKEND else chosen.value
        if choice == DEFAULT_BACKEND:
            choice = local_backend(threads.value, temperature.value)
        if not choice:
            raise BackendError(f"Enter a LangChain {OTHER_BACKEND} string, e.g. openai:gpt-4o-mini.")
        params = page_parameters(spec, {**fixed, **values.value})
        return RunConfig(spec, params, steps=0, seed=int(seed_value.value or 0), backend=choice)

    def reset() -> None:
        try:
            started = Session.start(wanted(), agent_portrayal, extra, cache, snapshot)
        except (BackendError, ValueError, TypeError) as exc:
            problem.set(f"Could not build the model: {exc}")
            return
        problem.set(None)
        playing.set(False)
        session.set(started)
        latest.set(started.snapshot())
        selected.set(started.first_llm_agent())
        force_update()

    solara.use_effect(reset, [])
    solara.use_effect(lambda: closed.set, [])  # stop playing when the page closes

    def advance() -> None:
        current = session.value
        runtime = current.model.llm
        try:
            while True:
                before = runtime.progress  # each LLM phase starts a new one
                started = time.perf_counter()
                step = in_thread(current.model.step)
                while True:
                    try:
                        step.result(timeout=_POLL_S)
                        break
                    except TimeoutError:
                        phase = runtime.progress
                        answered, prompts = (0, 0) if phase is before else (phase.answered, phase.prompts)
                        progress.set((answered, prompts, time.perf_counter() - started))
                latest.set(current.snapshot())
                force_update()
                if closed.is_set() or not playing.value or not current.model.running:
                    break
                time.sleep(play_interval)
        except Exception as exc:
            logger.exception("the step failed")
            problem.set(f"The step failed: {type(exc).__name__}: {exc}")
        finally:
            progress.set(None)
            playing.set(False)

    task = solara.lab.use_task(advance, dependencies=None, raise_error=False)  # type: ignore[misc]
    busy = task.pending

    def play_pause() -> None:
        if playing.value:
            playing.set(False)
        else:
            playing.set(True)
            if not busy:
                task()

    current: Session | None = session.value
    shown: Snapshot | None = latest.value
    title = name or spec.name
    solara.Title(f"{title} · mesa_llm")
    with solara.Columns([1, 3], classes=["mesa-llm-dashboard"]):
        with solara.Column():
            solara.Markdown(f"## {title}\n{spec.summary}")
            with solara.Card("Controls"):
                with solara.Row():
                    solara.Button("Reset", on_click=reset, disabled=busy, color="primary", outlined=True)
                    solara.Button(
                        "Pause" if playing.value else "Play",
                        on_click=play_pause,
                        disabled=current is None or (shown is not None and not shown.running),
                        color="primary",
                    )
                    solara.Button(
                        "Step",
                        on_click=lambda: task(),
                        disabled=busy or current is None or (shown is not None and not shown.running),
                        color="primary",
                    )
                _Status(shown, progress, busy, status_line)
                if problem.value:
                    solara.Error(problem.value, classes=["mesa-llm-problem"])
            with solara.Card("Model parameters"):
                now = {n: values.value.get(n, o["value"]) for n, o in inputs.items()}
                shown_inputs = {
                    n: {**o, "value": now[n], "label": input_label(o, now[n])} for n, o in inputs.items()
                }
                UserInputs(shown_inputs, on_change=lambda n, v: values.set({**values.value, n: v}))
                solara.Select("backend", values=choices, value=chosen)
                if chosen.value == OTHER_BACKEND:
                    solara.InputText("provider:model", value=custom, continuous_update=False)
                if chosen.value == DEFAULT_BACKEND:
                    _LocalKnobs(threads, temperature)
                solara.InputInt("seed", value=seed_value)
                if current is not None and _pending_changes(current, wanted):
                    solara.Info("Changed settings apply on Reset.", dense=True)
            if current is not None:
                with solara.Card("LLM decisions"):
                    _BackendLine(current)
                    LLMPanel(current.model)
            if spec.probes:
                with solara.Card("Implied rule (calibration)"):
                    CalibrationPanel(spec, wanted, extra, cache)
        with solara.Column():
            if current is None or shown is None:
                solara.Info("Building the model…" if problem.value is None else "No model yet.")
                return
            with solara.Columns([1, 1]):
                if space_view is None:
                    with solara.Card("Space"):
                        SpaceView(current, shown, selected, legend)
                else:
                    space_view(current, shown, selected)
                if inspector is None:
                    with solara.Card("Agent inspector"):
                        AgentInspector(current.model, selected, observation_view)
                else:
                    inspector(current, shown, selected)
            if cards:
                with solara.Columns([1] * len(cards)):
                    for card in cards:
                        card(current, shown, selected)
            with solara.Card("Metrics: all, rule and LLM agents"):
                MetricsView(spec, current, shown)
            with solara.Card("Transcript of the last step"):
                Transcript(current.model)


def _pending_changes(current: Session, wanted: Callable[[], RunConfig]) -> bool:
    try:
        config = wanted()
    except (BackendError, ValueError):
        return True
    old = current.config
    return (config.params, config.seed, config.backend) != (dict(old.params), old.seed, old.backend)


@solara.component
def _Status(
    shown: Snapshot | None,
    progress: solara.Reactive[tuple[int, int, float] | None],
    busy: bool,
    status_line: Callable[[Snapshot], str] | None,
):
    """The step line (and the scenario's line); it alone reads ``progress``, so polls redraw only it."""
    with solara.Div(classes=["mesa-llm-status"]):
        if shown is None:
            solara.Text("No model.")
        elif busy:
            answered, prompts, elapsed = progress.value or (0, 0, 0.0)
            phase = f"LLM phase: {answered} of {prompts} prompts answered" if prompts else "deciding"
            solara.Text(f"Step {shown.steps + 1} running · {phase} · {elapsed:.1f} s")
            solara.ProgressLinear(100 * answered / prompts if prompts else True)
        else:
            state = "" if shown.running else " · the model stopped running"
            solara.Text(f"Step {shown.steps}{state}")
    if shown is not None and status_line is not None:
        solara.Text(status_line(shown), classes=["mesa-llm-status-line"])


@solara.component
def _BackendLine(current: Session):
    name = current.run.backend.name
    text = name if name is not None else "none (no LLM agents)"
    solara.Text(f"Backend: {current.config.backend} → {text}", classes=["mesa-llm-backend"])


@solara.component
def _LocalKnobs(threads: solara.Reactive[int | None], temperature: solara.Reactive[float | None]):
    """The embedded model's CPU threads and temperature (empty: its defaults).

    One thread is often faster on a busy machine; a temperature above 0 samples answers
    (and draws actions from option probabilities) instead of taking the likeliest one.
    """
    with solara.Div(classes=["mesa-llm-local"]):
        solara.InputInt("local model threads (empty: up to 4)", value=threads, optional=True)
        solara.InputFloat("local model temperature (empty: 0)", value=temperature, optional=True)
