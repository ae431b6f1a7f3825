"""Progress of a run in Python: ``run_for(model, steps)`` with a rich progress bar.

Mesa's ``model.run_for(steps)`` shows nothing while a slow language model decides;
:func:`run_for` steps the same model the same way and shows the steps done, the LLM
decisions and backend calls so far, the fallbacks, the elapsed and the remaining time.
The bar is drawn on a terminal only (by default), so logs, pipes and notebooks' captured
output stay clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mesa import Model

from mesa_llm.checks import check_bool, check_int
from mesa_llm.runtime import LLMRuntime

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["llm_progress", "run_for", "step_progress"]


def llm_progress(model: Model | None) -> str:
    """The LLM accounting of ``model`` so far, in one line (decisions, backend calls, cache, fallbacks).

    Reads the model's :class:`~mesa_llm.LLMRuntime` (the first attribute that is one);
    empty for a model without one.
    """
    runtime = _runtime(model)
    if runtime is None:
        return ""
    totals = runtime.log.totals
    return (
        f"LLM decisions {totals.decisions:,} · backend calls {totals.calls:,} · "
        f"cache hits {totals.cache_hits:,} · tokens {totals.tokens_in + totals.tokens_out:,} · "
        f"fallbacks {totals.fallbacks:,}"
    )


def _runtime(model: Model | None) -> LLMRuntime | None:
    if model is None:
        return None
    runtime = getattr(model, "llm", None)
    if isinstance(runtime, LLMRuntime):
        return runtime
    return next((value for value in vars(model).values() if isinstance(value, LLMRuntime)), None)


@contextmanager
def step_progress(steps: int, console: Console | None = None) -> Iterator[Callable[[Model, int], None]]:
    """A live rich bar over ``steps`` steps; yields the callback ``(model, completed)`` that advances it.

    Args:
        steps: the steps the bar counts to.
        console: where to draw it (standard error by default).
    """
    from rich.console import Console  # imported on use: the library's import does not need rich
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("step"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[llm]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
    ) as progress:
        task = progress.add_task("run", total=steps, llm="")

        def advance(model: Model, completed: int) -> None:
            progress.update(task, completed=completed, llm=llm_progress(model))

        yield advance


def run_for(model: Model, steps: int, *, progress: bool | None = None, console: Console | None = None) -> Any:
    """``model.run_for(steps)``, one step at a time, with a progress bar.

    The model is stepped exactly as Mesa's ``run_for`` steps it (``model.run_for(1)``
    ``steps`` times), so the trajectory is the same.

    Args:
        model: any Mesa model (its LLM accounting is shown if it holds an
            :class:`~mesa_llm.LLMRuntime`).
        steps: how many steps to run.
        progress: draw the bar; None (default) draws it only where the console is a
            terminal, so it is off in logs, pipes and CI.
        console: where to draw it (standard error by default).

    Returns:
        The model.

    Raises:
        TypeError: for ``steps`` that is not a whole number or ``progress`` that is not a
            flag or None.
        ValueError: for negative ``steps``.
    """
    from rich.console import Console  # imported on use: the library's import does not need rich

    check_int("steps", steps, minimum=0)
    console = console or Console(stderr=True)
    if progress is None:
        progress = console.is_terminal
    if not check_bool("progress", progress):
        model.run_for(steps)
        return model
    with step_progress(steps, console) as advance:
        for completed in range(1, steps + 1):
            model.run_for(1)
            advance(model, completed)
    return model
