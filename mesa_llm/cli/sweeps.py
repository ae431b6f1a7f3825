"""``mesa-llm sweep`` (run a sweep file, resumably, ending with its verdicts) and ``mesa-llm report``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mesa_llm.cli.display import fail
from mesa_llm.cli.guards import sigterm_interrupts
from mesa_llm.experiments import SweepFolderError, SweepProgress, SweepResult, dask_executor, load_sweep
from mesa_llm.experiments.files import load_sweep_file
from mesa_llm.lab import RUN_CACHE

__all__ = ["report", "sweep"]

# The exit code of a sweep some of whose runs failed (a rerun retries them).
_FAILED_EXIT = 3
_PAIRED_HELP = (
    "Compare the levels within seeds (a seed gives every condition the same world): Friedman / "
    "Wilcoxon signed-rank tests and paired TOST instead of Kruskal-Wallis and Welch's TOST."
)


def sweep(
    file: Annotated[Path, typer.Argument(help="The sweep file (TOML; see docs/experiments.md).")],
    workers: Annotated[int, typer.Option(min=1, help="Local worker processes (1 runs in this process).")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(help="The sweep's folder; rerunning into it resumes.", show_default="runs/<file name>"),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="SQLite response cache.", show_default=f"<out>/{RUN_CACHE}")
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run on the Dask scheduler at ADDRESS (tcp://host:8786).",
            show_default=False,
        ),
    ] = None,
    dask_local: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Run on a local Dask cluster of N worker processes.", show_default=False
        ),
    ] = None,
    recycle_after: Annotated[
        int, typer.Option(min=1, help="Replace a local worker process after this many runs.")
    ] = 50,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no verdict table.")
    ] = False,
    paired: Annotated[bool, typer.Option("--paired", help=_PAIRED_HELP)] = False,
) -> None:
    """Run a sweep: a scenario across backends, framings, parameters and seeds, then its verdicts.

    Each run is written to the folder as it finishes; rerunning the same sweep into the
    folder runs only the missing and the failed runs. The report (report.md and its
    plots) is written there at the end; 'mesa-llm report FOLDER' renders it again.

    Exit codes: 0 done; 2 an error, named (bad input is refused before any run); 3 some
    runs failed (recorded in summary.csv; a rerun retries them); 130 interrupted (the
    finished runs are kept).
    """
    err = Console(stderr=True, soft_wrap=True)
    if dask is not None and dask_local is not None:
        fail(err, "Give one of --dask ADDRESS and --dask-local N.")
    try:
        design = load_sweep_file(file)
    except ValueError as exc:
        fail(err, exc)
    folder = out if out is not None else Path("runs") / file.stem
    cache = cache if cache is not None else folder / RUN_CACHE
    if not quiet:
        err.print(
            f"Sweeping [bold]{escape(design.spec.name)}[/]: {len(design)} runs "
            f"({len(design) // len(design.seeds)} conditions x {len(design.seeds)} seeds, "
            f"{design.steps} steps) -> {escape(str(folder))}"
        )
    with ExitStack() as stack:
        stack.enter_context(sigterm_interrupts())
        executor = None
        try:
            if dask is not None or dask_local is not None:
                executor = stack.enter_context(dask_executor(dask, dask_local or 2))
        except ImportError as exc:
            fail(err, exc)
        except OSError as exc:
            fail(err, f"Could not reach the Dask scheduler {dask!r}: {exc}")
        show = stack.enter_context(_progress(err, quiet))
        try:
            result = design.run(
                workers=workers,
                executor=executor,
                cache=cache,
                out=folder,
                on_progress=show,
                recycle_after=recycle_after,
            )
        except (SweepFolderError, ValueError) as exc:
            fail(err, exc)
    _finish(err, result, quiet, paired)


def report(
    folder: Annotated[Path, typer.Argument(help="A sweep's folder (the --out of 'mesa-llm sweep').")],
    margin: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METRIC=DELTA", help="An equivalence margin replacing the scenario's (repeatable)."
        ),
    ] = None,
    paired: Annotated[bool, typer.Option("--paired", help=_PAIRED_HELP)] = False,
) -> None:
    """Render a sweep's robustness report again from its saved results (report.md and plots)."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        result = load_sweep(folder)
        margins = _margins(margin or [])
    except ValueError as exc:
        fail(err, exc)
    if result.interrupted:
        err.print(
            f"[yellow]The sweep in {escape(str(folder))} is not complete:[/] reporting the runs written."
        )
    _write_report(err, result, margins, quiet=False, paired=paired)


def _finish(err: Console, result: SweepResult, quiet: bool, paired: bool) -> None:
    """Write the report, show the verdicts and exit with the sweep's code."""
    if result.interrupted:
        done = int((result.summary["status"] == "ok").sum()) if len(result.summary) else 0
        err.print(
            f"[yellow]Interrupted[/]: {done} runs are kept in {escape(str(result.folder))}; "
            "run the same command again to resume."
        )
        raise typer.Exit(130)
    if result.outcomes:
        _write_report(err, result, None, quiet, paired)
    failed = result.failures
    if not failed.empty:
        err.print(
            f"[bold red]{len(failed)} runs failed[/] (their errors are in summary.csv); running the same "
            "command again retries them. First error: " + escape(str(failed["error"].iloc[0]).splitlines()[0])
        )
        raise typer.Exit(_FAILED_EXIT)
    if not quiet:
        err.print(f"Outputs in [bold]{escape(str(result.folder))}[/]")


def _write_report(
    err: Console, result: SweepResult, margins: dict[str, float] | None, quiet: bool, paired: bool
) -> None:
    verdicts = result.robustness(margins=margins, paired=paired)
    written = verdicts.write(result.folder)
    if not quiet:
        Console().print(_verdict_table(verdicts))
        err.print(f"Report: [bold]{escape(str(written[0]))}[/]")


def _verdict_table(verdicts) -> Table:
    table = Table(title="Robustness", title_justify="left")
    table.add_column("metric")
    table.add_column("verdict")
    table.add_column("factors")
    by_metric = verdicts.factors.groupby("metric", sort=False)
    for row in verdicts.overall.itertuples():
        factors = by_metric.get_group(row.metric) if row.metric in by_metric.groups else None
        texts = "; ".join(factors["text"]) if factors is not None else ""
        table.add_row(row.metric, row.verdict, texts)
    return table


def _margins(items: list[str]) -> dict[str, float]:
    margins = {}
    for item in items:
        name, equals, value = item.partition("=")
        try:
            margins[name.strip()] = float(value)
        except ValueError:
            raise ValueError(
                f"--margin takes METRIC=DELTA, such as segregation=0.05, got {item!r}."
            ) from None
        if not equals or not name.strip():
            raise ValueError(f"--margin takes METRIC=DELTA, such as segregation=0.05, got {item!r}.")
    return margins


@contextmanager
def _progress(err: Console, quiet: bool) -> Iterator[Callable[[SweepProgress], None] | None]:
    """A progress callback over runs: done/total, failures, calls, cache hits, elapsed and remaining."""
    if quiet:
        yield None
        return
    bar = Progress(
        TextColumn("runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[line]}"),
        TimeElapsedColumn(),
        TextColumn("remaining ~{task.fields[remaining]}"),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    task = bar.add_task("runs", total=None, line="", remaining="?")

    def show(progress: SweepProgress) -> None:
        finished = progress.skipped + progress.done
        line = f"{progress.failed} failed, {progress.calls} calls, {progress.cache_hits} cache hits"
        if progress.skipped:
            line += f", {progress.skipped} done before"
        remaining = "?"
        if progress.done:
            remaining = f"{progress.elapsed_s / progress.done * progress.remaining:.0f} s"
        bar.update(task, total=progress.total, completed=finished, line=line, remaining=remaining)
        if not err.is_terminal and (progress.remaining == 0 or progress.done % 10 == 0):
            err.print(f"runs {finished}/{progress.total}: {line}, {progress.elapsed_s:.0f} s")

    with bar:
        yield show
