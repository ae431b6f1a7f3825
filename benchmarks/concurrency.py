"""Wall time of a step with 200 LLM residents and a 50 ms backend, against the ideal.

A 20x20 Schelling model (density 0.8) has exactly 200 LLM residents (100 of each group,
``llm_counts``) among 318 residents (seed 0); the others are rule residents. The backend is a
``FaultyChatModel`` around the rule-following model with 50 ms latency per call and no
faults; dedup is off, so every LLM resident makes one call per step. With at most C calls
in flight the ideal step takes latency x ceil(200 / C). Each measurement builds a fresh
model (same seed), then times one ``model.step()`` with ``perf_counter`` (after an untimed
full garbage collection: the models of earlier measurements are never freed); rounds
interleave the values of C, and the median round is reported, with the backend's peak
number of calls in flight. The same step with a zero-latency backend (zero_latency_step_s)
is the CPU work of the step, which one event loop thread cannot overlap with itself.

    python benchmarks/concurrency.py
"""

from __future__ import annotations

import math
from statistics import median

from _common import print_table, timed, write_results

from mesa_llm import FaultyChatModel, LLMRuntime
from mesa_llm_models.schelling import SchellingModel, rule_following_backend

LLM_COUNTS = {0: 100, 1: 100}
LATENCY = 0.05
CONCURRENCY = (10, 25, 50, 100)
ROUNDS = 5
SEED = 0
TARGET = 1.2


def measure(max_concurrency: int, latency: float = LATENCY) -> dict:
    backend = FaultyChatModel(inner=rule_following_backend(0.4), latency=latency)
    runtime = LLMRuntime(backend, dedup=False, max_concurrency=max_concurrency)
    model = SchellingModel(width=20, height=20, density=0.8, llm_counts=LLM_COUNTS, runtime=runtime, rng=SEED)
    _, wall = timed(model.step)
    return {
        "wall_s": wall,
        "residents": len(model.agents),
        "calls": backend.calls,
        "peak_in_flight": backend.peak_in_flight,
    }


def main() -> None:
    measure(CONCURRENCY[-1])  # warm-up: starts the runtime's event loop thread
    results: dict[int, list[dict]] = {c: [] for c in CONCURRENCY}
    cpu_bound: dict[int, list[float]] = {c: [] for c in CONCURRENCY}
    for _ in range(ROUNDS):
        for c in CONCURRENCY:
            results[c].append(measure(c))
            cpu_bound[c].append(measure(c, latency=0.0)["wall_s"])
    rows = []
    n = sum(LLM_COUNTS.values())
    for c, runs in results.items():
        ideal = LATENCY * math.ceil(n / c)
        wall = median([r["wall_s"] for r in runs])
        rows.append(
            {
                "max_concurrency": c,
                "llm_residents": n,
                "residents": runs[0]["residents"],
                "calls": runs[0]["calls"],
                "ideal_s": ideal,
                "step_wall_s": wall,
                "ratio": wall / ideal,
                "zero_latency_step_s": median(cpu_bound[c]),
                "peak_in_flight": max(r["peak_in_flight"] for r in runs),
                "meets_target": wall / ideal <= TARGET,
                "walls_s": [r["wall_s"] for r in runs],
            }
        )
    print_table(
        rows,
        [
            "max_concurrency",
            "llm_residents",
            "residents",
            "calls",
            "ideal_s",
            "step_wall_s",
            "ratio",
            "zero_latency_step_s",
            "peak_in_flight",
            "meets_target",
        ],
    )
    write_results(
        "concurrency",
        {
            "grid": "20x20",
            "density": 0.8,
            "llm_counts": LLM_COUNTS,
            "latency_s": LATENCY,
            "dedup": False,
            "rounds": ROUNDS,
            "seed": SEED,
            "timed": "one model.step() with perf_counter (includes observing, moving, collecting)",
            "target_ratio": TARGET,
        },
        rows,
    )


if __name__ == "__main__":
    main()
