"""``mesa-llm probe``: the rule a scenario's LLM agents imply, its fit and verdict, and its round trip.

The work is done by :mod:`mesa_llm.calibration`: :func:`~mesa_llm.calibration.probe_scenario`
asks the scenario's LLM agents about its probe's grid of observations and fits the
answers; :func:`~mesa_llm.calibration.round_trip` runs the rule agents the fit implies
against the LLM population. This module parses the command line and shows the fit, its
verdict and the round trip's verdicts.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mesa_llm.backends import DEFAULT_BACKEND
from mesa_llm.calibration import Probe, ProbeResult, RoundTrip, find_probe, probe_scenario, round_trip
from mesa_llm.cli.display import fail
from mesa_llm.cli.guards import discard_folder, new_folder, sigterm_interrupts
from mesa_llm.cli.runs import default_folder
from mesa_llm.cli.settings import scenario_settings
from mesa_llm.lab import RUN_CACHE, ScenarioSpec, find_scenario, model_parameters, open_cache, scenarios

__all__ = ["PROBE_EPILOG", "probe"]

PROBE_EPILOG = (
    "Set any scenario parameter as --name value (or --param name=value), as for 'mesa-llm run'; "
    "'mesa-llm probe SCENARIO --help' lists them. Example: mesa-llm probe schelling --backend rule "
    "--homophily 0.3 --round-trip --seeds 4 --steps 10 --out runs/probe-demo"
)

# The options of the round trip, refused without --round-trip.
_ROUND_TRIP_OPTIONS = ("seeds", "steps", "workers")
# The sub-folder of the output folder that holds the round trip's sweeps.
_ROUND_TRIP_FOLDER = "roundtrip"


def probe(
    ctx: typer.Context,
    scenario: Annotated[
        str,
        typer.Argument(
            help="The scenario to probe: an installed one (see 'mesa-llm models'), or your own ScenarioSpec "
            "as path/to/file.py:SPEC or package.module:SPEC.",
            show_default=False,
        ),
    ],
    probe_name: Annotated[
        str | None,
        typer.Option(
            "--probe", metavar="NAME", help="The scenario's probe to run.", show_default="its first"
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            help="'local' (embedded model; settings after commas), 'rule' (a chat model answering like the "
            "rule agents) or a LangChain 'provider:model' string such as 'openai:gpt-4o-mini'."
        ),
    ] = DEFAULT_BACKEND,
    samples: Annotated[
        int,
        typer.Option(
            min=1, help="Answers per point where the backend does not score the options (they are counted)."
        ),
    ] = 20,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="Sampling temperature of those answers (not of 'rule').", show_default="the backend's"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="The probed model's rng seed.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A scenario parameter (repeatable)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="SQLite response cache: a second identical probe with it makes no call.",
            show_default=f"<out>/{RUN_CACHE}",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder.", show_default="runs/<scenario>-<probe>-<time>"),
    ] = None,
    with_round_trip: Annotated[
        bool,
        typer.Option(
            "--round-trip",
            help="Then run the rule agents the fit implies against the LLM population on the same seeds.",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds of the round trip (0 to N - 1).")] = 10,
    steps: Annotated[int, typer.Option(min=1, help="Steps of each run of the round trip.")] = 50,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes of the round trip's runs.")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no tables.")] = False,
) -> None:
    """Probe the rule a scenario's LLM agents follow: P(action | observation) over its grid, fitted.

    Each point of the probe's grid is one of the scenario's own observations, asked of one
    of its LLM agents (its prompt, framing and persona), so every probed prompt is one an
    agent of the model sees. The folder gets probe.csv (P(action) with its interval at
    every point), fit.json (the fit, its verdict and what the probe cost: calls, cache
    hits, fallbacks) and probe.png. With --round-trip, also roundtrip.json (the verdict of
    each rule population), roundtrip.csv (the differences) and roundtrip_runs.csv, with
    the runs' sweeps in roundtrip/. Rerunning into the same folder replays the answers
    from its cache.

    Exit codes: 0 done; 2 an error, named in its message (bad input is refused before
    anything runs); 130 interrupted.
    """
    err = Console(stderr=True, soft_wrap=True)
    _check_round_trip_options(err, ctx, with_round_trip)
    spec, chosen, settings = _request(err, ctx, scenario, probe_name, param or [])
    folder = out if out is not None else default_folder(f"{spec.name}-{chosen.name}")
    cache = cache if cache is not None else folder / RUN_CACHE
    created = new_folder(err, folder)
    with sigterm_interrupts():
        try:
            result = _probe(err, spec, chosen, settings, backend, samples, temperature, seed, cache, quiet)
        except BaseException:
            discard_folder(created)  # nothing was written but the cache of a probe that never ran
            raise
        written = _write(err, result, folder)
        if not quiet:
            _show_probe(Console(), result)
        if with_round_trip:
            trip = _round_trip(err, result, seeds, steps, workers, cache, folder, quiet)
            written += _write(err, trip, folder)
            if not quiet:
                _show_round_trip(Console(), trip, seeds, steps)
    if not quiet:
        err.print(f"Outputs in [bold]{escape(str(folder))}[/]: {', '.join(path.name for path in written)}")


def _check_round_trip_options(err: Console, ctx: typer.Context, with_round_trip: bool) -> None:
    """Exit with 2 where options of the round trip are given without ``--round-trip``."""
    given = [  # typer has its own copy of click's ParameterSource: compared by name
        f"--{name}" for name in _ROUND_TRIP_OPTIONS if ctx.get_parameter_source(name).name != "DEFAULT"
    ]
    if given and not with_round_trip:
        fail(err, f"{', '.join(given)} set the round trip: add --round-trip, or leave them out.")


def _request(
    err: Console, ctx: typer.Context, scenario: str, probe_name: str | None, params: list[str]
) -> tuple[ScenarioSpec, Probe, dict[str, Any]]:
    """The scenario, its probe and the user's settings, checked; exits with 2 for bad ones."""
    try:
        spec = find_scenario(scenario)
    except (ValueError, TypeError) as exc:  # unknown, or a package publishes a bad entry point
        fail(err, exc)
    try:
        chosen = find_probe(spec, probe_name)
    except ValueError as exc:
        if spec.probes:
            fail(err, f"{exc} Name one with --probe, or leave --probe out for the first.")
        probed = [name for name, other in scenarios().items() if other.probes]
        fail(err, f"{exc} Installed scenarios with probes: {', '.join(probed) or 'none'}.")
    try:
        settings = spec.convert(scenario_settings(spec, params, ctx.args, llm_share=None))
        complete = model_parameters(spec, {**chosen.parameters, **settings})
        if spec.check is not None:  # a bad combination is refused here, before any call
            spec.check(complete)
    except (ValueError, TypeError) as exc:
        fail(err, exc)
    return spec, chosen, settings


def _probe(
    err: Console,
    spec: ScenarioSpec,
    chosen: Probe,
    settings: Mapping[str, Any],
    backend: str,
    samples: int,
    temperature: float | None,
    seed: int,
    cache: Path,
    quiet: bool,
) -> ProbeResult:
    """Run the probe with its cache, showing a spinner; exits with 2 for a failure, 130 for Ctrl-C."""
    started = time.perf_counter()
    try:
        with open_cache(cache) as response_cache:
            text = f"Probing [bold]{spec.name}[/] ({chosen.name} probe, backend {escape(backend)})"
            with nullcontext() if quiet else err.status(text):
                result = probe_scenario(
                    spec,
                    chosen.name,
                    backend=backend,
                    parameters=settings,
                    samples=samples,
                    temperature=temperature,
                    cache=response_cache,
                    seed=seed,
                )
    except KeyboardInterrupt:
        err.print("[yellow]Interrupted[/] while probing; nothing was written.")
        raise typer.Exit(130) from None
    except (OSError, sqlite3.Error) as exc:
        fail(err, f"Could not open the cache {str(cache)!r}: {exc}")
    except (ValueError, TypeError) as exc:  # bad parameters, a BackendError, a fit that failed
        fail(err, exc)
    run = result.run
    if not quiet:
        err.print(
            f"Probed {result.table['point'].nunique()} points in {time.perf_counter() - started:.1f} s: "
            f"{run.calls} backend calls, {run.cache_hits} cache hits, {run.fallbacks} fallbacks"
        )
    if run.fallbacks:
        err.print(
            f"[yellow]Warning:[/] {run.fallbacks} of {len(run.records)} answers fell back (no valid answer "
            "after the retries); the estimates leave them out (see the 'fallbacks' column of probe.csv)."
        )
    return result


def _round_trip(
    err: Console,
    result: ProbeResult,
    seeds: int,
    steps: int,
    workers: int,
    cache: Path,
    folder: Path,
    quiet: bool,
) -> RoundTrip:
    """Run the round trip into ``folder``/roundtrip; exits with 2 for a failure, 130 for Ctrl-C."""
    text = f"Round trip: the LLM population and the implied rules, {seeds} seeds x {steps} steps"
    try:
        with nullcontext() if quiet else err.status(text):
            return round_trip(
                result,
                seeds=range(seeds),
                steps=steps,
                workers=workers,
                cache=cache,
                out=folder / _ROUND_TRIP_FOLDER,
            )
    except KeyboardInterrupt:
        err.print(
            f"[yellow]Interrupted[/] during the round trip; the probe is written to {escape(str(folder))}, "
            "and the same command resumes the round trip's runs."
        )
        raise typer.Exit(130) from None
    except (ValueError, TypeError) as exc:  # no rules implied, a folder of another sweep, ...
        fail(err, f"The round trip cannot run: {exc}")


def _write(err: Console, outputs: ProbeResult | RoundTrip, folder: Path) -> list[Path]:
    """Write a probe's or a round trip's files into ``folder``; exits with 2 where they cannot be written."""
    try:
        return list(outputs.write(folder).values())
    except OSError as exc:
        fail(err, f"Could not write into the output folder {str(folder)!r}: {exc}")


def _show_probe(console: Console, result: ProbeResult) -> None:
    """The fit's values as a table, then its verdict."""
    table = Table(
        title=f"[bold]{escape(result.scenario.name)}[/]: the {escape(result.probe.name)} probe, "
        f"backend {escape(result.backend)}",
        caption="the complete fit is in fit.json",
        title_justify="left",
    )
    table.add_column("fit")
    table.add_column("value", overflow="fold")
    for name, value in result.fit.to_dict().items():
        shown = _value_text(value)
        if shown is not None:
            table.add_row(name, escape(shown))
    console.print(table)
    console.print(f"[bold]Verdict:[/] {escape(result.describe())}", soft_wrap=True)


def _show_round_trip(console: Console, trip: RoundTrip, seeds: int, steps: int) -> None:
    console.print(f"[bold]Round trip[/] ({seeds} seeds, {steps} steps):", soft_wrap=True)
    for line in trip.describe().splitlines():
        console.print(f"  {escape(line)}", soft_wrap=True, highlight=False)


def _value_text(value: Any) -> str | None:
    """A fit's value as text: a number, a word, an interval or a mapping of them.

    None leaves it out: an undefined value (None in the fit's JSON), or a nested one.
    """
    if isinstance(value, Mapping):
        plain = all(map(_is_scalar, value.values())) and any(v is not None for v in value.values())
        return ", ".join(f"{k}: {_scalar_text(v)}" for k, v in value.items()) if plain else None
    if isinstance(value, list | tuple):
        plain = all(map(_is_scalar, value)) and any(v is not None for v in value)
        return f"[{', '.join(map(_scalar_text, value))}]" if plain else None
    return None if value is None else _scalar_text(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
