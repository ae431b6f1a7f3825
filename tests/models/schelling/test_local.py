"""Mixed Schelling runs with the embedded local model (SmolLM2-135M through llama.cpp)."""

import pandas as pd
import pytest

from mesa_llm import InMemoryCache
from mesa_llm.backends.local import LocalChatModel
from mesa_llm_models.schelling import SchellingModel


def run(seed=1, steps=3, backend=None, **params):
    # a cache of the run's own: a neighbourhood seen in an earlier step is not scored again
    model = SchellingModel(
        width=10, height=10, llm_share=0.5, backend=backend, cache=InMemoryCache(), rng=seed, **params
    )
    model.run_for(steps)
    return model


@pytest.fixture(scope="module")
def default_run():
    return run()


def test_llm_residents_get_the_local_model_by_default(default_run):
    assert isinstance(default_run.llm.backend, LocalChatModel)
    residents = default_run.datacollector.get_model_vars_dataframe()["residents_llm"]
    assert residents.iloc[-1] > 0


def test_every_answer_is_an_action_with_probabilities_summing_to_one(default_run):
    records = default_run.llm.log.to_dataframe()
    llm_residents = sum(a.population == "llm" for a in default_run.agents)
    assert len(records) == 3 * llm_residents
    assert set(records["action"]) <= {"stay", "move"}
    assert not records["fallback"].any()
    assert (records["parse_failures"] == 0).all()
    for probabilities in records["probabilities"]:
        assert set(probabilities) == {"stay", "move"}
        assert sum(probabilities.values()) == pytest.approx(1.0)
    # identical neighbourhoods are scored once
    assert records["backend_calls"].sum() < len(records)
    assert (records["backend_calls"] > 0).sum() == records["backend_calls"].sum()


def test_the_same_seed_gives_the_same_run(default_run):
    again = run()
    pd.testing.assert_frame_equal(
        default_run.datacollector.get_model_vars_dataframe().drop(columns="llm_mean_latency_s"),
        again.datacollector.get_model_vars_dataframe().drop(columns="llm_mean_latency_s"),
    )
    pd.testing.assert_frame_equal(
        default_run.datacollector.get_agent_vars_dataframe(), again.datacollector.get_agent_vars_dataframe()
    )
    first, second = default_run.llm.log.to_dataframe(), again.llm.log.to_dataframe()
    assert first["action"].tolist() == second["action"].tolist()
    assert first["probabilities"].tolist() == second["probabilities"].tolist()


def test_sampling_at_a_temperature_is_reproducible_by_seed():
    hot = LocalChatModel(temperature=1.0)
    runs = [run(seed=4, backend=hot).llm.log.to_dataframe()["action"].tolist() for _ in range(2)]
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"stay", "move"}  # draws, not argmax: both actions occur
