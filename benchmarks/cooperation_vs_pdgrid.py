"""CPU time of the rule-only CooperationModel against Mesa's own PdGrid example.

``CooperationModel.pd_grid(activation, ...)`` reproduces ``mesa.examples.PdGrid`` (same
rules, same trajectory for the same seed). Both are built on a 50x50 torus, then stepped
100 times, for each of PdGrid's activation orders; both collect their DataCollector at
construction and after every step. Each run takes place in a fresh process (Mesa models
are not freed within a process, so earlier runs would make the garbage collector of later
ones slower), with a small warm-up run first. Runs alternate ours and PdGrid seed by seed
(who goes first alternates too), and the ratio is ours / PdGrid of each seed.

    python benchmarks/cooperation_vs_pdgrid.py
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import median

from _common import print_table, write_results
from mesa.examples import PdGrid

from mesa_llm_models.cooperation import CooperationModel, Move

ACTIVATIONS = ("Sequential", "Random", "Simultaneous")
SIDE = 50
STEPS = 100
SEEDS = range(5)


SOURCES = ("models/cooperation/model.py", "models/cooperation/agents.py")


def source_digest() -> str:
    """A short digest of the cooperation model's source (the model is under active change)."""
    root = Path(__file__).parent.parent
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:12]


def build(kind: str, activation: str, side: int, seed: int):
    if kind == "ours":
        return CooperationModel.pd_grid(activation, width=side, height=side, rng=seed)
    return PdGrid(width=side, height=side, activation_order=activation, rng=seed)


def cooperating(kind: str, model) -> tuple[int, list[int]]:
    """The number of cooperating players now, and the series the DataCollector recorded."""
    if kind == "ours":
        now = sum(p.move is Move.COOPERATE for p in model.agents)
        column = "cooperating"
    else:
        now = sum(a.move == "C" for a in model.agents)
        column = "Cooperating_Agents"
    return now, [int(v) for v in model.datacollector.get_model_vars_dataframe()[column]]


def run_once(kind: str, activation: str, side: int, seed: int) -> dict:
    """Construct and step one model in this (fresh) process; CPU seconds and the end state."""
    warm_up = build(kind, activation, 5, seed)
    for _ in range(2):
        warm_up.step()
    gc.collect()
    full_before = gc.get_stats()[2]["collections"]
    start = time.process_time()
    model = build(kind, activation, side, seed)
    for _ in range(STEPS):
        model.step()
    cpu = time.process_time() - start
    full_gcs = gc.get_stats()[2]["collections"] - full_before
    now, series = cooperating(kind, model)
    return {"cpu_s": cpu, "full_gcs": full_gcs, "cooperating": now, "series": series}


def main() -> None:
    spawn = multiprocessing.get_context("spawn")
    runs: dict[str, list[dict]] = {a: [] for a in ACTIVATIONS}
    load_before = os.getloadavg()
    started = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
        for seed in SEEDS:
            for activation in ACTIVATIONS:
                order = ("ours", "pdgrid") if seed % 2 == 0 else ("pdgrid", "ours")
                result = {k: pool.submit(run_once, k, activation, SIDE, seed).result() for k in order}
                ours, theirs = result["ours"], result["pdgrid"]
                runs[activation].append(
                    {
                        "seed": seed,
                        "first": order[0],
                        "ratio": ours["cpu_s"] / theirs["cpu_s"],
                        "same_final_cooperating": ours["cooperating"] == theirs["cooperating"],
                        "same_series": ours["series"] == theirs["series"],
                        "ours": {k: v for k, v in ours.items() if k != "series"},
                        "pdgrid": {k: v for k, v in theirs.items() if k != "series"},
                    }
                )
    rows = [
        {
            "activation": activation,
            "grid": f"{SIDE}x{SIDE}",
            "seeds": len(rs),
            "ours_cpu_s": median(r["ours"]["cpu_s"] for r in rs),
            "pdgrid_cpu_s": median(r["pdgrid"]["cpu_s"] for r in rs),
            "median_ratio": median(r["ratio"] for r in rs),
            "min_ratio": min(r["ratio"] for r in rs),
            "max_ratio": max(r["ratio"] for r in rs),
            "ours_full_gcs": median(r["ours"]["full_gcs"] for r in rs),
            "pdgrid_full_gcs": median(r["pdgrid"]["full_gcs"] for r in rs),
            "final_cooperating": [r["ours"]["cooperating"] for r in rs],
            "same_final_cooperating": all(r["same_final_cooperating"] for r in rs),
            "same_series": all(r["same_series"] for r in rs),
            "target_met": median(r["ratio"] for r in rs) <= 1.0,
            "runs": rs,
        }
        for activation, rs in runs.items()
    ]
    print_table(
        rows,
        [
            "activation",
            "seeds",
            "ours_cpu_s",
            "pdgrid_cpu_s",
            "median_ratio",
            "min_ratio",
            "max_ratio",
            "ours_full_gcs",
            "pdgrid_full_gcs",
            "same_final_cooperating",
            "same_series",
        ],
    )
    elapsed = time.perf_counter() - started
    print(f"\n{elapsed:.0f} s in all")
    write_results(
        "cooperation_vs_pdgrid",
        {
            "width": SIDE,
            "height": SIDE,
            "steps": STEPS,
            "seeds": list(SEEDS),
            "activations": list(ACTIVATIONS),
            "ours": "CooperationModel.pd_grid(activation, width, height, rng=seed)",
            "theirs": "mesa.examples.PdGrid(width, height, activation_order=activation, rng=seed)",
            "timer": "time.process_time, construction + steps, DataCollector every step",
            "target_ratio": 1.0,
            "model_source_sha256": source_digest(),
            "load_average_before": load_before,
        },
        rows,
        elapsed_s=elapsed,
    )
    if not all(r["same_final_cooperating"] for r in rows):
        raise SystemExit("the models ended with different numbers of cooperating players")


if __name__ == "__main__":
    main()
