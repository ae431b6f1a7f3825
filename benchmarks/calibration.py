"""Implied rules of the embedded models: what a probe costs, and what the models imply.

1. Cost: the Schelling threshold probe (radius 1: 45 scored points) on each embedded
   model into a new SQLite cache, then the same probe again with that cache (0 calls).
2. Findings: each embedded model's implied rule in every scenario with probes, under each
   framing (and, for Life, with and without the rule in the prompt), each with its round
   trip: the rule populations the fit implies against the LLM population on the same
   seeds. The models answer at temperature 1, so LLM agents draw their actions from the
   option probabilities, as the logistic and stochastic rule agents do.

Records results/calibration.json (and each probe's table, fit and figure under
results/calibration/).

    python benchmarks/calibration.py            # minutes
    python benchmarks/calibration.py --quick    # one framing per scenario, 2 seeds, a few steps
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from mesa_llm.calibration import probe_scenario, round_trip
from mesa_llm.lab import find_scenario

RESULTS = Path(__file__).parent / "results"
MODELS = {"smollm2": "local:smollm2", "gemma3": "local:gemma3"}
#: Each scenario's conditions probed (settings over the probe's own) and its round trips' world.
CONDITIONS = {
    "schelling": {
        "conditions": [{"framing": f} for f in ("neutral", "colours", "social")],
        "world": {"width": 20, "height": 20, "homophily": 0.4},
        "quick_world": {"width": 10, "height": 10, "homophily": 0.4},
    },
    "cooperation": {  # memory-one probe; LLM players choose their opening, nobody imitates
        "conditions": [{"framing": f} for f in ("neutral", "business")],
        "world": {"width": 4, "height": 4},
        "quick_world": {"width": 3, "height": 3},
    },
    "life": {
        "conditions": [{"rule_in_prompt": r} for r in (True, False)],
        "world": {"width": 10, "height": 10},
        "quick_world": {"width": 6, "height": 6},
    },
}
#: Seeds and steps of each scenario's round trips (full, quick).
TRIPS = {"schelling": ((5, 20), (2, 5)), "cooperation": ((3, 10), (2, 3)), "life": ((5, 20), (2, 5))}


def cost(scratch: Path) -> dict:
    """A cold Schelling probe and a warm rerun, per embedded model."""
    rows = {}
    for name, backend in MODELS.items():
        cache = scratch / f"cost-{name}.sqlite"
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            result = probe_scenario("schelling", backend=backend, cache=cache)
            timings.append((time.perf_counter() - started, result.run.calls, result.run.cache_hits))
        (cold_s, cold_calls, _), (warm_s, warm_calls, warm_hits) = timings
        rows[name] = {
            "points": int(result.table["point"].nunique()),
            "cold_s": round(cold_s, 2),
            "cold_calls": cold_calls,
            "s_per_call": round(cold_s / cold_calls, 3),
            "warm_s": round(warm_s, 2),
            "warm_calls": warm_calls,
            "warm_cache_hits": warm_hits,
            "warm_over_cold": round(warm_s / cold_s, 3),
        }
    return rows


def findings(scratch: Path, quick: bool) -> list[dict]:
    """Each model's implied rule per scenario and condition, with its round trip."""
    rows = []
    for scenario, plan in CONDITIONS.items():
        full, small = TRIPS[scenario]
        seeds, steps = range((small if quick else full)[0]), (small if quick else full)[1]
        if not find_scenario(scenario).probes:
            continue
        conditions = plan["conditions"][:1] if quick else plan["conditions"]
        world = plan["quick_world" if quick else "world"]
        for name, backend in MODELS.items():
            cache = scratch / f"{scenario}-{name}.sqlite"
            for condition in conditions:
                started = time.perf_counter()
                result = probe_scenario(
                    scenario, backend=backend, parameters=condition, temperature=1.0, cache=cache
                )
                probed_s = time.perf_counter() - started
                label = "-".join([scenario, name, *map(str, condition.values())])
                result.write(RESULTS / ("calibration_quick" if quick else "calibration") / label)
                row = {
                    "scenario": scenario,
                    "model": name,
                    **condition,
                    "verdict": result.describe(),
                    "probe_calls": result.run.calls,
                    "probe_s": round(probed_s, 1),
                    "fit": result.fit.to_dict(),
                }
                try:
                    started = time.perf_counter()
                    trip = round_trip(result, seeds=seeds, steps=steps, parameters=world, cache=cache)
                    row["round_trip_s"] = round(time.perf_counter() - started, 1)
                    row["round_trip"] = trip.describe().splitlines()
                    row["round_trip_verdicts"] = dict(trip.verdicts)
                except ValueError as exc:  # a fit that implies no rule to run back
                    row["round_trip"] = [str(exc)]
                rows.append(row)
                print(label, "|", row["verdict"], "|", row["round_trip"], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one framing per scenario, 2 seeds, a few steps")
    args = parser.parse_args()
    shutil.rmtree(RESULTS / ("calibration_quick" if args.quick else "calibration"), ignore_errors=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        record = {"cost": cost(Path(scratch)), "findings": findings(Path(scratch), args.quick)}
    record["wall_s"] = round(time.perf_counter() - started, 1)
    out = RESULTS / ("calibration_quick.json" if args.quick else "calibration.json")
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record["cost"], indent=2))


if __name__ == "__main__":
    main()
