"""The fault soak: 10,000+ injected faults over both scenarios, both LLM player kinds, dedup and cache.

Every LLM agent of Schelling and of cooperation (one move, and a move per neighbour) asks
its scenario's rule-following chat model behind a ``FaultyChatModel`` that raises errors
(10% of calls) and rate limits with ``Retry-After`` (10%), hangs past the 0.5 s timeout
(5%), and answers garbage, options outside the space, confusables and moves of the wrong
length (25%). Each scenario runs with dedup and the response cache on and off, for more
seeds until the faults reach the target. What must hold (tests/soak.py, ``check``):
0 crashed runs; a record per decision; every injected fault counted exactly once
(errors, rate limits, timeouts, parse failures); every backend call counted; no call
past its timeout plus 1 s of slack. The same soak runs at test size in
tests/runtime/test_soak.py.

    python benchmarks/fault_soak.py [--faults 10000] [--steps 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import print_table, write_results

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the soak lives with the tests
from tests.soak import check, name, runs, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=10_000, help="keep adding seeds until this many")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    results, seed, started = [], 0, time.perf_counter()
    while sum(r.faults for r in results) < args.faults:
        results += runs(steps=args.steps, seeds=range(seed, seed + 1))
        seed += 1
        print(f"seed {seed - 1}: {sum(r.faults for r in results):,} faults so far", flush=True)
    elapsed = time.perf_counter() - started
    rows = [
        {
            "run": name(r),
            "faults": r.faults,
            "calls": r.calls,
            "decisions": r.runtime.log.totals.decisions,
            "fallbacks": r.runtime.log.totals.fallbacks,
            "holds": not check(r),
        }
        for r in results
    ]
    totals = summary(results) | {"seeds": seed, "steps": args.steps, "wall_s": round(elapsed, 1)}
    print_table(rows, ["run", "faults", "calls", "decisions", "fallbacks", "holds"])
    print({k: v for k, v in totals.items() if k != "problems"})
    print("problems:", totals["problems"] or "none")
    write_results("fault_soak", {"faults": args.faults, "steps": args.steps}, rows, summary=totals)
    if totals["crashed"] or totals["problems"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
