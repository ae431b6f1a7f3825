"""The generic probe: one call per scored point, k samples otherwise, intervals, fallbacks, the cache."""

from typing import ClassVar

import pytest
from mesa import Agent, Model
from pydantic import BaseModel

from mesa_llm import (
    ActionSpace,
    CallLog,
    FunctionChatModel,
    InMemoryCache,
    LLMDecider,
    LLMRuntime,
    PromptTemplate,
)
from mesa_llm.calibration import PROBE_COLUMNS, ProbePoint, run_probe, wilson_interval
from mesa_llm_models.schelling import Neighbourhood, SchellingModel
from tests.calibration.models import constant, logistic, logistic_scorer, sampled_logistic


def grid(backend, cache=None, **settings):
    """Six points of Schelling's grid, asked of one LLM resident of an empty model."""
    model = SchellingModel(width=5, height=5, density=0.0, backend=backend, cache=cache, rng=0, **settings)
    agent = model.llm_resident(model.grid.all_cells.cells[0], 0)
    points = [
        ProbePoint({"same": s, "other": o}, agent, Neighbourhood(s, o, 8 - s - o))
        for s, o in [(0, 8), (2, 6), (4, 4), (5, 3), (6, 2), (8, 0)]
    ]
    return model, points


def test_a_scoring_backend_answers_each_point_with_one_call():
    model, points = grid(logistic_scorer(3.0, -7.5))
    run = run_probe(points, model.llm, samples=20)
    assert run.calls == len(points)
    assert len(run.records) == len(points)
    table = run.table
    assert list(table.columns) == ["same", "other", *PROBE_COLUMNS]
    assert (table["source"] == "scored").all()
    assert (table["answers"] == 1).all()
    moves = table[table["action"] == "move"]
    for row in moves.itertuples():
        assert row.p == pytest.approx(logistic(3.0 - 7.5 * row.same / 8))
        assert row.ci_low == row.ci_high == row.p  # exact for its prompt
    assert table.groupby("point")["p"].sum().to_numpy() == pytest.approx(1.0)


def test_a_sampling_backend_answers_each_point_samples_times_with_wilson_intervals():
    model, points = grid(sampled_logistic(3.0, -7.5, seed=1))
    run = run_probe(points, model.llm, samples=30)
    assert run.calls == 30 * len(points)
    moves = run.table[run.table["action"] == "move"]
    assert (moves["source"] == "sampled").all()
    assert (moves["answers"] == 30).all()
    for row in moves.itertuples():
        assert (row.ci_low, row.ci_high) == pytest.approx(wilson_interval(row.p * 30, 30))
        assert row.ci_low <= row.p <= row.ci_high
    assert moves.iloc[0]["p"] > 0.8
    assert moves.iloc[-1]["p"] < 0.2


def test_a_deterministic_backend_is_asked_once_per_point():
    """At temperature 0 the runtime shares one answer among identical prompts: they would not be samples."""
    model, points = grid("rule", homophily=0.5)
    run = run_probe(points, model.llm, samples=20)
    assert run.calls == len(points)
    moves = run.table[run.table["action"] == "move"]
    assert moves["answers"].tolist() == [1] * len(points)
    assert moves["p"].tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_a_second_probe_with_the_same_cache_makes_no_call():
    cache = InMemoryCache()
    for backend in (logistic_scorer(3.0, -7.5), sampled_logistic(3.0, -7.5, seed=2)):
        first_model, first = grid(backend, cache)
        before = run_probe(first, first_model.llm, samples=10)
        again_model, again = grid(backend, cache)
        after = run_probe(again, again_model.llm, samples=10)
        assert before.calls > 0
        assert after.calls == 0
        assert after.cache_hits == len(after.records)
        assert after.table.equals(before.table)


def test_answers_that_fall_back_are_counted_and_left_out():
    model, points = grid(constant("I have no idea."))
    run = run_probe(points, model.llm, samples=5)
    assert run.fallbacks == len(points)  # temperature 0: one request per point, which falls back
    assert run.calls == len(points) * (1 + model.llm.retries)
    assert run.table["p"].isna().all()
    assert (run.table["fallbacks"] == 1).all()
    assert (run.table["answers"] == 0).all()


class Chooser(LLMDecider, Agent):
    class Choice(BaseModel):
        x: int

    action_space: ClassVar = ActionSpace(Choice, fallback=Choice(x=0))
    prompt = PromptTemplate(system="s", user="{instructions}")


def test_bad_grids_are_refused_naming_the_problem():
    model, points = grid("rule")
    with pytest.raises(ValueError, match="at least one point"):
        run_probe([], model.llm)
    odd = ProbePoint({"share": 0.5}, points[0].agent, points[0].observation)
    with pytest.raises(ValueError, match="same coordinates"):
        run_probe([points[0], odd], model.llm)
    with pytest.raises(ValueError, match="samples must be"):
        run_probe(points, model.llm, samples=0)
    keeps_none = LLMRuntime(FunctionChatModel(fn=lambda m: "stay"), log=CallLog(keep=False))
    with pytest.raises(ValueError, match="keeps none"):
        run_probe(points, keeps_none)
    runtime = LLMRuntime(FunctionChatModel(fn=lambda m: '{"x": 1}'))
    chooser = Chooser(Model(rng=0), runtime=runtime)
    with pytest.raises(ValueError, match="not a choice"):
        run_probe([ProbePoint({}, chooser, None)], runtime)


def test_the_embedded_model_is_probed_for_real():
    """A few points of the real local model: probabilities that sum to 1, and the same answers again."""
    tables = []
    for _ in range(2):
        model, points = grid("local")
        run = run_probe(points[:3], model.llm)
        assert run.calls == 3
        assert (run.table["source"] == "scored").all()
        assert run.table.groupby("point")["p"].sum().to_numpy() == pytest.approx(1.0, abs=1e-6)
        tables.append(run.table)
    assert tables[0].equals(tables[1])
