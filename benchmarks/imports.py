"""What importing mesa_llm costs beyond importing Mesa, in fresh interpreters.

Each statement runs as ``python -c STATEMENT`` in a fresh process; the rounds are
interleaved (every statement once per round, the order rotated from round to round) after
one untimed warm-up of each, and the median round is reported. "Beyond mesa" is the
median over rounds of the statement's time minus ``import mesa``'s time in the same
round, so the machine's drift cancels. ``python -X importtime`` then gives, once per
statement, the modules that cost most of what ``import mesa`` does not load itself:
their own time summed by top-level package, and the largest cumulative imports.

Other versions of the code can be timed in the same rounds, side by side, with
``--tree LABEL=DIR`` (a checkout, for example a git worktree of a base revision: its
``mesa_llm`` and ``models`` are imported, as ``mesa_llm`` and ``mesa_llm_models``, with
this environment's packages).

    python benchmarks/imports.py [--rounds 9] [--tree base=../base-worktree]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from statistics import median

from _common import print_table, write_results

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import mesa"
STATEMENTS = (
    BASELINE,
    "import mesa_llm",
    "import mesa; import mesa_llm",
    "from mesa_llm import LLMAgent, ActionSpace, PromptTemplate, LLMRuntime",
    "import mesa_llm_models.schelling",
    "import mesa_llm_models.cooperation",
    "import mesa; from mesa_llm import FunctionChatModel",
    # what a rule-only sweep's driver imports before its first run (benchmarks/sweeps.py's section 1)
    "from mesa_llm.experiments import Sweep; Sweep('schelling', fixed={'width': 20, 'height': 20}, "
    "axes={'homophily': [0.3, 0.5], 'llm_share': [0.0]}, seeds=range(20), steps=100, backend='rule')",
)
TARGET_S = 0.3  # import mesa_llm: at most this much beyond import mesa
TOP = 12
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def tree_path(label: str, directory: Path, scratch: Path) -> Path:
    """A folder in which ``mesa_llm`` and ``mesa_llm_models`` are the tree's own (links to them)."""
    if directory.resolve() == ROOT:
        return ROOT
    folder = scratch / label
    folder.mkdir()
    (folder / "mesa_llm").symlink_to(directory.resolve() / "mesa_llm")
    (folder / "mesa_llm_models").symlink_to(directory.resolve() / "models")
    return folder


def run(statement: str, tree: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, *flags, "-c", statement],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def wall_time(statement: str, tree: Path) -> float:
    start = time.perf_counter()
    run(statement, tree)
    return time.perf_counter() - start


def importtime(statement: str, tree: Path) -> list[tuple[str, float, float]]:
    """``(module, own seconds, cumulative seconds)`` of each module ``statement`` imports."""
    rows = []
    for line in run(statement, tree, "-X", "importtime").stderr.splitlines():
        if match := _IMPORTTIME.match(line):
            rows.append((match[4], int(match[1]) / 1e6, int(match[2]) / 1e6))
    return rows


def offenders(statement: str, tree: Path) -> dict[str, list[dict[str, float | str]]]:
    """The modules ``statement`` imports beyond ``import mesa``'s that cost the most."""
    mesa = {name for name, _, _ in importtime(BASELINE, tree)}
    rows = [row for row in importtime(statement, tree) if row[0] not in mesa]
    by_package: dict[str, float] = defaultdict(float)
    for name, own, _ in rows:
        by_package[name.split(".")[0]] += own
    packages = sorted(by_package.items(), key=lambda item: -item[1])[:TOP]
    cumulative = sorted(rows, key=lambda row: -row[2])[:TOP]
    return {
        "own_s_by_package": [{"package": p, "own_s": round(s, 4)} for p, s in packages],
        "largest_cumulative": [{"module": m, "cumulative_s": round(c, 4)} for m, _, c in cumulative],
        "own_s_total": round(sum(own for _, own, _ in rows), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imports-") as scratch:
        trees = {"working tree": ROOT}
        for item in args.tree:
            label, _, directory = item.partition("=")
            trees[label] = tree_path(label, Path(directory), Path(scratch))
        rows = measure(trees, args.rounds)
    print_table(rows, ["tree", "statement", "median_s", "beyond_mesa_s"])
    for row in rows:
        if row["importtime"]:
            top = ", ".join(
                f"{p['package']} {p['own_s']:.3f}" for p in row["importtime"]["own_s_by_package"][:6]
            )
            print(f"{row['tree']}: {row['statement']}: own time beyond mesa's by package: {top}")
    within = {
        row["tree"]: row["beyond_mesa_s"] <= TARGET_S for row in rows if row["statement"] == "import mesa_llm"
    }
    write_results(
        "imports",
        {
            "rounds": args.rounds,
            "trees": list(trees),
            "timed": "wall time of `python -c STATEMENT` in a fresh process, interleaved rounds, median",
            "beyond_mesa": "median over rounds of (statement - `import mesa`) in the same round",
            "target_beyond_mesa_s": TARGET_S,
        },
        rows,
        import_mesa_llm_within_target=within,
    )


def measure(trees: dict[str, Path], rounds: int) -> list[dict]:
    """One row per tree and statement: its median time, beyond mesa, and its import-time offenders."""
    cases = [(label, statement) for label in trees for statement in STATEMENTS]
    for label, statement in cases:  # warm-up: bytecode caches, the file cache
        run(statement, trees[label])
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for round_ in range(rounds):
        shift = round_ % len(cases)
        for label, statement in cases[shift:] + cases[:shift]:
            times[label, statement].append(wall_time(statement, trees[label]))
    rows = []
    for label, statement in cases:
        own = times[label, statement]
        beyond = [t - m for t, m in zip(own, times[label, BASELINE], strict=True)]
        rows.append(
            {
                "tree": label,
                "statement": statement,
                "median_s": round(median(own), 4),
                "beyond_mesa_s": round(median(beyond), 4),
                "importtime": offenders(statement, trees[label]) if statement != BASELINE else None,
            }
        )
    return rows


if __name__ == "__main__":
    main()
