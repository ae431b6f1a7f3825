"""Runs of a scenario without the command line: backends, stepping, interruption."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mesa_llm import BackendError, resolve_backend
from mesa_llm.lab import RULE_BACKEND, rule_backend, runs
from mesa_llm.lab.runs import Run, RunConfig
from mesa_llm.lab.specs import ScenarioSpec, model_parameters
from mesa_llm_models.cooperation import SCENARIO as COOPERATION
from mesa_llm_models.schelling import SchellingModel
from tests.lab.small import config, execute

METRIC_COLUMNS = ["pct_happy", "segregation", "moves"]


def test_no_backend_is_resolved_without_llm_agents():
    # A backend that could not be created is not even looked at.
    assert Run.build(config(backend="nosuchprovider:x", llm_share=0)).backend.chat_model is None


def test_whether_a_backend_is_needed_is_decided_by_the_built_models_agents():
    """Cooperation's llm_imitation="llm" is a truthy llm_* parameter, yet llm_share=0 has no LLM agent."""
    params = model_parameters(COOPERATION, {"width": 6, "height": 6, "llm_share": 0.0})
    assert params["llm_imitation"] == "llm"
    built = Run.build(RunConfig(COOPERATION, params, steps=2, seed=1, backend="nosuchprovider:x"))
    assert built.backend.chat_model is None
    result = built.advance(2)
    assert (result.steps_completed, result.backend_name, result.log.totals.decisions) == (2, None, 0)
    mixed = RunConfig(COOPERATION, params | {"llm_share": 0.5}, steps=1, seed=1, backend="nosuchprovider:x")
    with pytest.raises(BackendError, match="Unknown backend 'nosuchprovider:x'"):
        Run.build(mixed)


def test_the_backend_is_created_once_with_the_first_llm_agent_and_named_in_the_result():
    built = Run.build(config(llm_share=0.5))
    agents = [a for a in built.model.agents if hasattr(a, "chat_model")]
    assert len(agents) > 1
    assert all(a.chat_model is built.backend.chat_model for a in agents)
    assert built.model.llm.backend is built.backend.chat_model
    assert built.advance(1).backend_name == "schelling-rule-0.4"


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
    assert mixed.model_frame[METRIC_COLUMNS].equals(rule.model_frame[METRIC_COLUMNS])


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
    assert result.agent_frame.index.names == ["step", "AgentID"]
    steps = result.agent_frame.index.get_level_values("step")
    assert (steps.dtype, sorted(set(steps))) == (np.int64, [0, 1, 2, 3, 4])
    # the rows are Mesa's own, with the integer step in place of Mesa's float model.time
    mesa_frame = result.model.datacollector.get_agent_vars_dataframe()
    assert mesa_frame.index.get_level_values("Step").dtype == np.float64
    assert (result.agent_frame.to_numpy() == mesa_frame.to_numpy()).all()


def test_the_agent_frame_is_of_the_results_steps_even_once_the_model_has_run_on():
    """The frame is made when asked for: steps after the result's are not in it."""
    run = Run.build(config(llm_share=0.5, homophily=0.9))
    first = run.advance(2)
    frame = first.agent_frame
    run.advance(3)
    assert sorted(set(first.agent_frame.index.get_level_values("step"))) == [0, 1, 2]
    pd.testing.assert_frame_equal(first.agent_frame, frame)
    assert run.model.steps == 5  # the model did run on


def test_a_model_that_stops_running_ends_the_run_early():
    result = execute(config(steps=500, homophily=0.2))
    assert not result.model.running
    assert 0 < result.steps_completed < 500
    assert len(result.model_frame) == result.steps_completed + 1


def test_ctrl_c_keeps_only_the_completed_steps(monkeypatch):
    cfg = config(steps=10, llm_share=0.5, homophily=0.9)
    run = Run.build(cfg)
    model = run.model
    collect = model.datacollector.collect

    def interrupted_in_step_4(m):
        if m.steps == 4:  # after step 4's LLM decisions, halfway through collecting its data
            first = next(iter(model.datacollector.model_vars.values()))
            first.append(0)
            raise KeyboardInterrupt
        collect(m)

    monkeypatch.setattr(model.datacollector, "collect", interrupted_in_step_4)
    result = run.advance(cfg.steps)
    assert (result.interrupted, result.steps_completed) == (True, 3)
    assert len(result.model_frame) == 4
    assert result.agent_frame.index.get_level_values("step").max() == 3
    assert max(r.step for r in model.llm.log.records) == 4  # step 4 decided ...
    assert {r.step for r in result.log.records} == {1, 2, 3}  # ... but is not part of the run
    assert result.log.totals.decisions == len(result.log.records)
    assert result.model_frame["llm_decisions"].iloc[-1] == result.log.totals.decisions


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"steps": -1}, ValueError, "steps must be at least 0, got -1"),
        ({"steps": 2.5}, TypeError, "steps must be a whole number, got 2.5"),
        ({"steps": "3"}, TypeError, r"steps must be a whole number, got '3'; pass 3 \(without quotes\)"),
        ({"seed": 1.0}, TypeError, "seed must be a whole number, got 1.0"),
        ({"seed": -2}, ValueError, "seed must be at least 0, got -2"),
        ({"seed": None}, TypeError, "seed must be a whole number, got None"),
        ({"temperature": float("nan")}, ValueError, "temperature must be a finite number, got nan"),
        ({"temperature": -0.1}, ValueError, "temperature must be at least 0, got -0.1"),
        ({"temperature": "0.5"}, TypeError, "temperature must be a number, got '0.5'"),
        ({"backend": ""}, BackendError, "The backend '' names no chat model; name one: 'rule'"),
        ({"backend": "  "}, BackendError, "'local' \\(the embedded model\\) or 'provider:model'"),
        ({"backend": None}, TypeError, "backend must be a string naming a chat model"),
        ({"cache": 3}, TypeError, "cache must be the path of a SQLite file or None, got 3"),
    ],
)
def test_a_run_config_refuses_bad_values_at_construction(changes, error, message):
    cfg = config()
    values = {"scenario": cfg.scenario, "params": cfg.params, "steps": 1, "seed": 1} | changes
    with pytest.raises(error, match=message):
        RunConfig(**values)


def test_a_run_config_keeps_checked_values():
    cfg = config()
    checked = RunConfig(
        cfg.scenario, cfg.params, steps=np.int64(3), seed=np.int64(7), temperature=1, cache="c.db"
    )
    assert (type(checked.steps), type(checked.seed), checked.temperature) == (int, int, 1.0)
    assert checked.cache == Path("c.db")


def test_a_scenarios_rule_backend_in_python_equals_the_all_rule_run():
    def frame(**kwargs):
        model = SchellingModel(width=10, height=10, homophily=0.5, rng=3, **kwargs)
        model.run_for(4)
        columns = ["happy", "pct_happy", "segregation", "moves"]
        return model.datacollector.get_model_vars_dataframe()[columns]

    rule = frame(llm_share=0.0)
    assert frame(llm_share=0.5, backend=rule_backend("schelling", homophily=0.5)).equals(rule)
    assert frame(llm_share=0.5, backend=RULE_BACKEND).equals(rule)  # the model's own settings


def test_rule_is_no_provider_and_the_error_says_where_it_is():
    with pytest.raises(BackendError, match=r"rule_backend\('schelling', homophily=0.3\)"):
        resolve_backend(RULE_BACKEND)
    with pytest.raises(ValueError, match="no_such_setting"):
        rule_backend("schelling", no_such_setting=1)


def test_cooperation_takes_the_rule_backend_by_name_too():
    from mesa_llm_models.cooperation import CooperationModel

    def cooperation(**kwargs):
        model = CooperationModel(width=6, height=6, ties="first", rng=5, **kwargs)
        model.run_for(4)
        return model.datacollector.get_model_vars_dataframe()["cooperation"]

    assert cooperation(llm_share=0.5, backend=RULE_BACKEND).equals(cooperation(llm_share=0.0))
