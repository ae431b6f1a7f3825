"""Framework overhead per LLM decision, with a zero-latency deterministic chat model.

About 1,000 Schelling residents decide on one fixed snapshot. Each configuration is a
SchellingModel built with the same seed (so the same snapshot) and its own LLMRuntime;
the timed call is ``model.llm.decide_all(residents, observations)``, the decision phase
of a step. Timing the decision phase rather than a whole step
leaves out observing, moving and collecting, which are the same for every population.

* rule: all-rule residents, the baseline subtracted from every LLM row;
* text / dedup off: every decision is a real ``ainvoke`` of the chat model;
* text / dedup on: identical prompts of the phase are sent once (default at temperature 0);
* structured / dedup off: every decision asks for structured output, which the runtime
  sends as a forced tool call (``bind_tools([schema], tool_choice="any")``) because the
  backend binds tools;
* bare ainvoke (text / structured): the same messages sent with ``asyncio.gather`` of
  ``ainvoke``, at most ``max_concurrency`` (16, the runtime's default) in flight as in
  the runtime, and nothing else: LangChain's own cost per call.

Overhead per decision = (phase time - rule phase time) / decisions; the LangChain part
is calls of the phase x bare cost per call; the rest is mesa_llm's own code. Repetitions
are interleaved (each configuration once per round); the median round is reported.

    python benchmarks/llm_overhead.py
"""

from __future__ import annotations

import asyncio
from statistics import median

from _common import print_table, timed, write_results

from mesa_llm import LLMRuntime
from mesa_llm.prompts import to_langchain
from mesa_llm_models.schelling import LLMResident, SchellingModel, rule_following_backend

GRID = {"width": 40, "height": 32, "density": 0.8, "homophily": 0.4}
SEED = 0
ROUNDS = 7
TARGET_MS = 0.3


def main() -> None:
    backend = rule_following_backend(GRID["homophily"])

    def llm_model(**runtime_options) -> SchellingModel:
        runtime = LLMRuntime(backend, **runtime_options)
        return SchellingModel(**GRID, rng=SEED, llm_share=1.0, runtime=runtime)

    models = {
        "rule": SchellingModel(**GRID, rng=SEED),
        "text, dedup off": llm_model(dedup=False),
        "text, dedup on": llm_model(dedup=True),
        "structured, dedup off": llm_model(dedup=False, structured=True),
    }
    agents = {name: list(m.agents) for name, m in models.items()}
    seen = {name: [m.snapshot[a] for a in agents[name]] for name, m in models.items()}
    n = len(agents["rule"])
    llm_agents = agents["text, dedup off"]
    messages = [to_langchain(a.messages(o)) for a, o in zip(llm_agents, seen["text, dedup off"], strict=True)]
    chains = {
        "bare ainvoke, text": backend,
        "bare ainvoke, structured": backend.bind_tools([LLMResident.action_space.schema], tool_choice="any"),
        "bare ainvoke, with_structured_output": backend.with_structured_output(
            LLMResident.action_space.schema, include_raw=True
        ),
    }
    loop = asyncio.new_event_loop()

    async def bare(chain) -> None:
        semaphore = asyncio.Semaphore(models["text, dedup off"].llm.max_concurrency)

        async def call(m):
            async with semaphore:
                return await chain.ainvoke(m)

        await asyncio.gather(*(call(m) for m in messages))

    jobs = {
        name: (lambda m=m, a=agents[name], s=seen[name]: m.llm.decide_all(a, s)) for name, m in models.items()
    }
    jobs |= {name: (lambda c=c: loop.run_until_complete(bare(c))) for name, c in chains.items()}
    for job in jobs.values():  # warm-up round, not recorded
        job()
    calls_before = {name: m.llm.log.totals.calls for name, m in models.items()}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    for _ in range(ROUNDS):
        for name, job in jobs.items():
            times[name].append(timed(job))
    loop.close()

    calls = {name: (m.llm.log.totals.calls - calls_before[name]) / ROUNDS for name, m in models.items()}
    calls |= dict.fromkeys(chains, n)
    # ms per decision, round by round: CPU time (all threads) and wall time
    cpu = {name: [c / n * 1e3 for c, _ in t] for name, t in times.items()}
    wall = {name: [w / n * 1e3 for _, w in t] for name, t in times.items()}
    rows = []
    for name in jobs:
        row = {
            "configuration": name,
            "decisions": n,
            "calls": round(calls[name]),
            "cpu_ms_per_decision": median(cpu[name]),
            "wall_ms_per_decision": median(wall[name]),
        }
        if name in models and name != "rule":
            bare_name = "bare ainvoke, " + name.split(",")[0]
            # differences are taken within a round, then the median round is reported
            overhead = [t - r for t, r in zip(cpu[name], cpu["rule"], strict=True)]
            langchain = [calls[name] / n * b for b in cpu[bare_name]]
            row |= {
                "overhead_ms": median(overhead),
                "langchain_ms": median(langchain),
                "mesa_llm_ms": median([o - lc for o, lc in zip(overhead, langchain, strict=True)]),
                "meets_target": median(overhead) <= TARGET_MS,
            }
        rows.append(row)
    print_table(
        rows,
        [
            "configuration",
            "decisions",
            "calls",
            "cpu_ms_per_decision",
            "wall_ms_per_decision",
            "overhead_ms",
            "langchain_ms",
            "mesa_llm_ms",
            "meets_target",
        ],
    )
    write_results(
        "llm_overhead",
        {
            **GRID,
            "seed": SEED,
            "rounds": ROUNDS,
            "backend": "rule_following_backend(0.4), a zero-latency FunctionChatModel",
            "timed": "LLMRuntime.decide_all on one snapshot; time.process_time (all threads), median round",
            "target_overhead_ms_per_decision": TARGET_MS,
        },
        rows,
    )


if __name__ == "__main__":
    main()
