"""The help of ``mesa-llm run SCENARIO``: the command's options, then the parameters of the scenario named."""

from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from mesa_llm.cli.display import parameter_table
from mesa_llm.lab import find_scenario

__all__ = ["RunCommand"]

# Where parse_args leaves the scenario named on the command line, for the help.
_SCENARIO = "mesa_llm.scenario"


class RunCommand(TyperCommand):
    """``mesa-llm run``, whose ``--help`` also lists the parameters of the scenario it names.

    ``mesa-llm run schelling --help`` shows the options of every run, then the
    scenario's own (``--homophily``, ...), with their types, defaults and descriptions.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Note the scenario argument, then parse as usual (``--help`` stops there, eagerly)."""
        try:
            named = self.make_parser(ctx).parse_args(args=list(args))[0].get("scenario")
        except click.UsageError:  # parsing proper reports it
            named = None
        ctx.meta[_SCENARIO] = named if isinstance(named, str) else None
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command's help, then the parameter table of the scenario named, if one is."""
        super().format_help(ctx, formatter)
        named = ctx.meta.get(_SCENARIO)
        if named is None:
            return
        console = Console()
        try:
            spec = find_scenario(named)
        except (ValueError, TypeError) as exc:
            console.print(f"[bold red]No parameters to show:[/] {escape(str(exc))}", soft_wrap=True)
            return
        console.print(parameter_table(spec))
