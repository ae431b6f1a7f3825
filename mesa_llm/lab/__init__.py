"""The application layer: scenario specs, running a scenario, its outputs and plots.

It sits on the engine (:mod:`mesa_llm`) and under everything that runs scenarios: the
``mesa-llm`` command (:mod:`mesa_llm.cli`), the dashboards (:mod:`mesa_llm.viz`), and the
sweeps and probes to come.

- :mod:`mesa_llm.lab.specs`: :class:`ScenarioSpec` (a model the command line can run,
  published under the entry-point group ``mesa_llm.scenarios``, or found in a file or
  module as ``path/to/file.py:SPEC`` or ``package.module:SPEC``), its parameters, and
  :func:`model_parameters`; :mod:`mesa_llm.lab.signatures` reads a model's parameters
  from its signature and docstring;
- :mod:`mesa_llm.lab.runs`: :class:`RunConfig`, :class:`Run` and :func:`execute`, which
  build and step a scenario's model and give a :class:`RunResult`;
- :mod:`mesa_llm.lab.outputs`: the summaries of a run (final metrics, LLM totals, versions,
  the command line that repeats it);
- :mod:`mesa_llm.lab.journal`: :class:`RunJournal`, which writes a run's folder as it
  steps, so that a kill or an interrupt loses no completed step (its call records
  compact: each distinct prompt once, compressed), and :func:`write_outputs`;
- :mod:`mesa_llm.lab.folders`: :func:`load_run`, which reads a folder back (the full
  records), and :class:`ResumedJournal`, which resumes a run cut short;
- :mod:`mesa_llm.lab.plots`: :func:`metrics_figure`, a run's metrics by population (of
  the populations the model has, :func:`populations_of`);
- :mod:`mesa_llm.lab.progress`: :func:`run_for`, Mesa's ``run_for`` with a progress bar.
"""

from mesa_llm.lab.folders import ResumedJournal, ResumeError, RunFolderError, StoredRun, load_run
from mesa_llm.lab.journal import CALLS_FILE, PROMPTS_FILE, RUN_FILE, RunJournal, replacing, write_outputs
from mesa_llm.lab.outputs import RUN_CACHE, final_metrics, llm_totals, rerun_argv, versions
from mesa_llm.lab.plots import metrics_figure, populations_of
from mesa_llm.lab.progress import run_for
from mesa_llm.lab.runs import (
    AGENT_INDEX,
    RULE_BACKEND,
    Run,
    RunBackend,
    RunConfig,
    RunResult,
    agent_rows,
    execute,
    open_cache,
    resolve_run_backend,
    rule_backend,
)
from mesa_llm.lab.specs import (
    Outcome,
    Parameter,
    ScenarioSpec,
    check_model_arguments,
    find_scenario,
    model_arguments,
    model_parameters,
    scenarios,
)

__all__ = [
    "AGENT_INDEX",
    "CALLS_FILE",
    "PROMPTS_FILE",
    "RULE_BACKEND",
    "RUN_CACHE",
    "RUN_FILE",
    "Outcome",
    "Parameter",
    "ResumeError",
    "ResumedJournal",
    "Run",
    "RunBackend",
    "RunConfig",
    "RunFolderError",
    "RunJournal",
    "RunResult",
    "ScenarioSpec",
    "StoredRun",
    "agent_rows",
    "check_model_arguments",
    "execute",
    "final_metrics",
    "find_scenario",
    "llm_totals",
    "load_run",
    "metrics_figure",
    "model_arguments",
    "model_parameters",
    "open_cache",
    "populations_of",
    "replacing",
    "rerun_argv",
    "resolve_run_backend",
    "rule_backend",
    "run_for",
    "scenarios",
    "versions",
    "write_outputs",
]
