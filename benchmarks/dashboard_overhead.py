"""What the dashboard adds to a step: drawing a snapshot against stepping the model.

After every step the dashboard (``mesa_llm.viz.dashboard``) takes a snapshot: the model
frame, the Altair layer of the agents drawn by Mesa's ``SpaceRenderer`` (a portrayal per
agent), and the metrics figure (rendered to PNG as the page does). Here a Schelling model
whose LLM residents (half) answer with the rule-following chat model (no language model
time at all, the worst case for the ratio) is stepped, and each step is followed by a
snapshot and the figure's PNG; the CPU time of each is measured per step, interleaved, for
two grid sizes, and the median ratio snapshot / step is reported. With a real language model
a step takes seconds, so the drawing's share is far smaller.

    python benchmarks/dashboard_overhead.py
"""

from __future__ import annotations

import io
import statistics

from _common import print_table, timed, write_results

from mesa_llm.lab import RunConfig, metrics_figure, model_parameters
from mesa_llm.viz.session import Session
from mesa_llm_models.schelling import SCENARIO
from mesa_llm_models.schelling.app import portrayal

SIZES = (20, 50)
STEPS = 10
SEEDS = range(3)


def measure(size: int, seed: int) -> list[tuple[float, float, float]]:
    """CPU seconds of (step, snapshot, metrics PNG) for each step of one run."""
    params = model_parameters(SCENARIO, {"width": str(size), "height": str(size), "llm_share": "0.5"})
    session = Session.start(RunConfig(SCENARIO, params, 0, seed, "rule"), portrayal, {}, None)
    timings = []
    for _ in range(STEPS):
        step, _ = timed(session.model.step)
        shot, _ = timed(session.snapshot)
        snapshot = session.snapshot()
        png, _ = timed(lambda s=snapshot: metrics_figure(s.frame, SCENARIO.metrics, "").savefig(io.BytesIO()))
        timings.append((step, shot, png))
    return timings


def main() -> None:
    rows = []
    for size in SIZES:
        timings = [t for seed in SEEDS for t in measure(size, seed)]
        step, shot, png = (statistics.median(column) for column in zip(*timings, strict=True))
        ratios = [(s + p) / st for st, s, p in timings]
        rows.append(
            {
                "grid": f"{size}x{size}",
                "agents": round(0.8 * size * size),
                "step_ms": 1000 * step,
                "snapshot_ms": 1000 * shot,
                "metrics_png_ms": 1000 * png,
                "drawing_per_step_ratio": statistics.median(ratios),
            }
        )
    print_table(rows, list(rows[0]))
    write_results("dashboard_overhead", {"sizes": SIZES, "steps": STEPS, "seeds": list(SEEDS)}, rows)


if __name__ == "__main__":
    main()
