import os

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from mesa_llm import FunctionChatModel
from mesa_llm.backends.local import default_model_path
from mesa_llm.cache import SQLiteCache
from mesa_llm.experiments import Sweep, dask_executor, process_pool
from mesa_llm.experiments.executors import submit_all
from tests.experiments.sweeps import SMALL, assert_same_results, mixed_sweep, untimed

# the columns of everything but where the answers came from
ANSWERED = r"^(?!llm_(calls|cache_hits|tokens_in|tokens_out)$)"


def test_the_frames_are_tidy_with_one_row_per_run_and_per_run_step():
    result = mixed_sweep().run()
    summary, steps = result.summary, result.steps
    assert list(summary.columns[:5]) == ["run", "llm_share", "backend", "seed", "status"]
    assert len(summary) == 8
    assert summary["status"].eq("ok").all()
    rule_only = summary[summary["llm_share"] == 0.0]
    assert rule_only["llm_agents"].eq(0).all()
    assert rule_only["llm_calls"].eq(0).all()
    assert summary.loc[summary["llm_share"] == 0.5, "llm_agents"].gt(0).all()
    assert {"segregation", "pct_happy", "llm_fallbacks", "llm_tokens_in", "llm_mean_latency_s"} <= set(
        summary
    )
    assert len(steps) == 8 * 5  # steps 0..4 of each run
    assert list(steps.columns[:5]) == ["run", "llm_share", "backend", "seed", "step"]
    last = steps[steps["step"] == 4].set_index("run")["segregation"]
    window = steps[steps["step"] >= 1].groupby("run")["segregation"].mean()
    assert np.allclose(
        summary.set_index("run")["segregation"], window
    )  # the mean over its last 10 steps (all 4)
    assert not last.isna().any()


def test_rule_only_runs_equal_across_backends_and_the_rule_model_equals_the_rule():
    summary = mixed_sweep().run().summary.set_index(["llm_share", "backend", "seed"])
    for seed in (0, 1):
        assert (
            summary.loc[(0.0, "rule", seed), "segregation"] == summary.loc[(0.0, "coin", seed), "segregation"]
        )
        # LLM residents that follow the rule: the mixed run is the all-rule run
        assert (
            summary.loc[(0.5, "rule", seed), "segregation"] == summary.loc[(0.0, "rule", seed), "segregation"]
        )


def test_the_same_sweep_gives_the_same_frames_in_process_in_a_process_pool_and_on_dask():
    sweep = mixed_sweep()
    in_process = sweep.run()
    with process_pool(2) as pool:
        on_pool = sweep.run(executor=pool)
    own_pool = sweep.run(workers=2, recycle_after=3)  # pools of 2 replaced after 6 runs: 6 + 2
    with dask_executor(workers=2) as executor:
        on_dask = sweep.run(executor=executor)
    for other in (on_pool, own_pool, on_dask):
        assert_same_results(in_process, other)
    assert in_process.summary["llm_calls"].sum() > 0


def test_on_dask_the_cache_goes_once_to_every_worker_which_does_not_profile(tmp_path):
    sweep = mixed_sweep()
    cache = tmp_path / "cache.sqlite"
    assert sweep.run(cache=cache).summary["llm_calls"].sum() > 0
    store = SQLiteCache(cache)
    snapshot = store.snapshot()
    store.close()
    with dask_executor(workers=2) as executor:
        client = executor._client
        profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
        futures = submit_all(executor, sweep.tasks(), snapshot)
        held = [set(keys) for keys in client.has_what().values()]  # while the runs need it
        outcomes = [future.result() for future in futures]
        warm = sweep.run(cache=cache, executor=executor)
    assert len(held) == 2
    assert [key for key in set.intersection(*held) if str(key).startswith("dict-")]  # the scattered snapshot
    assert sum(outcome.llm["calls"] for outcome in outcomes) == 0
    assert warm.summary["llm_calls"].sum() == 0
    assert list(profiling.values()) == [False, False]


def test_a_chat_model_that_cannot_be_pickled_runs_in_this_process_and_is_refused_for_workers(tmp_path):
    local = FunctionChatModel(fn=lambda messages: "stay", model_name="lambda")
    axes = {"backend": {"lambda": local}, "llm_share": [0.5]}
    sweep = Sweep("schelling", fixed=SMALL, axes=axes, seeds=range(2), steps=2)
    out = tmp_path / "out"
    fix = r"The backend 'lambda' cannot be pickled.*module level.*workers=1, no executor\), with a folder too"
    with pytest.raises(ValueError, match=fix):
        sweep.run(workers=2, out=out)
    with process_pool(1) as pool, pytest.raises(ValueError, match=fix):
        sweep.run(executor=pool, out=out)
    assert not out.exists()  # refused before any run
    first = sweep.run(out=out)
    assert first.complete
    assert first.summary["llm_calls"].sum() > 0
    seen = []
    again = sweep.run(out=out, on_progress=lambda progress: seen.append(progress.skipped))
    assert seen[-1] == 2  # the folder knows the chat model again: both runs are done
    assert_same_results(first, again)


def test_a_parameter_that_cannot_be_pickled_runs_in_this_process_without_a_folder(tmp_path):
    graph = nx.cycle_graph(12)
    graph.graph["label"] = lambda node: f"home {node}"  # a lambda: the graph cannot be pickled
    axes = {"llm_share": [0.0, 0.5]}
    sweep = Sweep("schelling", fixed={"graph": graph}, axes=axes, seeds=[0], steps=2, backend="rule")
    assert sweep.run().complete
    with pytest.raises(ValueError, match=r"fixed parameter 'graph' \(.*\) cannot be pickled.*out=None"):
        sweep.run(out=tmp_path / "out")
    with pytest.raises(ValueError, match=r"fixed parameter 'graph' .*worker process.*and without a folder"):
        sweep.run(workers=2)
    assert not (tmp_path / "out").exists()


def test_a_warm_cache_makes_a_rerun_call_no_backend(tmp_path):
    sweep = mixed_sweep()
    cold = sweep.run(cache=tmp_path / "cache.sqlite")
    warm = sweep.run(cache=tmp_path / "cache.sqlite", workers=2)
    assert cold.summary["llm_calls"].sum() > 0
    assert warm.summary["llm_calls"].sum() == 0
    assert (
        warm.summary["llm_cache_hits"] == cold.summary["llm_calls"] + cold.summary["llm_cache_hits"]
    ).all()
    # the same results; only where the answers came from differs (calls, cache hits, tokens)
    for frame in ("steps", "summary"):
        a, b = (getattr(result, frame).filter(regex=ANSWERED) for result in (cold, warm))
        pd.testing.assert_frame_equal(untimed(a), untimed(b))


def test_a_failing_run_is_recorded_and_only_failed_runs_are_retried(tmp_path):
    weights = tmp_path / "weights" / "model.gguf"
    sweep = Sweep(
        "schelling",
        fixed=SMALL,
        axes={"llm_share": [0.0, 0.5]},
        seeds=range(2),
        steps=2,
        backend=f"local:{weights}",
        temperature=0,
    )
    seen = []
    first = sweep.run(out=tmp_path / "sweep", on_progress=lambda p: seen.append((p.skipped, p.done)))
    failed = first.failures
    assert list(failed["llm_share"]) == [0.5, 0.5]
    assert failed["error"].str.contains("is not a file").all()
    assert failed["segregation"].isna().all()
    assert first.summary.loc[first.summary["llm_share"] == 0.0, "status"].eq("ok").all()
    assert not first.complete
    assert repr(first) == (
        f"<SweepResult of 4 runs (2 failed), 6 step rows, factors: llm_share in {tmp_path / 'sweep'}>"
    )
    weights.parent.mkdir()
    os.symlink(default_model_path(), weights)  # the missing weights arrive
    seen.clear()
    second = sweep.run(out=tmp_path / "sweep", on_progress=lambda p: seen.append((p.skipped, p.done)))
    assert seen[-1] == (2, 2)  # the two runs done before are kept, the two failed ones run again
    assert second.complete
    assert second.summary["llm_calls"].sum() > 0


def _die(messages):
    os._exit(3)


def test_a_worker_that_dies_fails_its_runs_without_stopping_the_sweep():
    dying = FunctionChatModel(fn=_die, model_name="dies")
    sweep = Sweep(
        "schelling",
        fixed=SMALL,
        axes={"llm_share": [0.0, 0.5], "backend": {"dies": dying}},
        seeds=[0],
        steps=2,
    )
    result = sweep.run(workers=2)
    assert len(result.summary) == 2
    assert result.summary["status"].eq("failed").any()
    lost = result.failures["error"]
    assert lost.str.contains("worker running it was lost").all()


def test_robustness_needs_outcome_metrics():
    from mesa_llm.experiments import SweepResult

    result = SweepResult(mixed_sweep().run().steps, mixed_sweep().run().summary, (), ())
    with pytest.raises(ValueError, match="no outcome metrics"):
        result.robustness()


def test_answer_modes_are_an_axis_and_reasoning_is_kept_in_the_records(tmp_path):
    axes = {"answer_mode": ["direct", "reasoning"], "llm_share": [1.0]}
    result = Sweep("schelling", fixed=SMALL, axes=axes, seeds=range(2), steps=3, backend="rule").run(
        out=tmp_path
    )
    by_mode = result.summary.set_index(["answer_mode", "seed"])["segregation"]
    for seed in (0, 1):  # the rule-following model answers a reasoning prompt as it answers a direct one
        assert by_mode[("reasoning", seed)] == by_mode[("direct", seed)]
    runs = result.summary.set_index("answer_mode")["run"]
    reasoning = pd.read_json(tmp_path / "runs" / runs["reasoning"].iloc[0] / "calls.jsonl.gz", lines=True)
    direct = pd.read_json(tmp_path / "runs" / runs["direct"].iloc[0] / "calls.jsonl.gz", lines=True)
    assert reasoning["reasoning"].notna().all()
    assert direct["reasoning"].isna().all()
