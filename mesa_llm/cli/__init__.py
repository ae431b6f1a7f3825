"""The ``mesa-llm`` command: run a scenario, list the scenarios, serve a dashboard.

The work is done by the application layer (:mod:`mesa_llm.lab`); this package parses the
command line (typer) and shows progress, summaries and errors (rich). Each command is a
plain function of its own module, registered here:

- ``mesa-llm run`` (:mod:`mesa_llm.cli.runs`);
- ``mesa-llm models`` and ``mesa-llm viz`` (:mod:`mesa_llm.cli.scenarios`).
"""

import typer

from mesa_llm.cli.runs import RUN_EPILOG, run
from mesa_llm.cli.scenarios import models, viz

__all__ = ["app", "main"]

app = typer.Typer(
    name="mesa-llm",
    help="Run Mesa models whose agents decide with a language model, side by side with rule agents.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog=RUN_EPILOG,
)(run)
app.command()(models)
app.command()(viz)


def main() -> None:
    """Entry point of the ``mesa-llm`` console script."""
    app()
