"""A tiny all-LLM Life board with the embedded local model (SmolLM2-135M through llama.cpp)."""

import pytest

from mesa_llm import InMemoryCache
from mesa_llm.backends.local import LocalChatModel
from mesa_llm_models.life import LifeModel, LLMCell


@pytest.fixture(scope="module")
def board():
    model = LifeModel(
        width=4,
        height=4,
        initial_fraction_alive=0.5,
        llm_share=1.0,
        rule_in_prompt=True,
        cache=InMemoryCache(),
        rng=1,
    )
    model.run_for(2)
    return model


def test_every_decision_of_the_local_model_is_an_action_with_probabilities(board):
    assert isinstance(board.llm.backend, LocalChatModel)
    assert len(board.agents_by_type[LLMCell]) == 16
    records = board.llm.log.to_dataframe()
    assert len(records) == 2 * 16
    assert set(records["action"]) <= {"alive", "dead"}
    assert not records["fallback"].any()
    assert (records["parse_failures"] == 0).all()
    for probabilities in records["probabilities"]:
        assert set(probabilities) == {"alive", "dead"}
        assert sum(probabilities.values()) == pytest.approx(1.0)
    assert records["backend_calls"].sum() < len(records)  # identical prompts are scored once
    for _, user in records["messages"]:
        assert "The rule: if you are dead and exactly 3 of your 8 neighbours are alive" in user["content"]
    frame = board.datacollector.get_model_vars_dataframe()
    assert frame["alive"].iloc[-1] == sum(a.alive for a in board.agents) / 16
