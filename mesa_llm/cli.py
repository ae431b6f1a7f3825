"""The ``mesa-llm`` command: run a scenario, list the scenarios.

The work is done by :mod:`mesa_llm.runs`; this module parses the command line and shows
progress, summaries and errors with rich.
"""

from __future__ import annotations

import importlib.util
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from mesa import Model
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from mesa_llm import runs
from mesa_llm.backends import BackendError
from mesa_llm.scenarios import Parameter, ScenarioSpec, find_scenario, scenarios

__all__ = ["app", "main"]

app = typer.Typer(
    name="mesa-llm",
    help="Run Mesa models whose agents decide with a language model, side by side with rule agents.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

_RUN_EPILOG = (
    "Set any scenario parameter as --name value (or --name=value) or --param name=value; "
    "'mesa-llm models' lists them. Example: mesa-llm run schelling --llm-share 0.5 --homophily 0.3 "
    "--steps 30 --seed 1 --backend rule --out runs/demo"
)

# Seconds between progress lines where stderr is not a terminal (logs, CI).
_PROGRESS_LINE_EVERY_S = 10.0


def main() -> None:
    """Entry point of the ``mesa-llm`` console script."""
    app()


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=_RUN_EPILOG,
)
def run(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Argument(help="The scenario to run (see 'mesa-llm models').")],
    steps: Annotated[int, typer.Option(min=0, help="Steps to run (fewer if the model stops).")] = 50,
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
            help="'local' (embedded model), 'rule' (a chat model answering like the rule agents) "
            "or a LangChain 'provider:model' string such as 'openai:gpt-4o-mini'."
        ),
    ] = "local",
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature of the backend (not of 'rule').")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A scenario parameter (repeatable)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="SQLite response cache, replayed by a rerun (default: in memory, this run only)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder.", show_default="runs/<scenario>-<time>"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")] = False,
) -> None:
    """Run a scenario; write model.csv, agents.csv, calls.jsonl, run.json and metrics.png.

    Ctrl-C stops the run after the last completed step, writes what was computed and exits with 130.
    """
    err = Console(stderr=True, soft_wrap=True)
    try:
        spec = find_scenario(scenario)
    except (ValueError, TypeError) as exc:  # unknown, or a package publishes a bad entry point
        _fail(err, exc)
    try:
        params = runs.model_parameters(spec, _settings(spec, param or [], ctx.args, llm_share))
    except ValueError as exc:
        _fail(err, exc)
    config = runs.RunConfig(
        scenario=spec,
        params=params,
        steps=steps,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**32),
        backend=backend,
        temperature=temperature,
        cache=cache,
    )
    try:
        with nullcontext() if quiet else err.status(f"Loading backend {escape(backend)}"):
            chat_model = runs.resolve_run_backend(config)
    except BackendError as exc:
        _fail(err, exc)
    folder = out if out is not None else _default_folder(spec.name)
    with ExitStack() as stack:
        try:
            response_cache = stack.enter_context(runs.open_cache(config.cache))
        except (OSError, sqlite3.Error) as exc:
            _fail(err, f"Could not open the cache {str(cache)!r}: {exc}")
        try:
            model = runs.build_model(config, chat_model, response_cache)
        except ValueError as exc:
            _fail(err, exc)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(err, f"Could not create the output folder {str(folder)!r}: {exc}")
        if not quiet:
            err.print(_header(config, folder))
        with _progress(err, steps, quiet) as on_step:
            result = runs.run_steps(model, steps, on_step)
    runs.write_outputs(folder, config, result)
    if not quiet:
        _show_summary(Console(), spec, steps, result)
        err.print(f"Outputs in [bold]{escape(str(folder))}[/]")
    if result.interrupted:
        err.print(
            f"[yellow]Interrupted[/] after {result.steps_completed} of {steps} steps; "
            f"wrote the completed steps to {escape(str(folder))}."
        )
        raise typer.Exit(130)


@app.command()
def models() -> None:
    """List the installed scenarios and their parameters."""
    console = Console()
    try:
        available = scenarios()
    except TypeError as exc:
        _fail(Console(stderr=True), exc)
    if not available:
        console.print("No scenarios installed (entry point group 'mesa_llm.scenarios').")
    for spec in available.values():
        console.print(_parameter_table(spec))


@app.command()
def viz(
    scenario: Annotated[
        str, typer.Argument(help="The scenario whose dashboard to serve (see 'mesa-llm models').")
    ],
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on (0 picks a free one).")] = 8765,
) -> None:
    """Serve a scenario's Solara dashboard; open the printed address in a browser.

    The page's front-end assets are fetched from the npm registry once (into Solara's asset
    folder), after which the dashboard works offline.
    """
    err = Console(stderr=True)
    try:
        spec = find_scenario(scenario)
    except ValueError as exc:
        _fail(err, exc)
    app_file = _app_file(err, spec)
    try:
        from mesa_llm.viz import assets
    except ImportError as exc:
        _fail(
            err,
            f"The dashboard needs the viz extra ({exc.name} is missing): pip install 'mesa-llm-lab[viz]'.",
        )
    if assets.missing_assets():
        err.print("Fetching the dashboard's front-end assets from the npm registry (once)...")
        try:
            assets.fetch_assets()
        except RuntimeError as exc:
            err.print(f"[yellow]Warning:[/] {escape(str(exc))} The page will load them from Solara's CDN.")
    command = [sys.executable, "-m", "solara", "run", str(app_file), "--host", host, "--port", str(port)]
    err.print(f"Serving the {spec.name} dashboard; Ctrl-C stops it.")
    with subprocess.Popen([*command, "--production", "--no-open"]) as server:
        try:
            code = server.wait()
        except KeyboardInterrupt:  # a terminal's Ctrl-C reached the server too; a kill -INT did not
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.terminate()
            code = 0  # stopped as asked
    raise typer.Exit(code)


def _app_file(err: Console, spec: ScenarioSpec) -> Path:
    """The file of the scenario's dashboard module; exits with a message when it has none."""
    if spec.app is None:
        _fail(err, f"The scenario {spec.name} has no dashboard: its ScenarioSpec sets no app module.")
    try:
        found = importlib.util.find_spec(spec.app)
    except ModuleNotFoundError:  # its package is missing
        found = None
    if found is None or found.origin is None:
        _fail(
            err,
            f"The dashboard module {spec.app!r} of {spec.name} cannot be found; is its package installed?",
        )
    return Path(found.origin)


def _settings(
    spec: ScenarioSpec, params: list[str], extra: list[str], llm_share: float | None
) -> dict[str, str]:
    """The scenario settings of ``--param name=value``, ``--name value`` and ``--llm-share``.

    Raises:
        ValueError: for a malformed setting or one given twice.
    """
    pairs = [_split_param(text) for text in params]
    pairs += _named_settings(extra, spec.parameters())
    if llm_share is not None:
        pairs.append(("llm_share", str(llm_share)))
    settings: dict[str, str] = {}
    for name, value in pairs:
        key = name.replace("-", "_")
        if key in settings:
            raise ValueError(f"The parameter {key} is given twice.")
        settings[key] = value
    return settings


def _split_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--param takes name=value, got {text!r}.")
    return name, value


def _named_settings(args: list[str], known: Mapping[str, Parameter]) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of ``--name value`` and ``--name=value`` arguments.

    A boolean parameter given without a value (``--torus``) is true.

    Raises:
        ValueError: for an argument that is not an option, or an option without a value.
    """
    pairs = []
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise ValueError(
                f"Unexpected argument {token!r}: set scenario parameters as --name value "
                "or --param name=value."
            )
        name, sep, value = token[2:].partition("=")
        if not sep:
            following = args[i + 1] if i + 1 < len(args) else None
            if following is not None and not following.startswith("--"):
                value = following
                i += 1
            elif getattr(known.get(name.replace("-", "_")), "kind", None) is bool:
                value = "true"
            else:
                raise ValueError(f"The option --{name} needs a value.")
        pairs.append((name, value))
        i += 1
    return pairs


def _fail(console: Console, error: Exception | str) -> NoReturn:
    """Print an error in red and exit with code 2."""
    console.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
    raise typer.Exit(2)


def _default_folder(scenario: str) -> Path:
    """``runs/<scenario>-<timestamp>``, with a suffix if that folder exists."""
    base = Path("runs") / f"{scenario}-{datetime.now():%Y%m%d-%H%M%S}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def _header(config: runs.RunConfig, folder: Path) -> str:
    backend = config.backend if runs.needs_backend(config.params) else "none (no LLM agents)"
    header = (
        f"Running [bold]{config.scenario.name}[/] for {config.steps} steps: seed {config.seed}, "
        f"llm_share {config.params.get('llm_share')}, backend {escape(backend)} -> {escape(str(folder))}"
    )
    if backend == "local":
        header += (
            "\n[dim]The embedded model (SmolLM2-135M) proves the pipeline end to end but barely "
            "reacts to prompts; for experiments pass --backend provider:model (docs/backends.md).[/]"
        )
    return header


@contextmanager
def _progress(console: Console, steps: int, quiet: bool) -> Iterator[Callable[[Model, int], None] | None]:
    """A step callback that shows the run's progress on ``console`` (None when quiet).

    On a terminal it drives a live rich bar; elsewhere (logs, pipes) it prints a line
    every few seconds and one at the end.
    """
    if quiet:
        yield None
    elif console.is_terminal:
        with Progress(
            TextColumn("step"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[llm]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("run", total=steps, llm=_llm_progress(None))
            yield lambda model, completed: progress.update(
                task, completed=completed, llm=_llm_progress(model)
            )
    else:
        lines = _ProgressLines(console, steps)
        yield lines
        lines.finish()


class _ProgressLines:
    """Progress as plain lines, for logs and pipes: one every few seconds and one at the end."""

    def __init__(self, console: Console, steps: int) -> None:
        self.console = console
        self.steps = steps
        self.started = self.printed = time.monotonic()
        self.model: Model | None = None
        self.completed = 0

    def __call__(self, model: Model, completed: int) -> None:
        self.model, self.completed = model, completed
        if time.monotonic() - self.printed >= _PROGRESS_LINE_EVERY_S:
            elapsed = time.monotonic() - self.started
            remaining = elapsed / completed * (self.steps - completed)
            self._print(f"{elapsed:.1f} s elapsed, about {remaining:.0f} s to go")

    def finish(self) -> None:
        """Print the last state."""
        if self.completed:
            self._print(f"{time.monotonic() - self.started:.1f} s")

    def _print(self, timing: str) -> None:
        self.printed = time.monotonic()
        progress = f"step {self.completed}/{self.steps} · {_llm_progress(self.model)} · {timing}"
        self.console.print(progress, highlight=False)


def _llm_progress(model: Model | None) -> str:
    if model is None:
        return "LLM calls 0 · cache hits 0 · tokens 0 · fallbacks 0"
    totals = model.llm.log.totals
    return (
        f"LLM calls {totals.calls:,} · cache hits {totals.cache_hits:,} · "
        f"tokens {totals.tokens_in + totals.tokens_out:,} · fallbacks {totals.fallbacks:,}"
    )


def _show_summary(console: Console, spec: ScenarioSpec, steps: int, result: runs.RunResult) -> None:
    """Tables of the final metrics by population and of the LLM totals."""
    metrics = Table(title=f"{spec.name} after {result.steps_completed} of {steps} steps")
    metrics.add_column("metric")
    for population in ("all", "rule", "llm"):
        metrics.add_column(population, justify="right")
    for metric, values in runs.final_metrics(result.model_frame, spec.metrics).items():
        metrics.add_row(metric, *(_format(values.get(p)) for p in ("all", "rule", "llm")))
    totals = runs.llm_totals(result.log)
    calls = Table(title="LLM decisions")
    calls.add_column("count")
    calls.add_column("value", justify="right")
    latency = totals.pop("mean_latency_s")
    del totals["latency_s"]  # the sum over calls; the mean is shown
    for name, value in totals.items():
        calls.add_row(name.replace("_", " "), f"{value:,}")
    calls.add_row("mean latency", f"{latency * 1000:.1f} ms")
    console.print(metrics)
    console.print(calls)


def _format(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.3f}"


def _parameter_table(spec: ScenarioSpec) -> Table:
    table = Table(
        title=f"[bold]{spec.name}[/]: {escape(spec.summary)}",
        caption=f"metrics: {', '.join(spec.metrics)}",
        title_justify="left",
    )
    table.add_column("option", style="bold", no_wrap=True)
    table.add_column("type")
    table.add_column("default", justify="right")
    table.add_column("description")
    for parameter in spec.parameters().values():
        table.add_row(
            f"--{parameter.name.replace('_', '-')}",
            parameter.kind.__name__,
            escape(repr(parameter.default)),
            escape(parameter.description.replace("``", "")),
        )
    return table
