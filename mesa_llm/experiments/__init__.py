"""Sweeps across populations, language models, prompt framings and seeds, and their robustness verdict.

It sits on the application layer (:mod:`mesa_llm.lab`), whose runs it executes:

- :mod:`mesa_llm.experiments.design`: :class:`Design` (a scenario, fixed parameters,
  axes, seeds, steps), checked whole when created, and its :class:`RunTask` list;
- :mod:`mesa_llm.experiments.sweep`: :class:`Sweep`, a design that runs;
- :mod:`mesa_llm.experiments.worker`: :func:`run_task`, one run where a worker executes it;
- :mod:`mesa_llm.experiments.executors`: local worker processes and Dask;
- :mod:`mesa_llm.experiments.driver`: sending runs out and taking their outcomes in;
- :mod:`mesa_llm.experiments.folder`: :class:`SweepFolder`, written as runs finish, resumed;
- :mod:`mesa_llm.experiments.results`: :class:`SweepResult`, the tidy frames, :func:`load_sweep`;
- :mod:`mesa_llm.experiments.robustness`: :func:`robustness`, the verdicts
  (:class:`RobustnessReport`), on :mod:`~mesa_llm.experiments.verdicts`,
  :mod:`~mesa_llm.experiments.comparisons` and :mod:`~mesa_llm.experiments.shares`; its
  report (:mod:`~mesa_llm.experiments.report`, :mod:`~mesa_llm.experiments.figures`);
- :mod:`mesa_llm.experiments.files`: sweep files (TOML).
"""

from mesa_llm.experiments.design import BACKEND, TEMPERATURE, Axis, Design, RunTask
from mesa_llm.experiments.driver import SweepProgress
from mesa_llm.experiments.executors import dask_executor, process_pool
from mesa_llm.experiments.folder import SweepFolder, SweepFolderError
from mesa_llm.experiments.results import TIMING_COLUMNS, SweepResult, load_sweep
from mesa_llm.experiments.sweep import Sweep
from mesa_llm.experiments.worker import RunOutcome, run_task
from mesa_llm.lazy import lazy_exports

__all__ = [
    "BACKEND",
    "TEMPERATURE",
    "TIMING_COLUMNS",
    "Axis",
    "Design",
    "RobustnessReport",
    "RunOutcome",
    "RunTask",
    "Sweep",
    "SweepFolder",
    "SweepFolderError",
    "SweepProgress",
    "SweepResult",
    "dask_executor",
    "load_sweep",
    "process_pool",
    "robustness",
    "run_task",
]


# The verdict's names, imported on first use: the statistics (scipy, statsmodels) take a
# while to import, and the worker processes that run a sweep's runs never need them.
__getattr__, __dir__ = lazy_exports(
    __name__, {"robustness": ("robustness", "RobustnessReport")}, globals(), __all__
)
