"""A run's outputs: final metrics, the metrics figure, the files and the command to rerun it."""

import json
import math

import pandas as pd
from matplotlib.image import imread

from mesa_llm.lab import outputs, plots
from mesa_llm_models.schelling import SCENARIO
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


def test_write_outputs(tmp_path):
    cfg = config(steps=3, llm_share=0.5, temperature=0.2, cache=tmp_path / "c.db")
    result = execute(cfg)
    record = outputs.write_outputs(tmp_path / "out", cfg, result)
    out = tmp_path / "out"
    assert json.loads((out / "run.json").read_text()) == record
    assert record["params"] == dict(cfg.params)
    assert (record["steps_requested"], record["steps_completed"], record["interrupted"]) == (3, 3, False)
    assert (record["backend"], record["backend_name"]) == ("rule", "schelling-rule-0.4")
    assert (record["temperature"], record["cache"]) == (0.2, str(tmp_path / "c.db"))
    assert record["llm_totals"]["decisions"] == result.log.totals.decisions > 0
    assert {"python", "platform", "mesa", "mesa-llm-lab", "langchain-core", "numpy"} <= set(
        record["versions"]
    )
    model = pd.read_csv(out / "model.csv", index_col="step")
    assert len(model) == 4
    assert list(model.columns) == list(result.model_frame.columns)
    agents = pd.read_csv(out / "agents.csv")
    assert list(agents.columns[:2]) == ["Step", "AgentID"]
    assert len(agents) == len(result.agent_frame)
    calls = (out / "calls.jsonl").read_text().splitlines()
    assert len(calls) == result.log.totals.decisions
    height, width, channels = imread(out / "metrics.png").shape
    assert (height, width) == (400, 1350)
    assert channels in (3, 4)


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
