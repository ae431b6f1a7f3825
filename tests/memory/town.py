"""A tiny town for the memory tests: residents of a Mesa model and embeddings from a table."""

import mesa
from langchain_core.embeddings import Embeddings


class TableEmbeddings(Embeddings):
    """Embeddings looked up in a table of texts (so cosine similarities are known by hand), counting calls."""

    def __init__(self, table: dict[str, list[float]]):
        self.table = table
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [self.table[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        return self.table[text]


def resident(model: mesa.Model | None = None) -> mesa.Agent:
    """A plain Mesa agent (of a new model unless one is given)."""
    return mesa.Agent(model if model is not None else mesa.Model(rng=0))


# Three memories and a query whose cosine similarities to them are 1.0, 0.6 and 0.0:
# |(1, 0)| = |(0.6, 0.8)| = |(0, 1)| = 1, and the query is (1, 0).
TABLE = {
    "coffee at Hobbs Cafe": [1.0, 0.0],
    "Isabella invites me to her party": [0.6, 0.8],
    "a walk in the park": [0.0, 1.0],
    "query": [1.0, 0.0],
}
