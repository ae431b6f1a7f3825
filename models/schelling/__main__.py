"""Schelling demo: the same world with rule residents, LLM residents, and both.

Run ``python -m mesa_llm_models.schelling`` (``--help`` for options). The LLM residents first ask
a deterministic chat model that answers by Schelling's rule, through the whole LLM
pipeline (prompt -> chat model -> parse -> act): that mixed run must equal the all-rule
run, and a faulty copy of it shows retries and fallbacks being counted. A last run asks
the embedded local model (SmolLM2-135M, ``--backend local``, the default) or any
LangChain ``provider:model`` string with its package and key installed, such as
``--backend openai:gpt-4o-mini``; ``--backend none`` leaves it out.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from mesa_llm import BackendError, FaultyChatModel, LLMRuntime, resolve_backend
from mesa_llm_models.schelling import SchellingModel, rule_following_backend


def run(label: str, steps: int, seed: int, **params) -> dict:
    """Run one model and summarise its last step."""
    started = time.perf_counter()
    model = SchellingModel(rng=seed, **params)
    model.run_for(steps)
    frame = model.datacollector.get_model_vars_dataframe()
    last = frame.iloc[-1]
    return {
        "run": label,
        "residents rule/llm": f"{last['residents_rule']:.0f}/{last['residents_llm']:.0f}",
        "% happy rule": last["pct_happy_rule"],
        "% happy llm": last["pct_happy_llm"],
        "segregation": last["segregation"],
        "moves (all steps)": frame["moves"].sum(),
        "llm calls": last["llm_calls"],
        "shared/cached": last["llm_shared"] + last["llm_cache_hits"],
        "parse failures": last["llm_parse_failures"],
        "errors": last["llm_errors"],
        "fallbacks": last["llm_fallbacks"],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    """Parse the options, run the comparison and print it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--size", type=int, default=20, help="grid width and height")
    parser.add_argument("--homophily", type=float, default=0.4)
    parser.add_argument("--llm-share", type=float, default=0.5)
    parser.add_argument(
        "--backend",
        default="local",
        help="backend of the last run: 'local' (embedded model), a 'provider:model' string, or 'none'",
    )
    args = parser.parse_args()

    common = {
        "steps": args.steps,
        "seed": args.seed,
        "width": args.size,
        "height": args.size,
        "homophily": args.homophily,
    }
    rule_model = rule_following_backend(args.homophily)
    faulty = FaultyChatModel(inner=rule_model, malformed_rate=0.3, error_rate=0.1, seed=args.seed)
    rows = [
        run("all rule", **common),
        run(
            f"{args.llm_share:.0%} LLM, rule-following chat model",
            llm_share=args.llm_share,
            backend=rule_model,
            **common,
        ),
        run(
            f"{args.llm_share:.0%} LLM, faulty chat model",
            llm_share=args.llm_share,
            runtime=LLMRuntime(faulty, dedup=False),
            **common,
        ),
    ]
    if args.backend != "none":
        try:
            backend = resolve_backend(args.backend)
        except BackendError as exc:
            parser.exit(2, f"{exc}\n(--backend none leaves that run out.)\n")
        label = f"{args.llm_share:.0%} LLM, {args.backend}"
        rows.append(run(label, llm_share=args.llm_share, backend=backend, **common))
    table = pd.DataFrame(rows).set_index("run")
    with pd.option_context(
        "display.width", 200, "display.max_columns", None, "display.float_format", "{:.2f}".format
    ):
        print(f"Schelling, {args.size}x{args.size}, {args.steps} steps, seed {args.seed}\n")
        print(table.T.to_string())
    print(
        "\nThe rule-following chat model answers by the homophily threshold, read from the prompt: "
        "its run equals the all-rule run. The faulty one answers malformed text 30% of the time and "
        "fails 10% of calls: every retry and fallback ('stay') is counted, and the run completes."
    )


if __name__ == "__main__":
    main()
