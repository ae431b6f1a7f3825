"""Sweeps (mesa_llm.experiments): against mesa.batch_run, over worker processes, on Dask, per run, warm.

Five measurements, each a section of ``results/sweeps.json``:

1. ``batch_run``: a rule-only Schelling sweep through ``Sweep(workers=2)``, without and with
   an output folder, against ``mesa.batch_run(SchellingModel, number_processes=2)`` on the
   same parameters and seeds (``data_collection_period`` -1, its default, and 1, every step
   as the sweep keeps); the final segregation of every run must be the same in both.
2. ``scaling``: CPU-bound rule-only runs (about 1 s each), ``workers=2`` against ``workers=1``.
3. ``dask``: the same sweep on ``dask_executor(workers=2)`` (a ``LocalCluster``) against
   ``process_pool(2)``, each executor started and warmed up first (reported separately).
   Beside the wall time: the CPU seconds of the sweep's process (where a ``LocalCluster``'s
   scheduler and nannies run, taking CPU from the workers) and the runs' own seconds in
   the workers (the sum of their ``elapsed_s``), which tell the executor's own cost from
   runs slowed down where they run.
4. ``overhead``: trivial runs (4x4, 1 step) through an in-process sweep, without and with a
   folder, and on a started pool of one worker, against ``mesa_llm.lab.execute`` called
   directly on the same configs.
5. ``warm_cache``: an all-LLM sweep (the rule-following chat model, and a ``ScoringChatModel``
   at temperature 1) rerun into a new folder with the same cache: no call, the same frames.

Every timed measurement runs in a fresh process (``spawn``, one per measurement): Mesa
never frees a model in a process, and a process that ran earlier measurements collects
garbage more slowly. So each one pays what a script that runs one sweep pays, worker
start-up included. The variants compared run in a new shuffled order in each round, and
ratios are taken within a round (median over the rounds). Times are wall clock.

    python benchmarks/sweeps.py            # the full benchmark, a few minutes on 2 idle cores
    python benchmarks/sweeps.py --quick    # toy sizes, once each: a smoke run, results/sweeps_quick.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from _common import print_table, timed, write_results
from mesa import batch_run

from mesa_llm import ScoringChatModel
from mesa_llm.experiments import TIMING_COLUMNS, Sweep, dask_executor, process_pool
from mesa_llm.lab import execute
from mesa_llm_models.schelling import SchellingModel

# what differs between a cold run and a warm rerun of an LLM sweep, besides the timing columns
ACCOUNTING = ("llm_calls", "llm_cache_hits", "llm_tokens_in", "llm_tokens_out")
TARGETS = {"batch_run": 1.0, "scaling": 1.8, "dask": 1.1, "overhead_ms": 50.0}


@dataclass(frozen=True)
class Sizes:
    """The sizes of the five measurements."""

    side: int = 20  # 1. against batch_run
    steps: int = 100
    homophily: tuple[float, ...] = (0.3, 0.5)
    seeds: int = 20
    rounds: int = 5
    cpu_side: int = 40  # 2. and 3.: homophily 0.8 never settles, so every run takes all its steps
    cpu_steps: int = 100
    cpu_seeds: int = 12
    cpu_rounds: int = 3
    trivial_runs: int = 200  # 4.
    trivial_rounds: int = 5
    llm_side: int = 20  # 5.
    llm_steps: int = 20
    llm_seeds: int = 4


FULL = Sizes()
QUICK = Sizes(
    side=10,
    steps=20,
    seeds=3,
    rounds=1,
    cpu_side=20,
    cpu_steps=20,
    cpu_seeds=4,
    cpu_rounds=1,
    trivial_runs=20,
    trivial_rounds=1,
    llm_side=8,
    llm_steps=5,
    llm_seeds=2,
)


# -- the sweeps -------------------------------------------------------------------------------


def rule_sweep(sizes: Sizes) -> Sweep:
    """Section 1's rule-only Schelling sweep: homophily x seeds."""
    return Sweep(
        "schelling",
        fixed={"width": sizes.side, "height": sizes.side},
        axes={"homophily": list(sizes.homophily), "llm_share": [0.0]},
        seeds=range(sizes.seeds),
        steps=sizes.steps,
        backend="rule",
    )


def cpu_sweep(sizes: Sizes) -> Sweep:
    """Sections 2 and 3: rule-only runs that each take all their steps (about 1 s)."""
    return Sweep(
        "schelling",
        fixed={"width": sizes.cpu_side, "height": sizes.cpu_side, "homophily": 0.8},
        axes={"llm_share": [0.0]},
        seeds=range(sizes.cpu_seeds),
        steps=sizes.cpu_steps,
        backend="rule",
    )


def trivial_sweep(runs: int) -> Sweep:
    """Runs that cost next to nothing (4x4, 1 step), so a sweep's own cost shows."""
    return Sweep(
        "schelling",
        fixed={"width": 4, "height": 4},
        axes={"llm_share": [0.0]},
        seeds=range(runs),
        steps=1,
        backend="rule",
    )


_COUNTS = re.compile(
    r"(\d+) of them (?:is|are) occupied by people of your own group, (\d+) by people of the other"
)


def similarity_scores(messages: Sequence[Any], options: Sequence[str]) -> dict[str, float]:
    """Move with probability 1 - (share of the resident's own group), read from a neutral prompt."""
    match = next(filter(None, (_COUNTS.search(str(m.content)) for m in messages)))
    same, other = int(match.group(1)), int(match.group(2))
    p_move = 1 - same / (same + other) if same + other else 0.5
    return {"move": p_move, "stay": 1 - p_move}


def llm_sweep(sizes: Sizes) -> Sweep:
    """Section 5: all-LLM runs, the rule-following chat model and a scoring one sampled at temperature 1."""
    scoring = ScoringChatModel(scores=similarity_scores, model_name="similarity", temperature=1.0)
    return Sweep(
        "schelling",
        fixed={"width": sizes.llm_side, "height": sizes.llm_side},
        axes={"llm_share": [1.0], "backend": {"rule": "rule", "scoring": scoring}},
        seeds=range(sizes.llm_seeds),
        steps=sizes.llm_steps,
    )


def final_segregation(steps: pd.DataFrame) -> dict[tuple[float, int], float]:
    """Each run's segregation after its last step, by (homophily, seed)."""
    last = steps.sort_values("step").groupby(["homophily", "seed"])["segregation"].last()
    return {(float(h), int(s)): float(v) for (h, s), v in last.items()}


def untimed(frame: pd.DataFrame, also: Sequence[str] = ()) -> pd.DataFrame:
    """The frame without its timing columns (and ``also``): what two executions must share."""
    return frame.drop(columns=[c for c in (*TIMING_COLUMNS, *also) if c in frame])


def timed_call(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``'s result, CPU seconds of this process and wall seconds (after an untimed gc)."""
    box = []
    cpu, wall = timed(lambda: box.append(fn()))
    return box[0], cpu, wall


# -- one measurement each, run in a fresh process ---------------------------------------------------


def time_sweep(sizes: Sizes, with_folder: bool) -> dict[str, Any]:
    """Section 1: the sweep on 2 worker processes, into a new folder or none."""
    scratch = Path(tempfile.mkdtemp(prefix="sweeps-bench-"))
    try:
        out = scratch / "sweep" if with_folder else None
        result, _, wall = timed_call(lambda: rule_sweep(sizes).run(workers=2, out=out))
    finally:
        shutil.rmtree(scratch)
    assert result.complete, result.failures
    return {"wall_s": wall, "final": final_segregation(result.steps)}


def time_batch_run(sizes: Sizes, period: int) -> dict[str, Any]:
    """Section 1: mesa.batch_run on 2 processes, the same parameters and seeds (``rng`` per run)."""
    parameters = {"width": sizes.side, "height": sizes.side, "homophily": list(sizes.homophily)}
    parameters["llm_share"] = 0.0
    rows, _, wall = timed_call(
        lambda: batch_run(
            SchellingModel,
            parameters,
            number_processes=2,
            rng=list(range(sizes.seeds)),
            max_steps=sizes.steps,
            data_collection_period=period,
            display_progress=False,
        )
    )
    last: dict[tuple[float, int], tuple[int, float]] = {}
    for row in rows:  # one row per agent and collected step
        key = (float(row["homophily"]), int(row["rng"]))
        if key not in last or row["Step"] > last[key][0]:
            last[key] = (row["Step"], float(row["segregation"]))
    return {"wall_s": wall, "final": {key: value for key, (_, value) in last.items()}}


def time_workers(sizes: Sizes, workers: int) -> dict[str, Any]:
    """Section 2: the CPU-bound sweep on ``workers`` processes (1: in this process)."""
    result, _, wall = timed_call(lambda: cpu_sweep(sizes).run(workers=workers))
    assert result.complete, result.failures
    return {"wall_s": wall, "summary": untimed(result.summary), "steps": result.steps}


def time_executor(sizes: Sizes, kind: str) -> dict[str, Any]:
    """Section 3: start ``kind`` (dask or pool), warm it up with trivial runs, then time the sweep on it."""
    started = time.perf_counter()
    with dask_executor(workers=2) if kind == "dask" else process_pool(2) as executor:
        ready = time.perf_counter()
        trivial_sweep(8).run(executor=executor)  # every worker imports the scenario
        warm = time.perf_counter()
        result, cpu, wall = timed_call(lambda: cpu_sweep(sizes).run(executor=executor))
        closing = time.perf_counter()
    assert result.complete, result.failures
    return {
        "start_s": ready - started,
        "warm_up_s": warm - ready,
        "wall_s": wall,
        "shutdown_s": time.perf_counter() - closing,
        "driver_cpu_s": cpu,
        "runs_s": float(result.summary["elapsed_s"].sum()),
        "summary": untimed(result.summary),
        "steps": result.steps,
    }


def time_trivial(runs: int, kind: str) -> dict[str, Any]:
    """Section 4: ``runs`` trivial runs: ``direct`` (lab.execute), ``sweep``, ``folder`` or ``pool``.

    ``sweep`` and ``folder`` run in this process; ``pool`` on a started process pool of one
    worker (the transfer to a worker and back), never recycled: CPython 3.11 and 3.12's
    ``max_tasks_per_child`` can deadlock once a worker is replaced (python/cpython#115634).
    """
    sweep = trivial_sweep(runs)
    configs = [task.config for task in sweep.tasks()]
    for config in configs[:3]:  # untimed warm-up: the first run of a process pays for lazy imports
        execute(config)
    scratch = Path(tempfile.mkdtemp(prefix="sweeps-bench-"))
    try:
        if kind == "direct":
            _, cpu, wall = timed_call(lambda: [execute(config) for config in configs])
        elif kind == "pool":
            with process_pool(1) as executor:
                trivial_sweep(3).run(executor=executor)  # untimed: start the worker
                _, cpu, wall = timed_call(lambda: sweep.run(executor=executor))
        else:
            out = scratch / "sweep" if kind == "folder" else None
            _, cpu, wall = timed_call(lambda: sweep.run(out=out))
    finally:
        shutil.rmtree(scratch)
    return {"wall_s": wall, "cpu_s": cpu}


# -- the sections ---------------------------------------------------------------------------------


def rounds_of(
    pool: ProcessPoolExecutor, variants: dict[str, tuple[Any, ...]], rounds: int, seed: int
) -> list[dict[str, Any]]:
    """Each round's result of every variant (a function and its arguments), each in a fresh process.

    The variants run in a new shuffled order in each round.
    """
    order, results = list(variants), []
    shuffle = random.Random(seed)
    for _ in range(rounds):
        shuffle.shuffle(order)
        results.append({name: pool.submit(*variants[name]).result() for name in order})
    return results


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def against_batch_run(pool: ProcessPoolExecutor, sizes: Sizes) -> dict[str, Any]:
    """Section 1: the sweep, without and with a folder, against batch_run (period -1 and 1)."""
    variants = {
        "sweep": (time_sweep, sizes, False),
        "sweep_folder": (time_sweep, sizes, True),
        "batch_run_-1": (time_batch_run, sizes, -1),
        "batch_run_1": (time_batch_run, sizes, 1),
    }
    rounds = rounds_of(pool, variants, sizes.rounds, seed=1)
    finals = [r[name]["final"] for r in rounds for name in variants]
    ratios = {
        "sweep / batch_run(-1)": ("sweep", "batch_run_-1"),
        "sweep_folder / batch_run(-1)": ("sweep_folder", "batch_run_-1"),
        "sweep / batch_run(1)": ("sweep", "batch_run_1"),
        "sweep_folder / batch_run(1)": ("sweep_folder", "batch_run_1"),
    }
    section = {
        "runs": len(sizes.homophily) * sizes.seeds,
        "wall_s": {name: spread([r[name]["wall_s"] for r in rounds]) for name in variants},
        "ratios": {
            label: spread([r[a]["wall_s"] / r[b]["wall_s"] for r in rounds])
            for label, (a, b) in ratios.items()
        },
        "same_final_segregation": all(final == finals[0] for final in finals),
        "runs_compared": len(finals[0]),
        "rounds": [{name: r[name]["wall_s"] for name in variants} for r in rounds],
        "target": TARGETS["batch_run"],
    }
    worst = max(
        section["ratios"][label]["median"]
        for label in ("sweep / batch_run(-1)", "sweep_folder / batch_run(-1)")
    )
    section["meets_target"] = worst <= TARGETS["batch_run"] and section["same_final_segregation"]
    return section


def same_frames(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two measurements' sweeps gave the same summary (untimed) and steps frames."""
    return a["summary"].equals(b["summary"]) and a["steps"].equals(b["steps"])


def scaling(pool: ProcessPoolExecutor, sizes: Sizes) -> dict[str, Any]:
    """Section 2: ``workers=2`` (start-up included) and a started pool of 2, against ``workers=1``."""
    variants = {
        "workers=1": (time_workers, sizes, 1),
        "workers=2": (time_workers, sizes, 2),
        "started pool of 2": (time_executor, sizes, "pool"),
    }
    rounds = rounds_of(pool, variants, sizes.cpu_rounds, seed=2)

    def speedup(name: str) -> dict[str, float]:
        return spread([r["workers=1"]["wall_s"] / r[name]["wall_s"] for r in rounds])

    one = statistics.median(r["workers=1"]["wall_s"] for r in rounds)
    section = {
        "runs": sizes.cpu_seeds,
        "wall_s": {name: spread([r[name]["wall_s"] for r in rounds]) for name in variants},
        "seconds_per_run_1_worker": one / sizes.cpu_seeds,
        "speedup": speedup("workers=2"),
        "speedup_started_pool": speedup("started pool of 2"),
        "pool_start_s": spread([r["started pool of 2"]["warm_up_s"] for r in rounds]),
        "same_frames": all(
            same_frames(r["workers=1"], r[name])
            for r in rounds
            for name in ("workers=2", "started pool of 2")
        ),
        "target": TARGETS["scaling"],
    }
    section["meets_target"] = (
        section["speedup_started_pool"]["median"] >= TARGETS["scaling"] and section["same_frames"]
    )
    section["meets_target_with_start_up"] = (
        section["speedup"]["median"] >= TARGETS["scaling"] and section["same_frames"]
    )
    return section


def on_dask(pool: ProcessPoolExecutor, sizes: Sizes) -> dict[str, Any]:
    """Section 3: a started LocalCluster of 2 against a started process pool of 2."""
    variants = {"dask": (time_executor, sizes, "dask"), "process_pool": (time_executor, sizes, "pool")}
    rounds = rounds_of(pool, variants, sizes.cpu_rounds, seed=3)
    phases = ("start_s", "warm_up_s", "wall_s", "shutdown_s", "driver_cpu_s", "runs_s")
    section = {
        "runs": sizes.cpu_seeds,
        **{phase: {name: spread([r[name][phase] for r in rounds]) for name in variants} for phase in phases},
        "ratio": spread([r["dask"]["wall_s"] / r["process_pool"]["wall_s"] for r in rounds]),
        "same_frames": all(same_frames(r["dask"], r["process_pool"]) for r in rounds),
        "target": TARGETS["dask"],
    }
    section["meets_target"] = section["ratio"]["median"] <= TARGETS["dask"] and section["same_frames"]
    return section


def overhead(pool: ProcessPoolExecutor, sizes: Sizes) -> dict[str, Any]:
    """Section 4: (sweep - direct) / runs, without and with a folder (wall and CPU), on a pool of 1 (wall)."""
    runs = sizes.trivial_runs
    variants = {kind: (time_trivial, runs, kind) for kind in ("direct", "sweep", "folder", "pool")}
    rounds = rounds_of(pool, variants, sizes.trivial_rounds, seed=4)

    def per_run_ms(kind: str, clock: str) -> dict[str, float]:
        return spread([(r[kind][clock] - r["direct"][clock]) / runs * 1000 for r in rounds])

    section = {
        "runs": runs,
        "direct_ms_per_run": spread([r["direct"]["wall_s"] / runs * 1000 for r in rounds]),
        "overhead_ms": per_run_ms("sweep", "wall_s"),
        "overhead_ms_with_folder": per_run_ms("folder", "wall_s"),
        "overhead_cpu_ms": per_run_ms("sweep", "cpu_s"),
        "overhead_cpu_ms_with_folder": per_run_ms("folder", "cpu_s"),
        "overhead_ms_on_a_pool_of_1": per_run_ms("pool", "wall_s"),
        "target": TARGETS["overhead_ms"],
    }
    measured = ("overhead_ms", "overhead_ms_with_folder", "overhead_ms_on_a_pool_of_1")
    worst = max(section[name]["median"] for name in measured)
    section["meets_target"] = worst <= TARGETS["overhead_ms"]
    return section


def warm_cache(sizes: Sizes) -> dict[str, Any]:
    """A cold sweep and its rerun into a new folder with the same cache, on 2 worker processes."""
    sweep = llm_sweep(sizes)
    scratch = Path(tempfile.mkdtemp(prefix="sweeps-bench-"))
    try:
        cache = scratch / "cache.sqlite"
        cold, _, cold_s = timed_call(lambda: sweep.run(workers=2, cache=cache, out=scratch / "cold"))
        warm, _, warm_s = timed_call(lambda: sweep.run(workers=2, cache=cache, out=scratch / "warm"))
    finally:
        shutil.rmtree(scratch)
    same = all(
        untimed(getattr(cold, frame), ACCOUNTING).equals(untimed(getattr(warm, frame), ACCOUNTING))
        for frame in ("steps", "summary")
    )
    answered = cold.summary["llm_calls"] + cold.summary["llm_cache_hits"]
    section = {
        "runs": len(sweep),
        "complete": cold.complete and warm.complete,
        "cold_calls": int(cold.summary["llm_calls"].sum()),
        "cold_cache_hits": int(cold.summary["llm_cache_hits"].sum()),
        "decisions": int(cold.summary["llm_decisions"].sum()),
        "warm_calls": int(warm.summary["llm_calls"].sum()),
        "warm_cache_hits": int(warm.summary["llm_cache_hits"].sum()),
        "every_answer_from_the_cache": bool((warm.summary["llm_cache_hits"] == answered).all()),
        "identical_frames": same,
        "cold_s": cold_s,
        "warm_s": warm_s,
    }
    section["meets_target"] = (
        section["complete"] and section["warm_calls"] == 0 and section["cold_calls"] > 0 and same
    )
    return section


def dig(section: dict[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` of nested dicts."""
    for key in path:
        section = section[key]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="toy sizes, every section once: a smoke run, not a result"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
        sections = {
            "batch_run": against_batch_run(pool, sizes),
            "scaling": scaling(pool, sizes),
            "dask": on_dask(pool, sizes),
            "overhead": overhead(pool, sizes),
        }
    sections["warm_cache"] = warm_cache(sizes)
    figures = [  # section, figure, where in the section, whether its target is met (None: no target)
        ("batch_run", "sweep / batch_run(-1)", ("ratios", "sweep / batch_run(-1)"), "meets_target"),
        (
            "batch_run",
            "sweep+folder / batch_run(-1)",
            ("ratios", "sweep_folder / batch_run(-1)"),
            "meets_target",
        ),
        ("batch_run", "sweep / batch_run(1)", ("ratios", "sweep / batch_run(1)"), None),
        ("scaling", "speedup, workers=2 / 1", ("speedup",), "meets_target_with_start_up"),
        ("scaling", "speedup, started pool of 2 / 1", ("speedup_started_pool",), "meets_target"),
        ("dask", "dask / process_pool", ("ratio",), "meets_target"),
        ("dask", "LocalCluster start (s)", ("start_s", "dask"), None),
        ("overhead", "ms per run", ("overhead_ms",), "meets_target"),
        ("overhead", "ms per run, folder", ("overhead_ms_with_folder",), "meets_target"),
        ("overhead", "ms per run, pool of 1", ("overhead_ms_on_a_pool_of_1",), "meets_target"),
    ]
    rows = [
        {"section": name, "figure": figure, **dig(sections[name], path), "met": sections[name].get(met, "")}
        for name, figure, path, met in figures
    ]
    warm = sections["warm_cache"]
    rows.append(
        {
            "section": "warm_cache",
            "figure": "warm calls",
            "median": warm["warm_calls"],
            "met": warm["meets_target"],
        }
    )
    print_table(rows, ["section", "figure", "median", "min", "max", "met"])
    write_results(
        "sweeps_quick" if args.quick else "sweeps",
        {
            **asdict(sizes),
            "quick": args.quick,
            "targets": TARGETS,
            "timer": "wall clock, each measurement in a fresh process",
        },
        rows,
        **sections,
        total_s=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
