"""Schelling at scale: a step of 10k, 100k and 1M residents, rule-only, all-LLM and Mesa's own.

Each configuration runs in a fresh process (a Mesa model is never freed within a process,
and an earlier model's heap slows the garbage collections of a later one): it builds the
model, steps it ``--steps`` times, and reports the build time, the median step (wall and
CPU), the peak and final RSS, and the LLM accounting. Configurations alternate within a
size (Mesa, rule, the LLM kinds, then again for ``--rounds``), and every ratio is taken
against the rule-only run of the same round.

Kinds:
    mesa: Mesa's own Schelling example (``mesa.examples.Schelling``).
    rule: the rule-only ``SchellingModel``.
    llm-rule: every resident an LLM resident asking the rule-following chat model
        (``backend="rule"``, temperature 0, dedup on).
    llm-scoring: every resident asking the logistic scoring model (``backend="rule"`` with
        ``move_intercept``/``move_slope``; option scoring at temperature 1, each resident
        drawing its move).
    llm-local: every resident asking the embedded model (``backend="local"``, SmolLM2,
        option scoring at temperature 0).

    python benchmarks/scale.py [--sizes 10000 100000 1000000] [--kinds ...] [--steps 3]
        [--rounds 1] [--profile 100000] [--long 100000:1000] [--no-agent-table] [--name scale]

``--profile N`` adds the top lines of a cProfile of one all-LLM step (rule-following model)
at N residents. ``--long N:S`` runs S steps at N residents, rule-only and all-LLM with the records
streamed to disk (``CallLog(keep=False)``), and reports RSS after step 10 and at the end;
``--no-agent-table`` runs it without the data collector's agent table (three values per
resident per step, which grows in any Mesa run), so that what remains is the LLM path's own.
Results: benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import multiprocessing
import os
import pstats
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import median
from typing import Any

from _common import print_table, write_results

PARAMETERS = {"density": 0.8, "minority_pc": 0.5, "homophily": 0.4, "radius": 1}
LOGISTIC = {"move_intercept": 2.0, "move_slope": -6.0}  # threshold 1/3
KINDS = ("mesa", "rule", "llm-rule", "llm-scoring", "llm-local")


def rss_mb() -> float:
    """The resident set size of this process now, in MB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def build(kind: str, side: int, seed: int, log: Any = None) -> Any:
    """The model of ``kind`` on a ``side`` x ``side`` grid."""
    if kind == "mesa":
        from mesa.examples import Schelling
        from mesa.examples.basic.schelling.model import SchellingScenario

        return Schelling(SchellingScenario(width=side, height=side, rng=seed, **PARAMETERS))
    from mesa_llm import LLMRuntime
    from mesa_llm_models.schelling import SchellingModel

    options: dict[str, Any] = {"width": side, "height": side, "rng": seed, **PARAMETERS}
    if kind != "rule":
        options["llm_share"] = 1.0
    if kind == "llm-scoring":
        options.update(LOGISTIC)
    if kind in ("llm-rule", "llm-scoring"):
        options["backend"] = "rule"
    if kind == "llm-local":
        options["runtime"] = LLMRuntime("local", log=log) if log is not None else None
    elif log is not None:
        from mesa_llm_models.schelling.rule_backend import rule_backend_of

        backend = rule_backend_of({**PARAMETERS, **(LOGISTIC if kind == "llm-scoring" else {})})
        options.pop("backend", None)
        options["runtime"] = LLMRuntime(backend, log=log)
    return SchellingModel(**options)


def run_once(kind: str, side: int, steps: int, seed: int) -> dict[str, Any]:
    """Build and step one model in this (fresh) process."""
    warm = build(kind, 8, seed)  # imports and first-use costs, untimed
    warm.step()
    del warm
    gc.collect()
    before = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    model = build(kind, side, seed)
    build_s, build_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    built = rss_mb()
    walls, cpus = [], []
    for _ in range(steps):
        started, cpu = time.perf_counter(), time.process_time()
        model.step()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    row: dict[str, Any] = {
        "kind": kind,
        "residents": len(model.agents),
        "build_s": build_s,
        "build_cpu_s": build_cpu_s,
        "step_s": median(walls),
        "step_cpu_s": median(cpus),
        "steps_s": walls,
        "rss_built_mb": built - before,
        "rss_end_mb": rss_mb() - before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    }
    runtime = getattr(model, "llm", None)
    if runtime is not None and kind != "rule":
        totals = runtime.log.totals
        row.update(decisions=totals.decisions, calls=totals.calls, records_kept=len(runtime.log.records))
    return row


def profile_step(side: int, seed: int, top: int = 12) -> list[str]:
    """The top lines (by own time) of a cProfile of one all-LLM step, rule-following model."""
    model = build("llm-rule", side, seed)
    model.step()
    profiler = cProfile.Profile()
    profiler.enable()
    model.step()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return lines[start : start + top + 1]


def long_run(kind: str, side: int, steps: int, seed: int, agent_table: bool = True) -> dict[str, Any]:
    """RSS over a long run with the records streamed to disk and not kept in memory.

    Without ``agent_table`` the model's data collector keeps its model reporters only.
    """
    from mesa_llm import CallLog

    with tempfile.TemporaryDirectory() as folder:
        log = CallLog(path=Path(folder) / "records", keep=False)
        model = build(kind, side, seed, log=log)
        if not agent_table:
            model.datacollector.agent_reporters.clear()  # Mesa's collect() skips the agent table then
        rss = {}
        started = time.perf_counter()
        for step in range(1, steps + 1):
            model.step()
            if step in (1, 10) or step % 100 == 0 or step == steps:
                rss[step] = rss_mb()
        return {
            "kind": kind,
            "residents": len(model.agents),
            "steps": steps,
            "agent_table": agent_table,
            "wall_s": time.perf_counter() - started,
            "rss_mb": rss,
            "end_over_step_10": rss[steps] / rss[10],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, help="residents of a profiled step (0: none)")
    parser.add_argument("--long", default="", help="RESIDENTS:STEPS of a long run (streamed records)")
    parser.add_argument("--no-agent-table", action="store_true", help="long run: no agent reporters")
    parser.add_argument("--name", default="scale")
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
        for size in args.sizes:
            side = round(math.sqrt(size / PARAMETERS["density"]))
            for round_ in range(args.rounds):
                runs = {}
                for kind in args.kinds:
                    row = pool.submit(run_once, kind, side, args.steps, args.seed).result()
                    runs[kind] = row = {"size": size, "round": round_, **row}
                    print({k: v for k, v in row.items() if k != "steps_s"}, flush=True)
                rule = runs.get("rule")
                for row in runs.values():
                    if rule is not None:
                        row["step_over_rule"] = row["step_s"] / rule["step_s"]
                        row["build_over_rule"] = row["build_s"] / rule["build_s"]
                        row["kb_per_resident_beyond_rule"] = (
                            (row["rss_end_mb"] - rule["rss_end_mb"]) * 1e3 / row["residents"]
                        )
                    if "mesa" in runs:
                        row["build_over_mesa"] = row["build_s"] / runs["mesa"]["build_s"]
                    rows.append(row)
        if args.profile:
            side = round(math.sqrt(args.profile / PARAMETERS["density"]))
            extra["profile"] = pool.submit(profile_step, side, args.seed).result()
            print("\n".join(extra["profile"]))
        if args.long:
            extra["long"] = []
            for kind in ("rule", "llm-rule"):
                residents, steps = (int(part) for part in args.long.split(":"))
                side = round(math.sqrt(residents / PARAMETERS["density"]))
                run = pool.submit(long_run, kind, side, steps, args.seed, not args.no_agent_table)
                extra["long"].append(run.result())
                print(extra["long"][-1])
    print_table(
        rows,
        [
            "size",
            "kind",
            "build_s",
            "step_s",
            "step_over_rule",
            "build_over_mesa",
            "rss_end_mb",
            "kb_per_resident_beyond_rule",
            "calls",
        ],
    )
    parameters = {**vars(args), "grid_parameters": PARAMETERS, "logistic": LOGISTIC, "load": os.getloadavg()}
    write_results(args.name, parameters, rows, **extra)


if __name__ == "__main__":
    main()
