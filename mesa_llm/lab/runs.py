"""Running a scenario: the logic behind ``mesa-llm run``, reused by the dashboards and sweeps.

A run is a :class:`RunConfig`: a scenario, its complete parameters, steps, a seed and a
backend string. :meth:`Run.build` builds the scenario's model; its LLM agents' chat model
is created when the first of them is (so a bad backend fails at once, and a model without
LLM agents never creates one). :meth:`Run.advance` steps it with a progress callback and
stops cleanly on Ctrl-C, and :func:`~mesa_llm.lab.journal.write_outputs` writes the
frames, the call records, the metadata and a plot of the metrics to a folder (the
command line writes it as the run goes, with a :class:`~mesa_llm.lab.journal.RunJournal`)::

    spec = find_scenario("schelling")
    config = RunConfig(spec, model_parameters(spec, {"llm_share": 0.5}), steps=30, seed=1, backend="rule")
    result = execute(config)
    write_outputs(Path("runs/demo"), config, result)

A scenario's model collects its data once when built and once per step, so row ``i`` of
its model frame is the state after step ``i``. Both frames are indexed by that integer
``step`` (Mesa's own agent frame has the float ``model.time`` as ``Step``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
from mesa import Model

from mesa_llm.backends import DEFAULT_BACKEND, RULE_BACKEND, BackendError, backend_name, resolve_backend
from mesa_llm.cache import InMemoryCache, ResponseCache, SQLiteCache
from mesa_llm.checks import check_int, check_number
from mesa_llm.lab.specs import ScenarioSpec, find_scenario, model_parameters
from mesa_llm.records import CallLog

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "AGENT_INDEX",
    "RULE_BACKEND",
    "Run",
    "RunBackend",
    "RunConfig",
    "RunResult",
    "agent_rows",
    "execute",
    "open_cache",
    "resolve_run_backend",
    "rule_backend",
]

logger = logging.getLogger(__name__)

AGENT_INDEX: Final = ("step", "AgentID")
"""The index of a run's agent frame (``step`` as in the model frame, Mesa's ``AgentID``)."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What to run.

    Attributes:
        scenario: the scenario.
        params: the model's complete parameters (see
            :func:`~mesa_llm.lab.specs.model_parameters`).
        steps: how many steps to run (fewer if the model stops running).
        seed: the model's ``rng``.
        backend: ``"rule"`` (the scenario's rule-following chat model), ``"local"`` (the
            embedded local model, the default) or a LangChain ``"provider:model"`` string.
        temperature: the sampling temperature passed to the backend (not to ``"rule"``);
            None leaves the backend's default.
        cache: a SQLite response cache file, or None for an in-memory cache of this run.

    Raises:
        TypeError: for a value of the wrong type (steps or seed that are not whole
            numbers, a backend that is not a string, a cache that is not a path).
        ValueError: for negative steps or seed, a NaN, infinite or negative temperature;
            a :class:`~mesa_llm.backends.BackendError` for an empty backend.
    """

    scenario: ScenarioSpec
    params: Mapping[str, Any]
    steps: int
    seed: int
    backend: str = DEFAULT_BACKEND
    temperature: float | None = None
    cache: Path | None = None

    def __post_init__(self) -> None:
        set_field = object.__setattr__  # frozen: the checked values are stored this way
        set_field(self, "steps", check_int("steps", self.steps, minimum=0))
        set_field(self, "seed", check_int("seed", self.seed, minimum=0))
        if self.temperature is not None:
            set_field(self, "temperature", check_number("temperature", self.temperature, minimum=0))
        naming = (
            f"'{RULE_BACKEND}' (the scenario's rule-following chat model), '{DEFAULT_BACKEND}' "
            "(the embedded model) or 'provider:model', such as 'openai:gpt-4o-mini'"
        )
        if not isinstance(self.backend, str):
            raise TypeError(f"backend must be a string naming a chat model ({naming}), got {self.backend!r}.")
        if not self.backend.strip():
            raise BackendError(f"The backend {self.backend!r} names no chat model; name one: {naming}.")
        if self.cache is not None:
            if not isinstance(self.cache, str | os.PathLike):
                raise TypeError(f"cache must be the path of a SQLite file or None, got {self.cache!r}.")
            set_field(self, "cache", Path(self.cache))


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
        log: the call records of the completed steps, with their totals.
        backend_name: the short name of the chat model the LLM agents asked; None when
            the model has no LLM agents (no backend was created).
    """

    model: Model
    steps_completed: int
    interrupted: bool
    elapsed_s: float
    model_frame: pd.DataFrame
    log: CallLog
    backend_name: str | None

    @property
    def agent_frame(self) -> pd.DataFrame:
        """The agent reporters of steps 0 to ``steps_completed``, indexed by ``step`` and ``AgentID``.

        ``step`` is an int, as in the model frame (:data:`AGENT_INDEX`). The frame is made
        when asked for, from the rows the model's collector kept (which later steps do not
        change): a sweep's runs, which never need it, do not pay for it.
        """
        return _agent_frame(self.model, self.steps_completed)


def resolve_run_backend(config: RunConfig, named: Mapping[str, BaseChatModel] | None = None) -> BaseChatModel:
    """The chat model ``config.backend`` names: one of ``named``, the scenario's rule, or a resolved string.

    Raises:
        BackendError: for a backend that cannot be created, saying what to change.
    """
    if named is not None and config.backend in named:
        return named[config.backend]
    if config.backend == RULE_BACKEND:
        return _rule_backend(config.scenario, config.params)
    kwargs = {} if config.temperature is None else {"temperature": config.temperature}
    return resolve_backend(config.backend, **kwargs)


def rule_backend(scenario: str | ScenarioSpec, **settings: Any) -> BaseChatModel:
    """A scenario's rule-following chat model, for these settings (its defaults for the others).

    With it, LLM agents answer as the scenario's rule agents would: a mixed run equals the
    all-rule run. The command line's ``--backend rule``, in Python::

        backend = rule_backend("schelling", homophily=0.3)
        model = SchellingModel(homophily=0.3, llm_share=0.5, backend=backend)

    (``SchellingModel(backend="rule", ...)`` does the same for its own settings.)

    Raises:
        ValueError: for an unknown scenario or setting.
        BackendError: for a scenario without a rule-following chat model.
    """
    spec = find_scenario(scenario) if isinstance(scenario, str) else scenario
    return _rule_backend(spec, model_parameters(spec, settings))


def _rule_backend(spec: ScenarioSpec, params: Mapping[str, Any]) -> BaseChatModel:
    if spec.rule_backend is None:
        raise BackendError(
            f"{spec.name} has no rule-following chat model; choose another backend, "
            "such as 'local' or 'openai:gpt-4o-mini'."
        )
    return spec.rule_backend(params)


class RunBackend:
    """The chat model of a run's LLM agents, created when the first of them needs it.

    Given to the scenario's model as its ``backend``: a model without LLM agents never
    calls it, so nothing is loaded, and a bad backend fails while the model is built.

    Args:
        config: the run.
        named: chat models to use for some backend names (a dashboard's own models).
    """

    def __init__(self, config: RunConfig, named: Mapping[str, BaseChatModel] | None = None) -> None:
        self.config = config
        self.named = named
        self.chat_model: BaseChatModel | None = None

    def __call__(self) -> BaseChatModel:
        """The chat model, created on the first call.

        Raises:
            BackendError: for a backend that cannot be created.
        """
        if self.chat_model is None:
            self.chat_model = resolve_run_backend(self.config, self.named)
        return self.chat_model

    @property
    def name(self) -> str | None:
        """The chat model's short name; None if no LLM agent has needed it."""
        return backend_name(self.chat_model) if self.chat_model is not None else None


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


@dataclass(slots=True)
class Run:
    """A scenario's model built from a :class:`RunConfig`, with the backend of its LLM agents.

    Attributes:
        config: what it runs.
        model: the scenario's model.
        backend: the chat model of its LLM agents (created only if it has some).
    """

    config: RunConfig
    model: Model
    backend: RunBackend

    @classmethod
    def build(
        cls,
        config: RunConfig,
        cache: ResponseCache | None = None,
        backends: Mapping[str, BaseChatModel] | None = None,
    ) -> Run:
        """The scenario's model with the run's parameters, backend, cache and seed.

        Args:
            config: the run.
            cache: the response cache of its LLM calls.
            backends: chat models to use for some backend names, instead of resolving them.

        Raises:
            BackendError: for a backend that cannot be created, when the model has LLM agents.
            ValueError: for parameters the model rejects.
        """
        backend = RunBackend(config, backends)
        model = config.scenario.model(**config.params, backend=backend, cache=cache, rng=config.seed)
        return cls(config, model, backend)

    def advance(self, steps: int, on_step: Callable[[Model, int], None] | None = None) -> RunResult:
        """Step the model up to ``steps`` times, stopping early when it stops running or on Ctrl-C.

        A KeyboardInterrupt ends the run at the last completed step: the result holds the
        frames and call records of the steps that completed, and is marked interrupted.

        Args:
            steps: the most steps to run.
            on_step: called with the model and the number of completed steps after each step.
        """
        model = self.model
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
            log=_completed_log(model.llm.log, completed) if interrupted else model.llm.log,
            backend_name=self.backend.name,
        )


def execute(config: RunConfig, on_step: Callable[[Model, int], None] | None = None) -> RunResult:
    """Build and run ``config`` with its response cache (closed afterwards).

    Raises:
        BackendError: for a backend that cannot be created, when the model has LLM agents.
        ValueError: for parameters the model rejects.
    """
    with open_cache(config.cache) as cache:
        return Run.build(config, cache).advance(config.steps, on_step)


def _model_frame(model: Model, steps: int) -> pd.DataFrame:
    """The model frame of steps 0 to ``steps``.

    Built from the collected lists rather than with ``get_model_vars_dataframe`` because
    an interrupted collection leaves the lists of different lengths.
    """
    collected = model.datacollector.model_vars
    rows = min([steps + 1, *map(len, collected.values())])
    return pd.DataFrame({name: values[:rows] for name, values in collected.items()}).rename_axis("step")


def agent_rows(model: Model, steps: Iterable[int]) -> list[tuple[Any, ...]]:
    """The agent reporters' rows collected after each of ``steps``: ``(step, AgentID, *values)``.

    Mesa keys its collections by ``model.time`` (a float, which need not count steps); a
    scenario's model collects once when built and once per step, so its collection ``n``
    is the state after step ``n``. Steps not collected (yet) have no rows, nor has a model
    without agent reporters.
    """
    collector = model.datacollector
    if not collector.agent_reporters:
        return []
    collected = list(collector._agent_records.values())  # Mesa keeps no public per-step view
    return [(n, *row[1:]) for n in steps if n < len(collected) for row in collected[n]]


def _agent_frame(model: Model, steps: int) -> pd.DataFrame:
    """The agent frame of steps 0 to ``steps`` (empty if the model has no agent reporters)."""
    collector = model.datacollector
    if not collector.agent_reporters:
        return pd.DataFrame()
    columns = [*AGENT_INDEX, *collector.agent_reporters]
    return pd.DataFrame.from_records(
        agent_rows(model, range(steps + 1)), columns=columns, index=list(AGENT_INDEX)
    )


def _completed_log(log: CallLog, steps: int) -> CallLog:
    """The records of steps up to ``steps``, with their totals (``log`` itself if it keeps none)."""
    if not log.keep:
        return log
    completed = CallLog()
    for record in log.records:
        if record.step <= steps:
            completed.add(record)
    return completed
