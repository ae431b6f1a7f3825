"""The cost of rule-shadow decisions: every LLM decision also computes the rule's.

All-LLM Schelling and cooperation runs, answered by the rule-following chat models (the
cheapest backends, so the shadow's share of the step time is as large as it gets). Each
configuration is run with the scenario's ``rule_decide`` (the default) and without it
(``rule_decide`` set back to the library's, which returns None), alternating, in one
sitting; the ratio of the medians is reported. The two runs must have identical
trajectories (checked).

    python benchmarks/rule_shadow.py
"""

from __future__ import annotations

import statistics

import pandas as pd
from _common import print_table, timed, write_results

from mesa_llm import LLMDecider
from mesa_llm_models.cooperation import CooperationModel
from mesa_llm_models.cooperation.agents import LLMPlayer
from mesa_llm_models.schelling import SchellingModel
from mesa_llm_models.schelling.agents import LLMResident

REPEATS = 5
STEPS = 5
CASES = {
    "schelling 50x50": (SchellingModel, LLMResident, {"width": 50, "height": 50, "llm_share": 1.0}),
    "cooperation 30x30": (CooperationModel, LLMPlayer, {"width": 30, "height": 30, "llm_share": 1.0}),
}


def run(model_class: type, params: dict) -> tuple[float, pd.DataFrame]:
    """Wall seconds of STEPS steps, and the scenario columns of the model frame."""
    model = model_class(**params, backend="rule", rng=1)
    _, wall = timed(lambda: model.run_for(STEPS))
    frame = model.datacollector.get_model_vars_dataframe()
    return wall, frame[[c for c in frame.columns if not c.startswith("llm_")]]


def main() -> None:
    rows = []
    for name, (model_class, agent_class, params) in CASES.items():
        own = agent_class.rule_decide
        times: dict[str, list[float]] = {"shadow": [], "none": []}
        frames = {}
        for _ in range(REPEATS):
            for mode in ("shadow", "none"):
                agent_class.rule_decide = own if mode == "shadow" else LLMDecider.rule_decide
                wall, frames[mode] = run(model_class, params)
                times[mode].append(wall)
        agent_class.rule_decide = own
        assert frames["shadow"].equals(frames["none"]), f"{name}: the shadow changed the trajectory"
        shadow, none = statistics.median(times["shadow"]), statistics.median(times["none"])
        rows.append(
            {
                "case": name,
                "steps": STEPS,
                "median_s_with_shadow": shadow,
                "median_s_without": none,
                "ratio": shadow / none,
            }
        )
    print_table(rows, ["case", "steps", "median_s_with_shadow", "median_s_without", "ratio"])
    write_results("rule_shadow", {"repeats": REPEATS, "steps": STEPS}, rows)


if __name__ == "__main__":
    main()
