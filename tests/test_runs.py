"""Runs of a scenario without the command line: backends, stepping, interruption, outputs."""

import json
import math

import pandas as pd
import pytest
from matplotlib.image import imread

from mesa_llm import BackendError, runs
from mesa_llm.runs import RunConfig
from mesa_llm.scenarios import ScenarioSpec
from models.schelling import SCENARIO, SchellingModel

METRIC_COLUMNS = ["pct_happy", "segregation", "moves"]


def config(steps=5, seed=1, backend="rule", cache=None, temperature=None, **settings):
    """A small Schelling run; settings as the command line gives them (text)."""
    settings = {"width": "8", "height": "8", **{k: str(v) for k, v in settings.items()}}
    params = runs.model_parameters(SCENARIO, settings)
    return RunConfig(SCENARIO, params, steps, seed, backend, temperature, cache)


def execute(cfg, on_step=None):
    with runs.open_cache(cfg.cache) as cache:
        model = runs.build_model(cfg, runs.resolve_run_backend(cfg), cache)
        return runs.run_steps(model, cfg.steps, on_step)


def test_model_parameters_are_the_defaults_overridden_by_settings():
    params = runs.model_parameters(SCENARIO, {"homophily": "0.3", "llm-share": "0.5"})
    assert params["homophily"] == 0.3
    assert params["llm_share"] == 0.5
    assert params["width"] == 20
    assert list(params) == list(SCENARIO.parameters())


def test_model_parameters_reject_unknown_names():
    with pytest.raises(ValueError, match="its parameters are: width, height"):
        runs.model_parameters(SCENARIO, {"colour": "red"})


def test_no_backend_is_resolved_without_llm_agents():
    # A backend that could not be created is not even looked at.
    assert runs.resolve_run_backend(config(backend="nosuchprovider:x", llm_share=0)) is None


def test_rule_backend_is_built_from_the_merged_parameters():
    model = runs.resolve_run_backend(config(llm_share=0.5, homophily=0.3))
    assert model.model_name == "schelling-rule-0.3"


def test_rule_backend_of_a_scenario_without_one_is_a_backend_error():
    spec = ScenarioSpec(name="bare", model=SchellingModel, summary="", metrics=())
    cfg = RunConfig(spec, {"llm_share": 0.5}, steps=1, seed=1, backend="rule")
    with pytest.raises(BackendError, match="bare has no rule-following chat model"):
        runs.resolve_run_backend(cfg)


@pytest.mark.parametrize(("temperature", "kwargs"), [(None, {}), (0.7, {"temperature": 0.7})])
def test_provider_strings_go_to_resolve_backend_with_the_temperature(monkeypatch, temperature, kwargs):
    calls = []
    monkeypatch.setattr(runs, "resolve_backend", lambda *args, **kw: calls.append((args, kw)) or "model")
    cfg = config(backend="openai:gpt-4o-mini", temperature=temperature, llm_share=0.5)
    assert runs.resolve_run_backend(cfg) == "model"
    assert calls == [(("openai:gpt-4o-mini",), kwargs)]


def test_rule_following_llm_residents_give_the_all_rule_run():
    mixed = execute(config(steps=6, llm_share=0.5, homophily=0.6))
    rule = execute(config(steps=6, llm_share=0, homophily=0.6))
    assert mixed.log.totals.decisions > 0
    assert rule.log.totals.decisions == 0
    pd.testing.assert_frame_equal(mixed.model_frame[METRIC_COLUMNS], rule.model_frame[METRIC_COLUMNS])


def test_a_warm_cache_replays_without_calls(tmp_path):
    cold = execute(config(llm_share=0.5, cache=tmp_path / "cache.db"))
    warm = execute(config(llm_share=0.5, cache=tmp_path / "cache.db"))
    assert cold.log.totals.calls > 0
    assert warm.log.totals.calls == 0
    assert warm.log.totals.cache_hits > 0
    assert warm.model_frame["llm_calls"].iloc[-1] == 0
    # The same run; only what the answers cost differs (calls, cache hits, tokens, latency).
    same = [c for c in cold.model_frame if not c.startswith("llm_")] + ["llm_decisions", "llm_shared"]
    pd.testing.assert_frame_equal(cold.model_frame[same], warm.model_frame[same])
    pd.testing.assert_frame_equal(cold.agent_frame, warm.agent_frame)


def test_on_step_sees_every_step_and_frames_start_at_step_zero():
    seen = []
    result = execute(config(steps=4, llm_share=0.5, homophily=0.9), lambda m, n: seen.append((m.steps, n)))
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert (result.steps_completed, result.interrupted) == (4, False)
    assert list(result.model_frame.index) == [0, 1, 2, 3, 4]
    assert result.model_frame.index.name == "step"
    assert sorted(set(result.agent_frame.index.get_level_values("Step"))) == [0, 1, 2, 3, 4]


def test_a_model_that_stops_running_ends_the_run_early():
    result = execute(config(steps=500, homophily=0.2))
    assert not result.model.running
    assert 0 < result.steps_completed < 500
    assert len(result.model_frame) == result.steps_completed + 1


def test_ctrl_c_keeps_only_the_completed_steps(monkeypatch):
    cfg = config(steps=10, llm_share=0.5, homophily=0.9)
    model = runs.build_model(cfg, runs.resolve_run_backend(cfg))
    collect = model.datacollector.collect

    def interrupted_in_step_4(m):
        if m.steps == 4:  # after step 4's LLM decisions, halfway through collecting its data
            first = next(iter(model.datacollector.model_vars.values()))
            first.append(0)
            raise KeyboardInterrupt
        collect(m)

    monkeypatch.setattr(model.datacollector, "collect", interrupted_in_step_4)
    result = runs.run_steps(model, cfg.steps)
    assert (result.interrupted, result.steps_completed) == (True, 3)
    assert len(result.model_frame) == 4
    assert result.agent_frame.index.get_level_values("Step").max() == 3
    assert max(r.step for r in model.llm.log.records) == 4  # step 4 decided ...
    assert {r.step for r in result.log.records} == {1, 2, 3}  # ... but is not part of the run
    assert result.log.totals.decisions == len(result.log.records)
    assert result.model_frame["llm_decisions"].iloc[-1] == result.log.totals.decisions


def test_final_metrics_by_population_with_none_for_missing_values():
    result = execute(config(steps=2, llm_share=0))
    metrics = runs.final_metrics(result.model_frame, SCENARIO.metrics)
    assert list(metrics) == list(SCENARIO.metrics)
    last = result.model_frame.iloc[-1]
    assert metrics["pct_happy"] == {"all": last["pct_happy"], "rule": last["pct_happy_rule"], "llm": None}
    assert math.isnan(last["pct_happy_llm"])


def test_metrics_figure_draws_only_populations_with_values():
    rule_only = execute(config(steps=3, llm_share=0)).model_frame
    figure = runs.metrics_figure(rule_only, ("pct_happy", "moves", "missing"), "title")
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["pct_happy", "moves", "missing"]
    assert [line.get_label() for line in axes[0].lines] == ["all", "rule"]
    assert list(axes[0].lines[0].get_xdata()) == [0, 1, 2, 3]
    assert len(axes[2].lines) == 0
    mixed = execute(config(steps=3, llm_share=0.5)).model_frame
    figure = runs.metrics_figure(mixed, ("segregation",), "title")
    assert [line.get_label() for line in figure.axes[0].lines] == ["all", "rule", "LLM"]


def test_write_outputs(tmp_path):
    cfg = config(steps=3, llm_share=0.5, temperature=0.2, cache=tmp_path / "c.db")
    result = execute(cfg)
    record = runs.write_outputs(tmp_path / "out", cfg, result)
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
    argv = runs.rerun_argv(cfg)
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
