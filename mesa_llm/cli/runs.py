"""``mesa-llm run``: run a scenario, show its progress and summary, write its outputs."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping
from contextlib import ExitStack, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from mesa_llm.backends import DEFAULT_BACKEND
from mesa_llm.cli.display import fail, show_summary, step_progress
from mesa_llm.lab import (
    Parameter,
    Run,
    RunConfig,
    ScenarioSpec,
    find_scenario,
    model_parameters,
    open_cache,
    write_outputs,
)

__all__ = ["RUN_EPILOG", "run"]

RUN_EPILOG = (
    "Set any scenario parameter as --name value (or --name=value) or --param name=value; "
    "'mesa-llm models' lists them. Example: mesa-llm run schelling --llm-share 0.5 --homophily 0.3 "
    "--steps 30 --seed 1 --backend rule --out runs/demo"
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
    ] = DEFAULT_BACKEND,
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
        fail(err, exc)
    try:
        params = model_parameters(spec, _settings(spec, param or [], ctx.args, llm_share))
    except ValueError as exc:
        fail(err, exc)
    config = RunConfig(
        scenario=spec,
        params=params,
        steps=steps,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**32),
        backend=backend,
        temperature=temperature,
        cache=cache,
    )
    folder = out if out is not None else _default_folder(spec.name)
    with ExitStack() as stack:
        try:
            response_cache = stack.enter_context(open_cache(config.cache))
        except (OSError, sqlite3.Error) as exc:
            fail(err, f"Could not open the cache {str(cache)!r}: {exc}")
        try:  # the backend is created with the first LLM agent: a bad one fails here, at once
            with nullcontext() if quiet else err.status(f"Building the model (backend {escape(backend)})"):
                built = Run.build(config, response_cache)
        except ValueError as exc:  # bad parameters, or a BackendError
            fail(err, exc)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(err, f"Could not create the output folder {str(folder)!r}: {exc}")
        if not quiet:
            err.print(_header(built, folder))
        with step_progress(err, steps, quiet) as on_step:
            result = built.advance(steps, on_step)
    write_outputs(folder, config, result)
    if not quiet:
        show_summary(Console(), spec, steps, result)
        err.print(f"Outputs in [bold]{escape(str(folder))}[/]")
    if result.interrupted:
        err.print(
            f"[yellow]Interrupted[/] after {result.steps_completed} of {steps} steps; "
            f"wrote the completed steps to {escape(str(folder))}."
        )
        raise typer.Exit(130)


def _settings(
    spec: ScenarioSpec, params: list[str], extra: list[str], llm_share: float | None
) -> dict[str, Any]:
    """The scenario settings of ``--param name=value`` and ``--name value`` (text) and ``--llm-share``.

    Raises:
        ValueError: for a malformed setting or one given twice.
    """
    pairs: list[tuple[str, Any]] = [_split_param(text) for text in params]
    pairs += _named_settings(extra, spec.parameters())
    if llm_share is not None:
        pairs.append(("llm_share", llm_share))  # typed by typer already
    settings: dict[str, Any] = {}
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


def _default_folder(scenario: str) -> Path:
    """``runs/<scenario>-<timestamp>``, with a suffix if that folder exists."""
    base = Path("runs") / f"{scenario}-{datetime.now():%Y%m%d-%H%M%S}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def _header(built: Run, folder: Path) -> str:
    config = built.config
    asked = built.backend.chat_model is not None
    backend = config.backend if asked else "none (no LLM agents)"
    header = (
        f"Running [bold]{config.scenario.name}[/] for {config.steps} steps: seed {config.seed}, "
        f"llm_share {config.params.get('llm_share')}, backend {escape(backend)} -> {escape(str(folder))}"
    )
    if asked and config.backend == DEFAULT_BACKEND:
        header += (
            "\n[dim]The embedded model (SmolLM2-135M) proves the pipeline end to end but barely "
            "reacts to prompts; for experiments pass --backend provider:model (docs/backends.md).[/]"
        )
    return header
