"""A run's summaries: final metrics, the metrics figure and the command to rerun it."""

import math
import pickle

from mesa_llm.lab import outputs, plots
from mesa_llm_models.cooperation import SCENARIO as COOPERATION
from mesa_llm_models.schelling import SCENARIO
from tests.lab import outputs_scenario
from tests.lab.small import config, execute


def test_final_metrics_by_population_with_none_for_missing_values():
    result = execute(config(steps=2, llm_share=0))
    metrics = outputs.final_metrics(result.model_frame, SCENARIO.metrics)
    assert list(metrics) == list(SCENARIO.metrics)
    last = result.model_frame.iloc[-1]
    assert metrics["pct_happy"] == {"all": last["pct_happy"], "rule": last["pct_happy_rule"], "llm": None}
    assert math.isnan(last["pct_happy_llm"])


def test_metrics_figure_draws_only_populations_with_values():
    rule_only = execute(config(steps=3, llm_share=0)).model_frame
    figure = plots.metrics_figure(rule_only, ("pct_happy", "moves", "missing"), "title")
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["pct_happy", "moves", "missing"]
    assert [line.get_label() for line in axes[0].lines] == ["all", "rule"]
    assert list(axes[0].lines[0].get_xdata()) == [0, 1, 2, 3]
    assert len(axes[2].lines) == 0
    mixed = execute(config(steps=3, llm_share=0.5)).model_frame
    figure = plots.metrics_figure(mixed, ("segregation",), "title")
    assert [line.get_label() for line in figure.axes[0].lines] == ["all", "rule", "LLM"]


def test_rerun_argv_gives_every_parameter():
    cfg = config(steps=3, seed=9, backend="openai:gpt-4o-mini", temperature=0.5, homophily=0.3)
    argv = outputs.rerun_argv(cfg)
    assert argv[:9] == [
        "mesa-llm",
        "run",
        "schelling",
        "--steps",
        "3",
        "--seed",
        "9",
        "--backend",
        "openai:gpt-4o-mini",
    ]
    assert argv[9:11] == ["--temperature", "0.5"]
    assert "homophily=0.3" in argv
    assert argv.count("--param") == len(SCENARIO.parameters())


def test_rerun_argv_leaves_out_the_cache_in_the_run_folder(tmp_path):
    """The command line's default cache: a rerun into another folder keeps its own there."""
    folder = tmp_path / "run"
    assert "--cache" not in outputs.rerun_argv(config(cache=folder / "cache.sqlite"), folder)
    argv = outputs.rerun_argv(config(cache=tmp_path / "shared.sqlite"), folder)
    assert argv[argv.index("--cache") + 1] == str(tmp_path / "shared.sqlite")


def test_parameter_text_is_what_the_command_line_reads_back():
    assert outputs.parameter_text(0.5) == "0.5"
    assert outputs.parameter_text(True) == "True"
    assert outputs.parameter_text(COOPERATION.parameters()["payoffs"].default) == "1.0,0.0,1.6,0.0"
    assert outputs.parameter_text(("ALLC", "ALLD")) == "ALLC,ALLD"
    assert outputs.parameter_text({"ALLC": 0.25, "TFT": 0.75}) == "ALLC=0.25,TFT=0.75"


def test_a_spec_with_outputs_and_a_run_length_pickles_with_them():
    """Worker processes get a scenario as its fields: its hooks go with it."""
    copy = pickle.loads(pickle.dumps(outputs_scenario.SCENARIO))
    assert (copy.outputs, copy.steps_of) == (outputs_scenario.summary, outputs_scenario.run_length)
    assert copy.parameters() == outputs_scenario.SCENARIO.parameters()
    assert (SCENARIO.outputs, SCENARIO.steps_of) == (None, None)
