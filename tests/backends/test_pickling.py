"""Every backend the project ships, and a runtime holding one, survive pickling and a spawned process.

Sweeps send models' parameters to worker processes (``mesa.batch_run(number_processes=...)``,
Dask): a backend that cannot be pickled would stop them.
"""

import multiprocessing
import pickle

import mesa
import pytest

from mesa_llm import (
    FaultyChatModel,
    FunctionChatModel,
    InMemoryCache,
    LLMRuntime,
    ScoringChatModel,
    ScriptedChatModel,
    SQLiteCache,
)
from mesa_llm.backends import backend_identity
from mesa_llm.prompts import to_langchain
from mesa_llm_models.cooperation import CooperationModel
from mesa_llm_models.cooperation.rule_backend import rule_following_backend as cooperation_rule
from mesa_llm_models.schelling import Neighbourhood, SchellingModel
from mesa_llm_models.schelling.rule_backend import rule_following_backend as schelling_rule

# a Schelling resident's whole prompt, which the rule-following backend reads
_RESIDENT = next(
    a
    for a in SchellingModel(width=3, height=3, llm_share=1.0, backend="rule", rng=0).agents
    if a.population == "llm"
)
PROMPT = to_langchain(_RESIDENT.messages(Neighbourhood(2, 5, 1)))


def even_scores(_messages, options):
    return dict.fromkeys(options, 1 / len(options))


def backends():
    return {
        "function": schelling_rule(0.4),
        "scripted": ScriptedChatModel(responses=["stay", "move"], cycle=True),
        "scoring": ScoringChatModel(scores=even_scores),
        "faulty": FaultyChatModel(inner=schelling_rule(0.4), malformed_rate=0.5, seed=3),
        "cooperation": cooperation_rule(),
    }


def answer(backend):
    """What a backend answers to PROMPT (module level, so a spawned process can run it)."""
    if isinstance(backend, ScoringChatModel):
        return backend.score_options(PROMPT, ["stay", "move"]).probabilities
    return backend.invoke(PROMPT).content


@pytest.mark.parametrize("name", list(backends()))
def test_every_shipped_backend_pickles_with_its_identity_and_answers(name):
    backend = backends()[name]
    copy = pickle.loads(pickle.dumps(backend))
    assert backend_identity(copy) == backend_identity(backend)  # the same cache keys
    if name != "cooperation":  # (its prompt is a cooperation round's)
        assert answer(copy) == answer(backends()[name])


def test_a_scripted_model_keeps_its_place_across_pickling():
    backend = ScriptedChatModel(responses=["stay", "move"], cycle=True)
    assert answer(backend) == "stay"
    copy = pickle.loads(pickle.dumps(backend))
    assert [answer(copy), answer(copy)] == ["move", "stay"]


def test_backends_answer_alike_in_a_spawned_process():
    here = {name: answer(backend) for name, backend in backends().items() if name != "cooperation"}
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        there = {name: pool.apply(answer, (backends()[name],)) for name in here}
    assert there == here


def test_a_runtime_with_a_cache_file_pickles_and_opens_it_again(tmp_path):
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    runtime = LLMRuntime(schelling_rule(0.4), cache=cache)
    model = SchellingModel(width=8, height=8, llm_share=0.5, runtime=runtime, rng=2)
    model.run_for(1)
    copy = pickle.loads(pickle.dumps(runtime))
    assert copy.cache.path == cache.path
    assert len(copy.cache) == len(cache) > 0  # the same file, open again
    assert copy.log.totals.decisions == runtime.log.totals.decisions > 0
    again = SchellingModel(width=8, height=8, llm_share=0.5, runtime=copy, rng=2)
    again.run_for(1)  # a runtime unpickled in a fresh state runs a new model
    cache.close()
    copy.cache.close()


def test_batch_run_in_two_processes_equals_one_process():
    def run(processes):
        results = mesa.batch_run(
            CooperationModel,
            parameters={
                "width": 6,
                "height": 6,
                "llm_share": 0.5,
                "backend": [
                    cooperation_rule()
                ],  # in a list: batch_run sweeps an iterable, and a chat model is one
                "cache": InMemoryCache(),
            },
            max_steps=3,
            number_processes=processes,
            display_progress=False,
            rng=[1, 2],
        )
        return sorted((r["rng"], r["Step"], r["cooperation"]) for r in results)

    method = multiprocessing.get_start_method()
    try:
        assert run(2) == run(1)
    finally:  # batch_run switches the whole process to "spawn"
        multiprocessing.set_start_method(method, force=True)


def test_a_runtime_alone_pickles_with_its_settings_and_records():
    runtime = LLMRuntime(FunctionChatModel(fn=answer_stay, model_name="stay"), timeout=5.0, retries=1)
    copy = pickle.loads(pickle.dumps(runtime))
    assert (copy.timeout, copy.retries, copy.backend.model_name) == (5.0, 1, "stay")


def answer_stay(_messages):
    return "stay"


def _scenario_columns(model):
    frame = model.datacollector.get_model_vars_dataframe()
    return frame[[c for c in frame.columns if c != "llm_mean_latency_s"]]


def continue_model(model, steps=2):
    """Run a model further and return its frames (in a spawned process too)."""
    model.run_for(steps)
    return _scenario_columns(model), model.datacollector.get_agent_vars_dataframe()


@pytest.mark.parametrize("scenario", [SchellingModel, CooperationModel])
def test_a_scenario_model_mid_run_pickles_and_continues_as_the_original(scenario):
    model = scenario(width=6, height=6, llm_share=0.5, backend="rule", rng=1)
    model.run_for(2)
    copy = pickle.loads(pickle.dumps(model))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        there = pool.apply(continue_model, (model,))
    here = continue_model(model)
    assert copy.llm.log.totals.decisions == model.llm.log.totals.decisions - here_decisions(model, 2)
    for frames in (continue_model(copy), there):
        for mine, theirs in zip(here, frames, strict=True):
            assert mine.equals(theirs)


def here_decisions(model, steps):
    """The LLM decisions the last ``steps`` steps made."""
    return sum(r.step > model.steps - steps for r in model.llm.log.records)
