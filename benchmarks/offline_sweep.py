"""The offline corpus ablation: both embedded models x 2 framings x llm_share {0, 1} x 5 seeds.

Schelling 20x20 for 30 steps, as issue 13 asks, through `mesa_llm.experiments.Sweep` on 2
worker processes. The models draw each resident's action from their option probabilities
(temperature 1): at temperature 0 both always stay. Records the wall time, the calls and
the verdicts in results/offline_sweep.json, and the report in results/offline_sweep/.

    python benchmarks/offline_sweep.py            # the full sweep (minutes)
    python benchmarks/offline_sweep.py --quick    # 2 seeds, 5 steps
"""

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

from mesa_llm.experiments import Sweep

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 5 steps")
    args = parser.parse_args()
    seeds, steps = (range(2), 5) if args.quick else (range(5), 30)
    sweep = Sweep(
        scenario="schelling",
        fixed={"width": 20, "height": 20, "homophily": 0.4},
        axes={
            "llm_share": [0.0, 1.0],
            "backend": {"smollm2": "local:smollm2,n_threads=1", "gemma3": "local:gemma3,n_threads=1"},
            "framing": ["neutral", "social"],
        },
        seeds=seeds,
        steps=steps,
        temperature=1.0,
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "sweep"
        started = time.perf_counter()
        result = sweep.run(workers=2, out=out, cache=Path(scratch) / "cache.sqlite")
        wall = time.perf_counter() - started
        report = result.robustness()
        kept = RESULTS / ("offline_sweep_quick" if args.quick else "offline_sweep")
        shutil.rmtree(kept, ignore_errors=True)
        report.write(kept)
        result.summary.to_csv(kept / "summary.csv", index=False)
        result.steps.to_csv(kept / "steps.csv", index=False)
    summary = result.summary
    llm = summary[summary["llm_agents"] > 0]
    means = summary.groupby(["llm_share", "backend", "framing"])[["segregation", "pct_happy"]].mean()
    record = {
        "runs": len(summary),
        "failed": int((summary["status"] != "ok").sum()),
        "wall_s": round(wall, 1),
        "backend_calls": int(llm["llm_calls"].sum()),
        "cache_hits": int(llm["llm_cache_hits"].sum()),
        "decisions": int(llm["llm_decisions"].sum()),
        "means": {
            " / ".join(map(str, k)): {m: round(v, 4) for m, v in row.items()} for k, row in means.iterrows()
        },
        "overall": report.overall[["metric", "verdict", "text"]].to_dict("records"),
        "factors": report.factors[
            ["metric", "factor", "verdict", "text", "largest_diff", "ci_low", "ci_high"]
        ]
        .round(4)
        .to_dict("records"),
        "baseline": report.baseline.drop(
            columns=[c for c in report.baseline if c.startswith("p")], errors="ignore"
        )
        .round(4)
        .to_dict("records"),
    }
    name = "offline_sweep_quick.json" if args.quick else "offline_sweep.json"
    text = json.dumps(_no_nan(record), indent=2, default=str)
    (RESULTS / name).write_text(text + "\n")
    print(text)


def _no_nan(value):
    """``value`` with NaN as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


if __name__ == "__main__":
    main()
