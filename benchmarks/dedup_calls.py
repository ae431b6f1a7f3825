"""LLM calls per decision with identical-prompt deduplication on.

Schelling 20x20 with the defaults (density 0.8, minority 0.5, homophily 0.4), LLM
residents answered by the rule-following chat model, which is at temperature 0, so the
runtime dedups by default: identical prompts of one decision phase are sent once. A prompt
states only the counts of same-group, other-group and empty neighbouring cells, so a
phase has few distinct prompts. Counts come from ``runtime.log.totals`` after every step.

    python benchmarks/dedup_calls.py
"""

from __future__ import annotations

from _common import print_table, write_results

from mesa_llm_models.schelling import SchellingModel, rule_following_backend

STEPS = 20
SEEDS = range(5)
SHARES = (1.0, 0.5)


def run(llm_share: float, seed: int) -> list[dict]:
    """Decisions, calls and shared answers of every step of one run."""
    model = SchellingModel(llm_share=llm_share, backend=rule_following_backend(0.4), rng=seed)
    totals = model.llm.log.totals
    steps = []
    for step in range(1, STEPS + 1):
        decisions, calls, shared = totals.decisions, totals.calls, totals.shared
        model.step()
        steps.append(
            {
                "step": step,
                "decisions": totals.decisions - decisions,
                "calls": totals.calls - calls,
                "shared": totals.shared - shared,
            }
        )
    return steps


def main() -> None:
    per_step_rows = [{"step": step} for step in range(1, STEPS + 1)]
    overall_rows = []
    for share in SHARES:
        runs = [run(share, seed) for seed in SEEDS]
        for row, s in zip(per_step_rows, runs[0], strict=True):  # the first seed, step by step
            row |= {f"{name} @{share}": s[name] for name in ("decisions", "calls")}
            row[f"calls/decision @{share}"] = s["calls"] / s["decisions"]
        every_step = [s for steps in runs for s in steps]
        decisions = sum(s["decisions"] for s in every_step)
        calls = sum(s["calls"] for s in every_step)
        overall_rows.append(
            {
                "llm_share": share,
                "seeds": len(runs),
                "steps": STEPS,
                "decisions": decisions,
                "calls": calls,
                "shared": sum(s["shared"] for s in every_step),
                "calls_per_decision": calls / decisions,
                "max_calls_in_a_step": max(s["calls"] for s in every_step),
            }
        )
    print(f"seed {SEEDS[0]}, step by step:")
    print_table(per_step_rows, list(per_step_rows[0]))
    print(f"\nall {len(SEEDS)} seeds x {STEPS} steps:")
    print_table(overall_rows, list(overall_rows[0]))
    write_results(
        "dedup_calls",
        {
            "grid": "20x20",
            "density": 0.8,
            "minority_pc": 0.5,
            "homophily": 0.4,
            "llm_shares": SHARES,
            "steps": STEPS,
            "seeds": list(SEEDS),
            "backend": "rule_following_backend(0.4), temperature 0, dedup on by default",
        },
        overall_rows,
        per_step=per_step_rows,
    )


if __name__ == "__main__":
    main()
