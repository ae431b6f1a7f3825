"""The diffusion run's own outputs, read back, and its run length; from Python and from ``mesa-llm run``."""

import gzip
import json
import pickle
import subprocess

import networkx as nx
import pandas as pd
import pytest
from matplotlib.image import imread

from mesa_llm_models.diffusion import SCENARIO, DiffusionModel, LLMResident
from mesa_llm_models.diffusion.outputs import (
    CASCADE_FILE,
    CONVERSATIONS_FILE,
    INTERVIEWS_FILE,
    MEMORIES_FILE,
    PLOT_FILE,
    run_steps,
    write_outputs,
)
from tests.cli.commands import MESA_LLM

NAMES = [MEMORIES_FILE, CASCADE_FILE, CONVERSATIONS_FILE, INTERVIEWS_FILE, PLOT_FILE]
# One day with the party on it: seed 5 has residents tell others of it (conversations, cascade edges).
SETTINGS = {"llm_share": 0.5, "backend": "rule", "embeddings": "hashing", "days": 1, "event_day": 1}


@pytest.fixture(scope="module")
def finished():
    model = DiffusionModel(rng=5, **SETTINGS)
    while model.running:
        model.step()
    return model


def memories_of(model):
    """Each LLM resident's memories, with its name, as the streams give them."""
    frames = []
    for resident in model.residents:
        if isinstance(resident, LLMResident):
            frames.append(resident.memory.frame().assign(name=resident.name))
    return pd.concat(frames, ignore_index=True)


def test_the_outputs_read_back_as_the_model_holds_them(finished, tmp_path):
    model = finished
    assert model.conversations  # the check below has something to compare
    assert model.cascade.number_of_edges() > 0
    assert write_outputs(model, tmp_path / "out") == NAMES
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)

    memories = pd.read_json(out / MEMORIES_FILE, lines=True)
    expected = memories_of(model)
    assert list(memories.columns) == ["agent_id", "name", *expected.columns.drop(["agent_id", "name"])]
    assert "embedding" not in memories
    pd.testing.assert_frame_equal(memories[expected.columns], expected, check_dtype=False)

    cascade = nx.node_link_graph(json.loads((out / CASCADE_FILE).read_text()), edges="edges")
    assert cascade.is_directed()
    assert dict(cascade.nodes(data=True)) == dict(model.cascade.nodes(data=True))
    assert list(cascade.edges(data=True)) == list(model.cascade.edges(data=True))

    conversations = [json.loads(line) for line in (out / CONVERSATIONS_FILE).read_text().splitlines()]
    assert [(c["step"], c["first"], c["second"]) for c in conversations] == [
        (c.step, c.first.name, c.second.name) for c in model.conversations
    ]
    assert [[tuple(line.values()) for line in c["lines"]] for c in conversations] == [
        [(line.speaker, line.text, line.informs) for line in c.lines] for c in model.conversations
    ]
    for teller, listener, edge in model.cascade.edges(data=True):  # each edge is a conversation's, same hour
        pair = {teller, listener}
        (told,) = [c for c in conversations if (c["step"], {c["first"], c["second"]}) == (edge["step"], pair)]
        assert (told["day"], told["hour"]) == (edge["day"], edge["hour"])

    interviews = pd.read_csv(out / INTERVIEWS_FILE, keep_default_na=False)
    pd.testing.assert_frame_equal(interviews, model.interview_log.frame(), check_dtype=False)
    assert len(interviews) == sum(isinstance(r, LLMResident) for r in model.residents)  # one day, one round

    assert (out / PLOT_FILE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    image = imread(out / PLOT_FILE)
    assert image.shape[1] > image.shape[0]  # two panels side by side
    assert image[..., :3].std() > 0


def test_a_run_without_llm_residents_writes_an_empty_memories_file(tmp_path):
    model = DiffusionModel(rng=5, **{**SETTINGS, "llm_share": 0.0})
    model.step()
    write_outputs(model, tmp_path)
    assert gzip.decompress((tmp_path / MEMORIES_FILE).read_bytes()) == b""
    assert pd.read_json(tmp_path / MEMORIES_FILE, lines=True).empty
    assert pd.read_csv(tmp_path / INTERVIEWS_FILE).empty


def test_the_run_length_is_the_days_the_model_runs(finished):
    assert run_steps({"days": 1}) == finished.steps
    assert run_steps({"days": 3}) == 3 * run_steps({"days": 1})
    assert run_steps({}) == run_steps({"days": SCENARIO.parameters()["days"].default})
    with pytest.raises(ValueError, match="days must be at least 1"):
        run_steps({"days": 0})


def test_the_scenario_has_the_outputs_and_the_run_length():
    copy = pickle.loads(pickle.dumps(SCENARIO))
    assert (copy.outputs, copy.steps_of) == (write_outputs, run_steps)


def test_mesa_llm_run_writes_the_outputs_and_runs_the_days(tmp_path):
    argv = [MESA_LLM, "run", "diffusion", "--llm-share", "0.5", "--days", "1", "--event-day", "1"]
    argv += ["--backend", "rule", "--param", "embeddings=hashing", "--seed", "5", "--out", "party"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "party"
    record = json.loads((out / "run.json").read_text())
    assert record["outputs"] == NAMES
    assert all((out / name).is_file() for name in NAMES)
    assert not (out / ".outputs.tmp").exists()
    assert (record["steps_requested"], record["steps_completed"], record["complete"]) == (24, 24, True)
    assert not pd.read_json(out / MEMORIES_FILE, lines=True).empty
