"""``mesa-llm run``: run a scenario, writing its folder as it goes; resume one that was cut short."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from mesa import Model
from rich.console import Console
from rich.markup import escape

from mesa_llm.backends import DEFAULT_BACKEND
from mesa_llm.backends.embedded import DEFAULT_EMBEDDED, EMBEDDED
from mesa_llm.cli.display import fail, show_summary, step_progress
from mesa_llm.cli.guards import (
    FallbackPolicy,
    deferred_interrupts,
    discard_folder,
    fallback_exit,
    new_folder,
    sigterm_interrupts,
)
from mesa_llm.cli.settings import scenario_settings
from mesa_llm.lab import (
    RUN_CACHE,
    ResumedJournal,
    ResumeError,
    Run,
    RunConfig,
    RunJournal,
    RunResult,
    StoredRun,
    find_scenario,
    load_run,
    model_parameters,
    open_cache,
)
from mesa_llm.lab.journal import OutputsError

__all__ = ["DEFAULT_STEPS", "RUN_EPILOG", "run"]

RUN_EPILOG = (
    "Set any scenario parameter as --name value (or --name=value) or --param name=value; "
    "'mesa-llm run SCENARIO --help' lists them. Example: mesa-llm run schelling --llm-share 0.5 "
    "--homophily 0.3 --steps 30 --seed 1 --backend rule --out runs/demo"
)

#: The steps of a run of a scenario without a run length of its own (``ScenarioSpec.steps_of``).
DEFAULT_STEPS = 50

# Options that go with --resume: they change what is shown and the exit code, not the run.
_WITH_RESUME = {"resume", "quiet", "fail_on_fallback"}


def run(
    ctx: typer.Context,
    scenario: Annotated[
        str | None,
        typer.Argument(
            help="The scenario to run: an installed one (see 'mesa-llm models'), or your own ScenarioSpec "
            "as path/to/file.py:SPEC or package.module:SPEC.",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Steps to run (default: the scenario's run length, such as 24 x --days for diffusion; "
            f"else {DEFAULT_STEPS}). Fewer if the model stops.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="The model's rng seed; drawn and recorded if not given.")
    ] = None,
    llm_share: Annotated[
        float | None,
        typer.Option(help="The scenario's share of LLM agents (its default if not given)."),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="'local' (embedded model; settings after commas, such as 'local,n_threads=1'), "
            "'rule' (a chat model answering like the rule agents) or a LangChain 'provider:model' "
            "string such as 'openai:gpt-4o-mini'."
        ),
    ] = DEFAULT_BACKEND,
    temperature: Annotated[
        float | None,
        typer.Option(
            help=(
                "Sampling temperature of the backend (not of 'rule'). The embedded model's "
                "default is 0: every agent takes the most probable option; 1 draws each "
                "action from the option probabilities."
            )
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A scenario parameter (repeatable)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="SQLite response cache, replayed by a rerun or a --resume.",
            show_default=f"<out>/{RUN_CACHE}",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output folder (new, or without a run.json).", show_default="runs/<scenario>-<time>"
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="FOLDER",
            help="Continue the run in FOLDER that was killed or interrupted, with the settings of its "
            "run.json (give no other run option).",
            show_default=False,
        ),
    ] = None,
    fail_on_fallback: Annotated[
        FallbackPolicy,
        typer.Option(
            help="Exit with 3 when all LLM decisions fell back (all), when any did (any), or never.",
        ),
    ] = FallbackPolicy.ALL,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
) -> None:
    """Run a scenario, writing its folder as the run goes.

    The folder gets run.json (the settings, the steps completed so far, at the end the
    results), model.csv, agents.csv and calls.jsonl (extended after every step),
    metrics.png and, at the end, the scenario's own outputs (which run.json lists).
    Without --cache the answers are kept in <out>/cache.sqlite, so that --resume <out>
    can continue the run, replaying its completed steps from the cache, if it is killed
    or interrupted. Ctrl-C or SIGTERM stops the run at once, keeping the completed steps.

    Exit codes: 0 done; 2 an error, named in its message (bad input is refused before
    anything runs; when the scenario's own outputs fail, the other files are written);
    3 LLM decisions fell back (see --fail-on-fallback; the outputs are written); 130
    interrupted (the completed steps are written).
    """
    err = Console(stderr=True, soft_wrap=True)
    if resume is not None:
        stored = _stored_run(err, ctx, scenario, resume)
        config, folder, created = _resumed_config(err, stored), resume, []
    else:
        stored = None
        config, folder = _new_config(
            err, ctx, scenario, steps, seed, llm_share, backend, temperature, param, cache, out
        )
        created = new_folder(err, folder)
    result, journal = _execute(err, config, folder, stored, created, quiet)
    interrupted, code = result.interrupted, 0
    try:
        if not quiet:
            show_summary(Console(), config.scenario, config.steps, result)
            err.print(f"Outputs in [bold]{escape(str(folder))}[/]")
        code = fallback_exit(err, result.log, fail_on_fallback)
    except KeyboardInterrupt:  # the folder is written: only the summary is cut short
        interrupted = True
    if interrupted:
        _interrupted(err, journal, config, folder)
    raise typer.Exit(code)


def _new_config(
    err: Console,
    ctx: typer.Context,
    scenario: str | None,
    steps: int | None,
    seed: int | None,
    llm_share: float | None,
    backend: str,
    temperature: float | None,
    param: list[str] | None,
    cache: Path | None,
    out: Path | None,
) -> tuple[RunConfig, Path]:
    """The run the options ask for, and its folder; exits with 2 for bad options."""
    if scenario is None:
        fail(err, "Name the scenario to run (see 'mesa-llm models'), or continue a run with --resume FOLDER.")
    try:
        spec = find_scenario(scenario)
    except (ValueError, TypeError) as exc:  # unknown, or a package publishes a bad entry point
        fail(err, exc)
    folder = out if out is not None else default_folder(spec.name)
    try:
        params = model_parameters(spec, scenario_settings(spec, param or [], ctx.args, llm_share))
        if steps is None:
            steps = spec.steps_of(params) if spec.steps_of is not None else DEFAULT_STEPS
        config = RunConfig(
            scenario=spec,
            params=params,
            steps=steps,
            seed=seed if seed is not None else random.SystemRandom().randrange(2**32),
            backend=backend,
            temperature=temperature,
            cache=cache if cache is not None else folder / RUN_CACHE,
        )
    except (ValueError, TypeError) as exc:
        fail(err, exc)
    return config, folder


def _stored_run(err: Console, ctx: typer.Context, scenario: str | None, folder: Path) -> StoredRun:
    """The run to resume from ``folder``; exits with 2 for other run options, 0 for a complete run."""
    given = [  # typer has its own copy of click's ParameterSource: compared by name
        f"--{name.replace('_', '-')}"
        for name in ctx.params
        if name not in {*_WITH_RESUME, "scenario"} and ctx.get_parameter_source(name).name != "DEFAULT"
    ]
    if scenario is not None or given or ctx.args:
        extra = [*([scenario] if scenario else []), *given, *ctx.args]
        fail(
            err,
            f"--resume continues a run with the settings of its run.json and takes no other run option "
            f"(got {' '.join(extra)}); only --quiet and --fail-on-fallback go with it.",
        )
    try:
        stored = load_run(folder)
    except ValueError as exc:
        fail(err, exc)
    if stored.complete:
        err.print(
            f"The run in {escape(str(folder))} is complete ({stored.steps_completed} of "
            f"{stored.record['steps_requested']} steps); nothing to resume."
        )
        raise typer.Exit(0)
    return stored


def _resumed_config(err: Console, stored: StoredRun) -> RunConfig:
    try:
        return stored.config()
    except (ValueError, TypeError) as exc:
        fail(err, f"The run in {str(stored.folder)!r} cannot be resumed: {exc}")


def _execute(
    err: Console, config: RunConfig, folder: Path, stored: StoredRun | None, created: list[Path], quiet: bool
) -> tuple[RunResult, RunJournal]:
    """Build and step the run, writing its folder as it goes (a resumed one replaying its steps first).

    SIGTERM stops it like Ctrl-C. A run that never started leaves no folder of its own.

    Raises:
        typer.Exit: with code 2 for a cache, backend or folder that fails, 130 for an
            interrupt that stopped the final writing or came before the run started.
    """
    journal: RunJournal | None = None
    try:
        with sigterm_interrupts(), ExitStack() as stack:
            built = _build(err, stack, config, quiet)
            if stored is None:
                journal = RunJournal.start(folder, config, built.model, built.backend.name)
            else:
                journal = ResumedJournal(stored, config)
            stack.enter_context(journal)
            if not quiet:
                err.print(_header(built, folder, stored))
            with step_progress(err, config.steps, quiet) as progress:
                result = built.advance(config.steps, _each(journal.step, progress))
            with deferred_interrupts():  # a second Ctrl-C waits for the folder to be written
                journal.finish(result)
    except BaseException as exc:
        if journal is None:
            discard_folder(created)
        if isinstance(exc, KeyboardInterrupt):  # a second one, during the final writing
            _interrupted(err, journal, config, folder)
        if isinstance(exc, ResumeError | OutputsError):  # the latter after writing the standard files
            fail(err, exc)
        if isinstance(exc, OSError):
            fail(err, f"Could not write the run's folder {str(folder)!r}: {exc}")
        raise
    return result, journal


def _build(err: Console, stack: ExitStack, config: RunConfig, quiet: bool) -> Run:
    """The run's model with its response cache (closed by ``stack``); exits with 2 when either fails."""
    try:
        response_cache = stack.enter_context(open_cache(config.cache))
    except (OSError, ValueError, sqlite3.Error) as exc:  # a CacheError is a ValueError
        fail(err, f"Could not open the cache {str(config.cache)!r}: {exc}")
    try:  # the backend is created with the first LLM agent: a bad one fails here, at once
        with nullcontext() if quiet else err.status(f"Building the model (backend {escape(config.backend)})"):
            return Run.build(config, response_cache)
    except ValueError as exc:  # bad parameters, or a BackendError
        fail(err, exc)


def _each(*callbacks: Callable[[Model, int], None] | None) -> Callable[[Model, int], None]:
    """One step callback calling each of ``callbacks`` (None ones left out) in turn."""
    given = [callback for callback in callbacks if callback is not None]

    def on_step(model: Model, completed: int) -> None:
        for callback in given:
            callback(model, completed)

    return on_step


def _interrupted(err: Console, journal: RunJournal | None, config: RunConfig, folder: Path) -> None:
    """Say what an interrupt left and exit with 130."""
    if journal is None:
        err.print("[yellow]Interrupted[/] before the run started; nothing was written.")
    else:
        err.print(
            f"[yellow]Interrupted[/] after {journal.steps} of {config.steps} steps; "
            f"wrote the completed steps to {escape(str(folder))}."
        )
    raise typer.Exit(130)


def default_folder(scenario: str) -> Path:
    """``runs/<scenario>-<timestamp>``, with a suffix if that folder exists."""
    base = Path("runs") / f"{scenario}-{datetime.now():%Y%m%d-%H%M%S}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def _header(built: Run, folder: Path, stored: StoredRun | None) -> str:
    config = built.config
    asked = built.backend.chat_model is not None
    backend = config.backend if asked else "none (no LLM agents)"
    if stored is None:
        header = f"Running [bold]{config.scenario.name}[/] for {config.steps} steps"
    else:
        done = stored.steps_completed
        header = (
            f"Resuming [bold]{config.scenario.name}[/] after {done} of {config.steps} steps "
            f"(replaying them from the cache {escape(str(config.cache))})"
        )
    header += (
        f": seed {config.seed}, llm_share {config.params.get('llm_share')}, "
        f"backend {escape(backend)} -> {escape(str(folder))}"
    )
    embedded = _embedded_title(config.backend)
    if asked and embedded is not None:
        header += (
            f"\n[dim]The embedded model ({embedded}) proves the pipeline end to end but barely "
            "reacts to prompts; for experiments pass --backend provider:model (docs/backends.md).[/]"
        )
    return header


def _embedded_title(backend: str) -> str | None:
    """The title of the embedded model a backend string names (``local``, ``local:gemma3``), else None."""
    name = backend.partition(",")[0]
    if name == DEFAULT_BACKEND:
        name = f"{DEFAULT_BACKEND}:{DEFAULT_EMBEDDED}"
    prefix, _, embedded = name.partition(":")
    found = EMBEDDED.get(embedded) if prefix == DEFAULT_BACKEND else None  # not another file's "local:PATH"
    return found.title if found is not None else None
