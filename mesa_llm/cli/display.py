"""What the ``mesa-llm`` command shows: errors, progress, summaries and parameter tables, with rich."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from mesa import Model
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mesa_llm.lab import RunResult, ScenarioSpec, final_metrics, llm_totals
from mesa_llm.lab.plots import populations_of
from mesa_llm.lab.progress import llm_progress
from mesa_llm.lab.progress import step_progress as bar
from mesa_llm.populations import ALL

__all__ = ["fail", "parameter_table", "show_summary", "step_progress"]

# Seconds between progress lines where stderr is not a terminal (logs, CI).
_PROGRESS_LINE_EVERY_S = 10.0


def fail(console: Console, error: Exception | str) -> NoReturn:
    """Print an error in red and exit with code 2."""
    console.print(f"[bold red]Error:[/] {escape(str(error))}", soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def step_progress(console: Console, steps: int, quiet: bool) -> Iterator[Callable[[Model, int], None] | None]:
    """A step callback that shows the run's progress on ``console`` (None when quiet).

    On a terminal it drives a live rich bar; elsewhere (logs, pipes) it prints a line
    every few seconds and one at the end.
    """
    if quiet:
        yield None
    elif console.is_terminal:
        with bar(steps, console) as advance:
            yield advance
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
        progress = f"step {self.completed}/{self.steps} · {llm_progress(self.model)} · {timing}"
        self.console.print(progress, highlight=False)


def show_summary(console: Console, spec: ScenarioSpec, steps: int, result: RunResult) -> None:
    """Tables of the final metrics by population and of the LLM totals."""
    metrics = Table(title=f"{spec.name} after {result.steps_completed} of {steps} steps")
    metrics.add_column("metric")
    groups = (ALL, *populations_of(result.model))  # no LLM column for a model without LLM agents
    for group in groups:
        metrics.add_column(group, justify="right")
    for metric, values in final_metrics(result.model_frame, spec.metrics).items():
        metrics.add_row(metric, *(_format(values.get(group)) for group in groups))
    totals = llm_totals(result.log)
    calls = Table(title="LLM decisions")
    calls.add_column("count")
    calls.add_column("value", justify="right")
    latency = totals.pop("mean_latency_s")
    del totals["latency_s"]  # the sum over calls; the mean is shown
    for name, value in totals.items():  # the words of the records: decisions, backend calls
        calls.add_row("backend calls" if name == "calls" else name.replace("_", " "), f"{value:,}")
    calls.add_row("mean latency", f"{latency * 1000:.1f} ms")
    console.print(metrics)
    console.print(calls)


def _format(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.3f}"


def parameter_table(spec: ScenarioSpec) -> Table:
    """A scenario's parameters as command-line options, with their types, defaults and descriptions."""
    table = Table(
        title=f"[bold]{escape(spec.reference)}[/]: {escape(spec.summary)}",
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
            escape(parameter.description),
        )
    return table
