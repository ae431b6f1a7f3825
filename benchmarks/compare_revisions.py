"""Benchmarks of two versions of the code side by side: a git revision and the working tree.

A refactoring must not make anything slower, but absolute times on the project's shared
machines drift from one hour to the next, so a figure recorded days ago is no reference.
This script checks the base revision out in a temporary git worktree and runs each
benchmark script of the base and of the working tree alternately (base, working tree,
base, ...), ``--rounds`` times, in fresh processes; it reports, for each benchmark's key
figures, the median of each side and their ratio (working tree / base). The working
tree's runs write their result files to a temporary folder, not to benchmarks/results.

    python benchmarks/compare_revisions.py BASE [--rounds 3] [--bench llm_overhead concurrency ...]

The base runs with its own code (its folder first on ``PYTHONPATH``) and this
environment's packages. Results: benchmarks/results/compare_revisions.json (``--out``
names another file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

from _common import print_table, write_results

ROOT = Path(__file__).resolve().parent.parent

# The rows' key fields and the figures compared, by benchmark.
FIGURES = {
    "llm_overhead": (("configuration",), ("cpu_ms_per_decision", "mesa_llm_ms")),
    "concurrency": (("max_concurrency",), ("ratio", "zero_latency_step_s")),
    "dedup_calls": (("llm_share",), ("calls_per_decision",)),
    "dashboard_overhead": (("grid",), ("step_ms", "snapshot_ms")),
    "schelling_rule_vs_mesa": (("grid",), ("ours_cpu_s", "median_ratio")),
    "cooperation_vs_pdgrid": (("activation",), ("ours_cpu_s", "median_ratio")),
}
DEFAULT = ("llm_overhead", "concurrency", "dedup_calls", "dashboard_overhead", "schelling_rule_vs_mesa")


def run(name: str, tree: Path, results: Path) -> dict[tuple, dict[str, float]]:
    """Run one benchmark script of ``tree``; its key figures by row."""
    env = {**os.environ, "PYTHONPATH": str(tree), "MESA_LLM_BENCH_RESULTS": str(results)}
    subprocess.run(
        [sys.executable, f"benchmarks/{name}.py"], cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL
    )
    written = results / f"{name}.json"
    if not written.exists():  # a base whose benchmarks write only to their own folder
        written = tree / "benchmarks" / "results" / f"{name}.json"
    keys, figures = FIGURES[name]
    rows = json.loads(written.read_text())["rows"]
    return {
        tuple(row[k] for k in keys): {f: float(row[f]) for f in figures if row.get(f) is not None}
        for row in rows
    }


def main() -> None:
    """Parse the options, run both sides alternately, print and write the comparison."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="the git revision to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, alternating")
    parser.add_argument("--bench", nargs="+", default=DEFAULT, choices=sorted(FIGURES))
    parser.add_argument("--out", default="compare_revisions", help="name of the result file")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="mesa-llm-compare-") as scratch:
        base = Path(scratch) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base), commit], cwd=ROOT, check=True)
        try:
            seen: dict[tuple[str, str], list[dict]] = {}
            for name in args.bench:
                for round_ in range(args.rounds):
                    for side, tree in (("base", base), ("working tree", ROOT)):
                        out = Path(scratch) / f"{side}-{name}-{round_}".replace(" ", "-")
                        out.mkdir()
                        seen.setdefault((name, side), []).append(run(name, tree, out))
                        print(f"{name}: {side} round {round_ + 1} of {args.rounds} done", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    rows = []
    for name in args.bench:
        for key, figures in seen[(name, "base")][0].items():
            for figure in figures:
                before = median(r[key][figure] for r in seen[(name, "base")])
                after = median(r[key][figure] for r in seen[(name, "working tree")])
                rows.append(
                    {
                        "benchmark": name,
                        "row": " ".join(map(str, key)),
                        "figure": figure,
                        "base": before,
                        "working_tree": after,
                        "ratio": after / before if before else None,
                    }
                )
    print_table(rows, ["benchmark", "row", "figure", "base", "working_tree", "ratio"])
    write_results(args.out, {"base": commit, "rounds": args.rounds, "benchmarks": args.bench}, rows)


if __name__ == "__main__":
    main()
