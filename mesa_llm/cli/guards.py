"""What keeps ``mesa-llm run`` from losing work and from hiding a failed backend.

The output folder is checked before anything runs, SIGTERM is taken as Ctrl-C, and LLM
decisions that fell back give a warning and, as asked, exit code 3.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from mesa_llm.cli.display import fail
from mesa_llm.lab import RUN_CACHE, RUN_FILE
from mesa_llm.records import CallLog

__all__ = [
    "FallbackPolicy",
    "deferred_interrupts",
    "discard_folder",
    "fallback_exit",
    "new_folder",
    "sigterm_interrupts",
]

# The exit code of a run whose LLM decisions fell back (see FallbackPolicy).
_FALLBACK_EXIT = 3
# The name of the file written and removed to check that a folder can be written.
_PROBE = ".mesa-llm-write-probe"


class FallbackPolicy(StrEnum):
    """When LLM decisions that fell back make the run exit with code 3 (after writing its outputs)."""

    ALL = "all"
    """When every LLM decision of a run that made some fell back (the backend never answered)."""
    ANY = "any"
    """When any LLM decision fell back."""
    NEVER = "never"
    """Never: fallbacks are only counted and warned about."""


def new_folder(err: Console, folder: Path) -> list[Path]:
    """Create the output folder and check that it can be written, before anything runs.

    Returns:
        the folders it created, deepest first (for :func:`discard_folder`).

    Raises:
        typer.Exit: with code 2 for a folder that holds a run already, or that cannot be
            created or written (a path under a file, a read-only folder, a full disk).
    """
    if (folder / RUN_FILE).exists():
        fail(
            err,
            f"{folder} already holds a run ({RUN_FILE}): continue it with --resume {folder}, "
            "or choose another --out folder.",
        )
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / _PROBE
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as exc:
        discard_folder(created)
        fail(err, f"Cannot write the output folder {str(folder)!r}: {exc}. Choose another --out folder.")
    return created


def discard_folder(created: list[Path]) -> None:
    """Remove the folders :func:`new_folder` created, for a run that never started.

    The response cache the run opened in its folder goes with them; a folder holding
    anything else is kept.
    """
    try:
        if created and created[0].is_dir():
            for name in (RUN_CACHE, f"{RUN_CACHE}-wal", f"{RUN_CACHE}-shm"):
                (created[0] / name).unlink(missing_ok=True)
        for path in created:
            if path.is_dir():
                path.rmdir()
    except OSError:  # not empty, or not ours to remove after all
        return


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While it lasts, SIGTERM stops the run as Ctrl-C does (a KeyboardInterrupt in the main thread).

    The previous handler is restored afterwards. Off the main thread, where no handler can
    be installed, it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """While it lasts, Ctrl-C and SIGTERM wait: they interrupt (KeyboardInterrupt) once it ends.

    For the final writing of a run's folder, which takes a moment: an interrupt landing
    inside it (inside an import, say, where Python can only print and drop it) would
    otherwise be lost or leave its traceback on the screen. Every file is still written
    atomically. Off the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def defer(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, defer) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise KeyboardInterrupt


def fallback_exit(err: Console, log: CallLog, policy: FallbackPolicy) -> int:
    """Warn about fallen-back decisions (always) and say the exit code ``policy`` gives them (0 or 3).

    With ``all``, a run with LLM decisions that all fell back fails in red, with the last
    error; with ``any``, one with any fallback does.
    """
    totals = log.totals
    fallbacks, decisions = totals.fallbacks, totals.decisions
    if not fallbacks:
        return 0
    error = next((r.error for r in reversed(log.records) if r.error), None)
    last = f" Last error: {escape(error)}" if error else ""
    err.print(f"[yellow]Warning:[/] {fallbacks:,} of {decisions:,} LLM decisions fell back.{last}")
    everything = fallbacks == decisions
    if policy is FallbackPolicy.NEVER or (policy is FallbackPolicy.ALL and not everything):
        return 0
    which = f"All {decisions:,}" if everything else f"{fallbacks:,} of {decisions:,}"
    err.print(
        f"[bold red]Error:[/] {which} LLM decisions fell back: the backend gave no usable answer.{last} "
        "Check the backend, its address and key (exit code 3; --fail-on-fallback never accepts it)."
    )
    return _FALLBACK_EXIT
