"""The application layer: scenario specs, running a scenario, its outputs and plots.

It sits on the engine (:mod:`mesa_llm`) and under everything that runs scenarios: the
``mesa-llm`` command (:mod:`mesa_llm.cli`), the dashboards (:mod:`mesa_llm.viz`), and the
sweeps and probes to come.

- :mod:`mesa_llm.lab.specs`: :class:`ScenarioSpec` (a model the command line can run,
  published under the entry-point group ``mesa_llm.scenarios``), its parameters, and
  :func:`model_parameters`;
- :mod:`mesa_llm.lab.runs`: :class:`RunConfig`, :class:`Run` and :func:`execute`, which
  build and step a scenario's model and give a :class:`RunResult`;
- :mod:`mesa_llm.lab.outputs`: the summaries of a run (final metrics, LLM totals, versions,
  the command line that repeats it);
- :mod:`mesa_llm.lab.journal`: :class:`RunJournal`, which writes a run's folder as it
  steps, so that a kill or an interrupt loses no completed step, and :func:`write_outputs`;
- :mod:`mesa_llm.lab.folders`: :func:`load_run`, which reads a folder back, and
  :class:`ResumedJournal`, which resumes a run cut short;
- :mod:`mesa_llm.lab.plots`: :func:`metrics_figure`, a run's metrics by population.
"""

from mesa_llm.lab.folders import ResumedJournal, ResumeError, RunFolderError, StoredRun, load_run
from mesa_llm.lab.journal import RUN_FILE, RunJournal, write_outputs
from mesa_llm.lab.outputs import RUN_CACHE, final_metrics, llm_totals, rerun_argv, versions
from mesa_llm.lab.plots import metrics_figure
from mesa_llm.lab.runs import (
    RULE_BACKEND,
    Run,
    RunBackend,
    RunConfig,
    RunResult,
    execute,
    open_cache,
    resolve_run_backend,
    rule_backend,
)
from mesa_llm.lab.specs import Parameter, ScenarioSpec, find_scenario, model_parameters, scenarios

__all__ = [
    "RULE_BACKEND",
    "RUN_CACHE",
    "RUN_FILE",
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
    "execute",
    "final_metrics",
    "find_scenario",
    "llm_totals",
    "load_run",
    "metrics_figure",
    "model_parameters",
    "open_cache",
    "rerun_argv",
    "resolve_run_backend",
    "rule_backend",
    "scenarios",
    "versions",
    "write_outputs",
]
