import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import mesa
import pandas as pd
import pytest

from mesa_llm import FunctionChatModel, LLMRuntime
from mesa_llm.embeddings import HashingEmbeddings
from mesa_llm.memory import MemoryStream


def answers_six(messages) -> str:
    return "6"


class Town(mesa.Model):
    """A model whose residents each hold a memory stream asking through the model's runtime."""

    def __init__(self, rng=0):
        super().__init__(rng=rng)
        self.llm = LLMRuntime(FunctionChatModel(fn=answers_six, model_name="six"))
        self.streams = [
            MemoryStream(mesa.Agent(self), HashingEmbeddings(), runtime=self.llm) for _ in range(2)
        ]
        for hour, text in enumerate(["Isabella plans a party", "the cafe opens at eight", "a walk"]):
            self.time = hour
            self.streams[0].add(text, importance=hour + 2)
        self.streams[1].add("Klaus writes a paper", "plan")  # importance asked: 6


def retrieved_in(town: Town) -> tuple[list[int], list[float], list[dict]]:
    """What the first resident retrieves for a query, and the second's memories, after a new memory."""
    town.time = 10
    found = town.streams[0].retrieve("party at the cafe", k=2)
    town.streams[1].add("Klaus meets Maria", "conversation")
    return found.ids.tolist(), found.score.tolist(), town.streams[1].frame().to_dict("records")


def test_frame_has_a_row_per_memory_with_its_citations():
    town = Town()
    stream = town.streams[0]
    stream.add("Isabella's party matters to her", "reflection", importance=9, cites=[0, 1])
    frame = stream.frame()
    assert frame.columns.tolist() == [
        "agent_id", "id", "kind", "text", "created", "last_access", "importance", "cites"
    ]  # fmt: skip
    assert frame["agent_id"].unique().tolist() == [stream.agent.unique_id]
    assert frame["id"].tolist() == [0, 1, 2, 3]
    assert frame["kind"].tolist() == ["observation"] * 3 + ["reflection"]
    assert frame["importance"].tolist() == [2.0, 3.0, 4.0, 9.0]
    assert frame["created"].tolist() == [0.0, 1.0, 2.0, 2.0]
    assert frame["cites"].tolist() == [[], [], [], [0, 1]]
    with_vectors = stream.frame(embeddings=True)
    assert len(with_vectors["embedding"][0]) == 256
    assert town.streams[1].frame()["importance"].tolist() == [6.0]


@pytest.mark.parametrize("name", ["memories.jsonl", "memories.jsonl.gz", "memories.parquet"])
def test_write_and_read_back(tmp_path, name):
    stream = Town().streams[0]
    stream.add("Isabella's party matters to her", "reflection", importance=9, cites=[0, 2])
    path = stream.write(tmp_path / name, embeddings=name.endswith("parquet"))
    read = pd.read_parquet(path) if name.endswith("parquet") else pd.read_json(path, lines=True)
    assert read["text"].tolist() == stream.frame()["text"].tolist()
    assert [list(c) for c in read["cites"]] == [[], [], [], [0, 2]]
    assert ("embedding" in read.columns) == name.endswith("parquet")
    with pytest.raises(ValueError, match=r"ending in one of \('.jsonl', '.jsonl.gz', '.parquet'\)"):
        stream.write(tmp_path / "memories.csv")


def test_a_pickled_stream_keeps_its_memories_without_spare_capacity():
    stream = Town().streams[0]
    for i in range(20):
        stream.add(f"memory {i}", importance=5)
    restored = pickle.loads(pickle.dumps(stream))
    assert len(restored._created) == len(restored) == 23  # the capacity, cut to the memories
    pd.testing.assert_frame_equal(restored.frame(embeddings=True), stream.frame(embeddings=True))
    restored.add("one more", importance=5)  # grows again
    assert restored[23].text == "one more"


def test_a_model_holding_streams_runs_on_in_a_spawned_process():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        in_worker = pool.submit(retrieved_in, Town()).result(timeout=120)
    here = retrieved_in(Town())
    assert in_worker == here
    ids, _, memories = here
    assert ids == [2, 1]  # newest and most important, then the most relevant
    assert [m["importance"] for m in memories] == [6.0, 6.0]


def test_an_empty_stream_has_an_empty_frame_with_the_columns(tmp_path):
    stream = MemoryStream(mesa.Agent(mesa.Model(rng=0)), HashingEmbeddings())
    frame = stream.frame()
    assert frame.empty
    assert frame.columns.tolist() == Town().streams[0].frame().columns.tolist()
    assert pd.read_json(stream.write(tmp_path / "none.jsonl"), lines=True).empty
