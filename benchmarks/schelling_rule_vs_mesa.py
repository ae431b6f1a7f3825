"""CPU time of the rule-only SchellingModel against Mesa's own Schelling example.

Both models get the same parameters and seed, are constructed, then stepped 100 times;
both collect their DataCollector at construction and after every step. Each run takes
place in a fresh process (Mesa models are not freed within a process, so earlier runs
would make the garbage collector of later ones slower), with a small warm-up run first.
Runs alternate ours, Mesa, ours, Mesa, ... and the ratio is ours / Mesa of each seed.

    python benchmarks/schelling_rule_vs_mesa.py
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from statistics import median

from _common import print_table, write_results
from mesa.examples import Schelling
from mesa.examples.basic.schelling.model import SchellingScenario

from mesa_llm_models.schelling import SchellingModel

PARAMETERS = {"density": 0.8, "minority_pc": 0.5, "homophily": 0.4, "radius": 1}
STEPS = 100
SEEDS = {20: range(10), 100: range(5)}  # grid side -> seeds


def build(kind: str, side: int, seed: int):
    if kind == "ours":
        return SchellingModel(width=side, height=side, rng=seed, **PARAMETERS)
    return Schelling(SchellingScenario(width=side, height=side, rng=seed, **PARAMETERS))


def run_once(kind: str, side: int, seed: int) -> dict:
    """Construct and step one model in this (fresh) process; CPU seconds and the end state."""
    warm_up = build(kind, 5, seed)
    for _ in range(2):
        warm_up.step()
    gc.collect()
    start = time.process_time()
    model = build(kind, side, seed)
    for _ in range(STEPS):
        model.step()
    cpu = time.process_time() - start
    return {"cpu_s": cpu, "agents": len(model.agents), "happy": model.happy}


def main() -> None:
    spawn = multiprocessing.get_context("spawn")
    rows = []
    with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
        for side, seeds in SEEDS.items():
            runs = []
            for seed in seeds:
                ours = pool.submit(run_once, "ours", side, seed).result()
                theirs = pool.submit(run_once, "mesa", side, seed).result()
                runs.append(
                    {"seed": seed, "ours": ours, "mesa": theirs, "ratio": ours["cpu_s"] / theirs["cpu_s"]}
                )
            rows.append(
                {
                    "grid": f"{side}x{side}",
                    "agents": round(median([r["ours"]["agents"] for r in runs])),
                    "seeds": len(runs),
                    "ours_cpu_s": median([r["ours"]["cpu_s"] for r in runs]),
                    "mesa_cpu_s": median([r["mesa"]["cpu_s"] for r in runs]),
                    "median_ratio": median([r["ratio"] for r in runs]),
                    "min_ratio": min(r["ratio"] for r in runs),
                    "max_ratio": max(r["ratio"] for r in runs),
                    "same_end_state": all(r["ours"]["happy"] == r["mesa"]["happy"] for r in runs),
                    "runs": runs,
                }
            )
    print_table(
        rows,
        [
            "grid",
            "agents",
            "seeds",
            "ours_cpu_s",
            "mesa_cpu_s",
            "median_ratio",
            "min_ratio",
            "max_ratio",
            "same_end_state",
        ],
    )
    write_results(
        "schelling_rule_vs_mesa",
        {
            **PARAMETERS,
            "steps": STEPS,
            "seeds": {f"{s}x{s}": list(v) for s, v in SEEDS.items()},
            "timer": "time.process_time, construction + steps, DataCollector every step",
            "target_ratio": 1.0,
        },
        rows,
    )


if __name__ == "__main__":
    main()
