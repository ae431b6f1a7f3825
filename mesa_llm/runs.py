"""Running a scenario: the logic behind ``mesa-llm run``, reusable by a dashboard or a sweep.

A run is a :class:`RunConfig`: a scenario, its complete parameters, steps, a seed and a
backend string. :func:`resolve_run_backend` turns the backend string into a chat model
before anything is built (so a bad backend fails at once), :func:`build_model` builds the
scenario's model, :func:`run_steps` steps it with a progress callback and stops cleanly on
Ctrl-C, and :func:`write_outputs` writes the frames, the call records, the metadata and a
plot of the metrics to a folder::

    spec = find_scenario("schelling")
    config = RunConfig(spec, model_parameters(spec, {"llm_share": "0.5"}), steps=30, seed=1, backend="rule")
    with open_cache(config.cache) as cache:
        model = build_model(config, resolve_run_backend(config), cache)
        result = run_steps(model, config.steps)
    write_outputs(Path("runs/demo"), config, result)

A scenario's model collects its data once when built and once per step, so row ``i`` of
its model frame is the state after step ``i``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import platform
import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from langchain_core.language_models import BaseChatModel
from mesa import Model

from mesa_llm.backends import BackendError, backend_name, resolve_backend
from mesa_llm.cache import InMemoryCache, ResponseCache, SQLiteCache
from mesa_llm.records import CallLog
from mesa_llm.scenarios import ScenarioSpec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "RULE_BACKEND",
    "RunConfig",
    "RunResult",
    "build_model",
    "final_metrics",
    "llm_totals",
    "metrics_figure",
    "model_parameters",
    "needs_backend",
    "open_cache",
    "rerun_argv",
    "resolve_run_backend",
    "run_steps",
    "versions",
    "write_outputs",
]

logger = logging.getLogger(__name__)

#: The backend string that asks the scenario for its rule-following chat model.
RULE_BACKEND = "rule"

# Distributions whose versions a run records, where installed.
_PACKAGES = (
    "mesa",
    "mesa-llm-lab",
    "langchain-core",
    "langchain",
    "numpy",
    "pandas",
    "networkx",
    "matplotlib",
    "llama-cpp-python",
)

# Line label and column suffix of each population in a metric's plot and summary.
_POPULATIONS = (("all", ""), ("rule", "_rule"), ("llm", "_llm"))


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What to run.

    Attributes:
        scenario: the scenario.
        params: the model's complete parameters (see :func:`model_parameters`).
        steps: how many steps to run (fewer if the model stops running).
        seed: the model's ``rng``.
        backend: ``"rule"`` (the scenario's rule-following chat model), ``"local"`` (the
            embedded local model) or a LangChain ``"provider:model"`` string.
        temperature: the sampling temperature passed to the backend (not to ``"rule"``);
            None leaves the backend's default.
        cache: a SQLite response cache file, or None for an in-memory cache of this run.
    """

    scenario: ScenarioSpec
    params: Mapping[str, Any]
    steps: int
    seed: int
    backend: str = "local"
    temperature: float | None = None
    cache: Path | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run computed, up to its last completed step.

    Attributes:
        model: the model, as left by the run.
        steps_completed: the steps that completed.
        interrupted: whether Ctrl-C stopped the run.
        elapsed_s: wall time spent stepping.
        model_frame: the model reporters, one row per step from step 0 (as built); the
            index is named ``step``.
        agent_frame: the agent reporters, indexed by ``Step`` and ``AgentID``.
        log: the call records of the completed steps, with their totals.
    """

    model: Model
    steps_completed: int
    interrupted: bool
    elapsed_s: float
    model_frame: pd.DataFrame
    agent_frame: pd.DataFrame
    log: CallLog


def model_parameters(spec: ScenarioSpec, settings: Mapping[str, str]) -> dict[str, Any]:
    """The scenario's parameters: its defaults, overridden by ``name -> text`` settings.

    Raises:
        ValueError: for an unknown parameter (listing the known ones) or a bad value.
    """
    defaults = {name: parameter.default for name, parameter in spec.parameters().items()}
    return defaults | spec.convert(settings)


def needs_backend(params: Mapping[str, Any]) -> bool:
    """Whether a model with these parameters has LLM agents: any ``llm_*`` parameter is set."""
    return any(value for name, value in params.items() if name.startswith("llm_"))


def resolve_run_backend(config: RunConfig) -> BaseChatModel | None:
    """The chat model of the run's LLM agents; None when it has none (nothing is loaded).

    Raises:
        BackendError: for a backend that cannot be created, saying what to change.
    """
    if not needs_backend(config.params):
        return None
    if config.backend == RULE_BACKEND:
        if config.scenario.rule_backend is None:
            raise BackendError(
                f"{config.scenario.name} has no rule-following chat model; choose another backend, "
                "such as 'local' or 'openai:gpt-4o-mini'."
            )
        return config.scenario.rule_backend(config.params)
    kwargs = {} if config.temperature is None else {"temperature": config.temperature}
    return resolve_backend(config.backend, **kwargs)


@contextmanager
def open_cache(path: Path | None) -> Iterator[ResponseCache]:
    """The SQLite response cache at ``path``, closed afterwards; an in-memory one for None.

    Without a file the run still keeps its answers in memory: a prompt asked again in a
    later step (the same neighbourhood, say) is answered from the cache, not the model.
    """
    if path is None:
        yield InMemoryCache()
        return
    cache = SQLiteCache(path)
    try:
        yield cache
    finally:
        cache.close()


def build_model(
    config: RunConfig, backend: BaseChatModel | None, cache: ResponseCache | None = None
) -> Model:
    """The scenario's model with the run's parameters, backend, cache and seed.

    Raises:
        ValueError: for parameters the model rejects.
    """
    return config.scenario.model(**config.params, backend=backend, cache=cache, rng=config.seed)


def run_steps(model: Model, steps: int, on_step: Callable[[Model, int], None] | None = None) -> RunResult:
    """Step ``model`` up to ``steps`` times, stopping early when it stops running or on Ctrl-C.

    A KeyboardInterrupt ends the run at the last completed step: the result holds the
    frames and call records of the steps that completed, and is marked interrupted.

    Args:
        model: a scenario's model.
        steps: the most steps to run.
        on_step: called with the model and the number of completed steps after each step.
    """
    completed = 0
    interrupted = False
    started = time.perf_counter()
    try:
        while completed < steps and model.running:
            model.run_for(1)
            completed += 1
            if on_step is not None:
                on_step(model, completed)
    except KeyboardInterrupt:
        interrupted = True
        logger.info("interrupted after %d of %d steps", completed, steps)
    return RunResult(
        model=model,
        steps_completed=completed,
        interrupted=interrupted,
        elapsed_s=time.perf_counter() - started,
        model_frame=_model_frame(model, completed),
        agent_frame=_agent_frame(model, completed),
        log=_completed_log(model.llm.log, completed) if interrupted else model.llm.log,
    )


def _model_frame(model: Model, steps: int) -> pd.DataFrame:
    """The model frame of steps 0 to ``steps``.

    Built from the collected lists rather than with ``get_model_vars_dataframe`` because
    an interrupted collection leaves the lists of different lengths.
    """
    collected = model.datacollector.model_vars
    rows = min([steps + 1, *map(len, collected.values())])
    return pd.DataFrame({name: values[:rows] for name, values in collected.items()}).rename_axis("step")


def _agent_frame(model: Model, steps: int) -> pd.DataFrame:
    """The agent frame of steps 0 to ``steps`` (empty if the model has no agent reporters)."""
    collector = model.datacollector
    if not collector.agent_reporters:
        return pd.DataFrame()
    frame = collector.get_agent_vars_dataframe()
    return frame[frame.index.get_level_values("Step") <= steps]


def _completed_log(log: CallLog, steps: int) -> CallLog:
    """The records of steps up to ``steps``, with their totals (``log`` itself if it keeps none)."""
    if not log.keep:
        return log
    completed = CallLog()
    for record in log.records:
        if record.step <= steps:
            completed.add(record)
    return completed


def final_metrics(frame: pd.DataFrame, metrics: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """The last value of each metric for ``all``, ``rule`` and ``llm`` agents, where reported.

    Missing values (NaN, e.g. for a population with no agents) are None.
    """
    last = frame.iloc[-1]
    return {
        metric: {
            population: _number(last[metric + suffix])
            for population, suffix in _POPULATIONS
            if metric + suffix in frame
        }
        for metric in metrics
    }


def llm_totals(log: CallLog) -> dict[str, float]:
    """The totals of a call log (decisions, calls, cache hits, tokens, failures, latency)."""
    return dataclasses.asdict(log.totals) | {"mean_latency_s": log.mean_latency_s}


def versions() -> dict[str, str]:
    """Python, the platform and the versions of the installed packages a run depends on."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def rerun_argv(config: RunConfig) -> list[str]:
    """The ``mesa-llm run`` command line that repeats the run (into a new output folder).

    Every parameter is given as ``--param name=value``, defaults included, so the command
    repeats the run even if a default changes.
    """
    argv = ["mesa-llm", "run", config.scenario.name, "--steps", str(config.steps)]
    argv += ["--seed", str(config.seed), "--backend", config.backend]
    if config.temperature is not None:
        argv += ["--temperature", str(config.temperature)]
    if config.cache is not None:
        argv += ["--cache", str(config.cache)]
    for name, value in config.params.items():
        argv += ["--param", f"{name}={value}"]
    return argv


def metrics_figure(frame: pd.DataFrame, metrics: tuple[str, ...], title: str) -> Figure:
    """One panel per metric against the step, with a line for all, rule and LLM agents.

    A population's line is drawn where its column (``{metric}``, ``{metric}_rule``,
    ``{metric}_llm``) exists and holds a value. The figure is not registered with pyplot
    (nothing to close; safe in threads), and is saved with Agg: ``figure.savefig(path)``.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(4.5 * max(len(metrics), 1), 4), layout="constrained")
    axes = figure.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    styles = {"all": "-", "rule": "--", "llm": ":"}
    labels = {"all": "all", "rule": "rule", "llm": "LLM"}
    for ax, metric in zip(axes, metrics, strict=False):
        for population, suffix in _POPULATIONS:
            column = metric + suffix
            if column in frame and frame[column].notna().any():
                ax.plot(frame.index, frame[column], styles[population], label=labels[population])
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend()
    figure.suptitle(title)
    return figure


def write_outputs(folder: Path, config: RunConfig, result: RunResult) -> dict[str, Any]:
    """Write a run's outputs to ``folder`` (created if missing) and return its metadata.

    The files: ``model.csv`` (model frame), ``agents.csv`` (agent frame), ``calls.jsonl``
    (call records), ``run.json`` (the returned metadata: scenario, parameters, seed,
    steps, backend, cache, interruption, timing, the command line to rerun it, final
    metrics, LLM totals, versions; no environment values) and ``metrics.png``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    result.model_frame.to_csv(folder / "model.csv")
    result.agent_frame.to_csv(folder / "agents.csv")
    result.log.write(folder / "calls.jsonl")
    backend = result.model.llm.backend
    argv = rerun_argv(config)
    record = {
        "scenario": config.scenario.name,
        "params": dict(config.params),
        "seed": config.seed,
        "steps_requested": config.steps,
        "steps_completed": result.steps_completed,
        "interrupted": result.interrupted,
        "backend": config.backend,
        "backend_name": backend_name(backend) if backend is not None else None,
        "temperature": config.temperature,
        "cache": str(config.cache) if config.cache is not None else None,
        "elapsed_s": round(result.elapsed_s, 3),
        "argv": argv,
        "command": shlex.join(argv),
        "final_metrics": final_metrics(result.model_frame, config.scenario.metrics),
        "llm_totals": llm_totals(result.log),
        "versions": versions(),
    }
    (folder / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    figure = metrics_figure(result.model_frame, config.scenario.metrics, _title(config, record))
    figure.savefig(folder / "metrics.png", dpi=100)
    return record


def _title(config: RunConfig, record: Mapping[str, Any]) -> str:
    name = record["backend_name"]
    if name is None:
        backend = "no LLM backend"
    elif name in config.backend:
        backend = f"backend {config.backend}"
    else:
        backend = f"backend {config.backend} ({name})"
    share = config.params.get("llm_share")
    return f"{config.scenario.name}: {backend}, llm_share {share}, seed {config.seed}"


def _number(value: Any) -> float | None:
    """A frame value as a JSON-safe float (None for NaN)."""
    number = float(value)
    return None if math.isnan(number) else number
