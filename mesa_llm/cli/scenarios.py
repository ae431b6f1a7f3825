"""``mesa-llm models`` and ``mesa-llm viz``: list the installed scenarios, serve a scenario's dashboard."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mesa_llm.cli.display import fail, parameter_table
from mesa_llm.lab import ScenarioSpec, find_scenario, scenarios

__all__ = ["models", "viz"]


def models(
    scenario: Annotated[
        str | None,
        typer.Argument(
            help="Show only this scenario: an installed one, or your own as path/to/file.py:SPEC or "
            "package.module:SPEC.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the installed scenarios and their parameters, or those of one scenario."""
    console = Console()
    try:
        available = scenarios() if scenario is None else {scenario: find_scenario(scenario)}
    except (ValueError, TypeError) as exc:
        fail(Console(stderr=True), exc)
    if not available:
        console.print("No scenarios installed (entry point group 'mesa_llm.scenarios').")
    for spec in available.values():
        console.print(parameter_table(spec))


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
        fail(err, exc)
    app_file = _app_file(err, spec)
    try:
        from mesa_llm.viz import assets
    except ImportError as exc:
        fail(
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
        raise typer.Exit(_serve(server))


class _TerminatedError(Exception):
    """SIGTERM reached the command (a ``kill``, a service manager stopping it)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _TerminatedError


def _serve(server: subprocess.Popen) -> int:
    """Wait for the dashboard's server; on Ctrl-C or SIGTERM, stop it the same way and return 0.

    The signal is forwarded to the server (a terminal's Ctrl-C reached it too, a ``kill``
    of this process did not), which is given 10 s to shut down before it is terminated.
    """
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return server.wait()
    except (KeyboardInterrupt, _TerminatedError) as stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop at a time
        server.send_signal(signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.terminate()
        return 0  # stopped as asked
    finally:
        signal.signal(signal.SIGTERM, previous)


def _app_file(err: Console, spec: ScenarioSpec) -> Path:
    """The file of the scenario's dashboard module; exits with a message when it has none."""
    if spec.app is None:
        fail(err, f"The scenario {spec.name} has no dashboard: its ScenarioSpec sets no app module.")
    try:
        found = importlib.util.find_spec(spec.app)
    except ModuleNotFoundError:  # its package is missing
        found = None
    if found is None or found.origin is None:
        fail(
            err,
            f"The dashboard module {spec.app!r} of {spec.name} cannot be found; is its package installed?",
        )
    return Path(found.origin)
