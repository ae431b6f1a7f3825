"""The ``mesa-llm`` command: run a scenario, list the scenarios, serve a dashboard.

The work is done by the application layer (:mod:`mesa_llm.lab`); this package parses the
command line (typer) and shows progress, summaries and errors (rich). Each command is a
plain function of its own module, registered here:

- ``mesa-llm run`` (:mod:`mesa_llm.cli.runs`, its help with the scenario's parameters
  :mod:`mesa_llm.cli.help`);
- ``mesa-llm models`` and ``mesa-llm viz`` (:mod:`mesa_llm.cli.scenarios`);
- ``mesa-llm sweep`` and ``mesa-llm report`` (:mod:`mesa_llm.cli.sweeps`);
- ``mesa-llm probe`` (:mod:`mesa_llm.cli.probe`).

Before anything else the command checks that no other package installs ``mesa_llm``
beside this one (:mod:`mesa_llm.cli.clash`).
"""

import sys
import warnings

import typer
from rich.console import Console
from rich.markup import escape

from mesa_llm.cli.backends import backends
from mesa_llm.cli.clash import name_clash
from mesa_llm.cli.help import RunCommand
from mesa_llm.cli.probe import PROBE_EPILOG, probe
from mesa_llm.cli.runs import RUN_EPILOG, run
from mesa_llm.cli.scenarios import models, viz
from mesa_llm.cli.sweeps import report, sweep
from mesa_llm.runtime import ArgmaxWarning

__all__ = ["app", "main"]

app = typer.Typer(
    name="mesa-llm",
    help="Run Mesa models whose agents decide with a language model, side by side with rule agents.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command(
    cls=RunCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=RUN_EPILOG,
)(run)
app.command()(models)
app.command()(viz)
app.command()(backends)
app.command()(sweep)
app.command()(report)
app.command(
    cls=RunCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=PROBE_EPILOG,
)(probe)


def main() -> None:
    """Entry point of the ``mesa-llm`` console script; exits with 2 where another package has ``mesa_llm``."""
    clash = name_clash()
    if clash is not None:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]Error:[/] {escape(clash)}")
        sys.exit(2)
    # The command states the temperature (--temperature, its help, run.json): no warning that
    # the embedded model at its default 0 takes the most probable option.
    warnings.filterwarnings("ignore", category=ArgmaxWarning)
    app()
