"""The calibration panel of a scenario's dashboard: the rule its LLM agents imply, probed on demand.

For a scenario that declares probes (:class:`~mesa_llm.calibration.Probe`, in its
``ScenarioSpec(probes=...)``), :func:`CalibrationPanel` runs one when its Probe button is
pressed, with the page's current settings: its selected backend and its model
parameters, those that shape what an LLM agent is asked (the probe builds its own small
world, see :func:`probe_parameters`). The probe runs in a background thread, so the page
stays responsive meanwhile; the panel then shows the probe's figure (the implied-rule
curve), its verdict and what it cost. A failure is shown in the panel, never raised.

The answers are kept in the page's response cache (or, without one, in the panel's own
in-memory cache): probing the same settings again makes no backend call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import solara
from langchain_core.language_models import BaseChatModel

from mesa_llm.backends import BackendError
from mesa_llm.cache import InMemoryCache, ResponseCache
from mesa_llm.calibration import Probe, ProbeResult, find_probe, probe_scenario
from mesa_llm.lab import RunConfig, ScenarioSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CalibrationPanel", "ProbeRequest", "Probed", "cost_text", "probe_parameters"]

logger = logging.getLogger(__name__)

# The answers per point asked of a backend that does not score the options, when the page opens.
_SAMPLES = 20


def probe_parameters(spec: ScenarioSpec, probe: Probe, params: Mapping[str, Any]) -> dict[str, Any]:
    """The page's parameters a probe is given: the scenario's own, less the world the probe builds.

    A probe builds a small world of its own to ask its grid in (its
    :attr:`~mesa_llm.calibration.Probe.parameters`: a grid's size and density, say), so
    those parameters are the probe's, not the page's; so is ``llm_share``, since a probe
    asks the LLM agents' rule whatever the page's mix. The others (a framing, a persona,
    a radius, the rule's own parameters for the rule-following backend) shape what an
    LLM agent is asked and are the page's. Values of other model arguments (objects a
    page fixes) are left out.
    """
    known = spec.parameters()
    return {
        name: value
        for name, value in params.items()
        if name in known and name != "llm_share" and name not in probe.parameters
    }


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """A probe the panel runs: the page's settings when Probe was pressed.

    Attributes:
        spec: the scenario.
        probe: the probe's name.
        backend: the chat model, or the backend string, asked.
        label: the backend as the page names it.
        parameters: the model parameters probed (:func:`probe_parameters`).
        seed: the probed model's seed.
        samples: answers per point where the backend does not score the options.
        cache: where the answers are kept.
    """

    spec: ScenarioSpec
    probe: str
    backend: BaseChatModel | str = field(repr=False)
    label: str
    parameters: Mapping[str, Any]
    seed: int
    samples: int
    cache: ResponseCache = field(repr=False)

    @classmethod
    def of(
        cls,
        config: RunConfig,
        probe: str,
        samples: int,
        backends: Mapping[str, BaseChatModel],
        cache: ResponseCache,
    ) -> ProbeRequest:
        """The probe ``probe`` of the page whose settings are ``config`` (a key of ``backends`` is its model).

        Raises:
            ValueError: for a probe the scenario does not declare.
        """
        spec = config.scenario
        chosen = find_probe(spec, probe)
        return cls(
            spec=spec,
            probe=chosen.name,
            backend=backends.get(config.backend, config.backend),
            label=config.backend,
            parameters=probe_parameters(spec, chosen, config.params),
            seed=config.seed,
            samples=samples,
            cache=cache,
        )

    def run(self) -> Probed:
        """Probe, fit and draw (in the calling thread).

        Raises:
            ValueError: for a bad parameter or a fit that fails; a BackendError for a
                backend that cannot be created.
        """
        result = probe_scenario(
            self.spec,
            self.probe,
            backend=self.backend,
            parameters=self.parameters,
            samples=self.samples,
            cache=self.cache,
            seed=self.seed,
        )
        draw = result.probe.figure
        return Probed(self, result, draw(result) if draw is not None else None)


@dataclass(frozen=True, slots=True)
class Probed:
    """A probe the panel ran, with its figure (None for a probe without one)."""

    request: ProbeRequest
    result: ProbeResult
    figure: Figure | None = field(repr=False)


def cost_text(result: ProbeResult) -> str:
    """What a probe asked and cost, in one line: points, backend calls, cache hits, fallbacks, chat model."""
    run = result.run
    return (
        f"{result.table['point'].nunique()} points · {run.calls} backend calls · "
        f"{run.cache_hits} cache hits · {run.fallbacks} fallbacks ({result.backend})"
    )


def _probe(request: ProbeRequest) -> Probed:
    """The panel's background task: the probe, logged where it fails (the panel shows the error)."""
    try:
        return request.run()
    except Exception:
        logger.exception("the probe failed")
        raise


@solara.component
def CalibrationPanel(
    spec: ScenarioSpec,
    settings: Callable[[], RunConfig],
    backends: Mapping[str, BaseChatModel] | None = None,
    cache: ResponseCache | None = None,
):
    """The implied rule of the page's LLM agents: a probe run on demand, in the background.

    Args:
        spec: the scenario; it must declare probes.
        settings: the page's current settings (its selected backend, parameters and
            seed); it may raise a ``ValueError`` (a ``BackendError``) or ``TypeError`` for
            settings that name no model, which the panel shows.
        backends: the page's own chat models, by the names ``settings`` gives them.
        cache: the page's response cache; None keeps the answers in the panel's own.
    """
    names = [probe.name for probe in spec.probes]
    chosen = solara.use_reactive(names[0])
    samples = solara.use_reactive(_SAMPLES)
    problem = solara.use_reactive(None)
    asked = solara.use_reactive(None)
    own_cache = solara.use_memo(InMemoryCache, [])
    task = solara.lab.use_task(_probe, dependencies=None, raise_error=False)  # type: ignore[misc]

    def start() -> None:
        try:
            request = ProbeRequest.of(
                settings(),
                chosen.value,
                samples.value,
                dict(backends or {}),
                own_cache if cache is None else cache,
            )
        except (BackendError, ValueError, TypeError) as exc:
            problem.set(f"Could not probe: {exc}")
            return
        problem.set(None)
        asked.set(request)
        task(request)

    probe = find_probe(spec, chosen.value)
    with solara.Column(gap="6px", classes=["mesa-llm-calibration"]):
        solara.Text(f"{probe.name}: {probe.description}.")
        if len(names) > 1:
            solara.Select("probe", values=names, value=chosen, disabled=task.pending)
        solara.InputInt("samples per point (if not scored)", value=samples, continuous_update=False)
        solara.Button("Probe", on_click=start, disabled=task.pending, color="primary")
        if problem.value:
            solara.Error(problem.value, classes=["mesa-llm-probe-problem"])
        _ProbeStatus(task, asked.value)


@solara.component
def _ProbeStatus(task: Any, asked: ProbeRequest | None):
    """The probe's state: how to start it, that it runs, its error, or its result."""
    with solara.Div(classes=["mesa-llm-probe-status"]):
        if task.pending and asked is not None:
            solara.Text(f"Probing: the {asked.probe} probe, backend {asked.label}… (the page stays usable)")
            solara.ProgressLinear(True)
        elif task.error:
            exc = task.exception
            solara.Error(f"The probe failed: {type(exc).__name__}: {exc}", classes=["mesa-llm-probe-problem"])
        elif task.finished:
            _ProbeResult(task.value)
        else:
            solara.Text("Press Probe to ask the selected backend about the probe's grid of observations.")


@solara.component
def _ProbeResult(probed: Probed):
    request, result = probed.request, probed.result
    solara.Text(
        f"Implied rule: {result.describe()}",
        classes=["mesa-llm-probe-verdict"],
        style={"font-weight": "bold"},
    )
    solara.Text(cost_text(result), classes=["mesa-llm-probe-cost"])
    defaults = request.spec.parameters()
    changed = {n: v for n, v in request.parameters.items() if v != defaults[n].default}
    shown = "".join(f", {name} {value}" for name, value in changed.items())
    solara.Text(
        f"Probed: backend {request.label}, seed {request.seed}{shown}", classes=["mesa-llm-probe-settings"]
    )
    if probed.figure is not None:
        with solara.Div(classes=["mesa-llm-probe-figure"]):
            solara.FigureMatplotlib(probed.figure, format="png", dependencies=[id(probed)])
