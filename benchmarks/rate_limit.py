"""Decisions against a rate-limited OpenAI-compatible server: who retries, and how well.

A fake OpenAI server on 127.0.0.1 (``tests/loopback.py``) admits R requests per second (a
token bucket with a burst of R) and answers the others with HTTP 429 and ``Retry-After: 1``.
N decisions with distinct prompts (no dedup, no cache) go through ``ChatOpenAI`` at most 64
at a time, with k retries, three ways:

- ``runtime``: ``LLMRuntime(ChatOpenAI(max_retries=0), retries=k)``, the runtime's own retries;
- ``langchain with_retry``: LangChain's ``ChatOpenAI(max_retries=0).with_retry(
  wait_exponential_jitter=True, stop_after_attempt=k + 1)``, called with ``ainvoke`` under
  ``asyncio.gather`` and a semaphore of 64; a call that still fails is a fallback;
- ``openai client``: ``LLMRuntime(ChatOpenAI(max_retries=k), retries=0)``, the OpenAI
  client's retries (which honour ``Retry-After``).

Each configuration gets a fresh server. Reported: the share of decisions that fell back,
HTTP requests (and 429s) per decision, and wall time, against the least time the limit
allows (N / R - 1 seconds: the burst, then R per second). With ``--rounds`` above 1 the
configurations alternate and the medians are reported.

    python benchmarks/rate_limit.py [--decisions 400] [--rate 40] [--retries 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any, Literal

import mesa
from _common import print_table, timed, write_results

from mesa_llm import ActionSpace, LLMAgent, LLMRuntime, PromptTemplate
from mesa_llm.prompts import to_langchain

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the fake server lives with the tests
from tests.loopback import FakeOpenAI

CONCURRENCY = 64
RETRY_AFTER = "1"

Configuration = Callable[[FakeOpenAI, int], dict[str, Any]]
"""Makes the decisions (how many: the int) against the server, and reports on them."""


class Resident(LLMAgent):
    """An LLM agent whose prompt names it, so that no two prompts are the same."""

    action_space = ActionSpace(Literal["stay", "move"], fallback="stay")
    prompt = PromptTemplate(system="You are a resident.", user="You are resident {number}.")

    def observe(self) -> dict[str, int]:
        return {"number": self.unique_id}


def residents(runtime: LLMRuntime, n: int) -> list[Resident]:
    model = mesa.Model(rng=0)
    return [Resident(model, runtime=runtime) for _ in range(n)]


def through_runtime(server: FakeOpenAI, n: int, *, retries: int, client_retries: int) -> dict[str, Any]:
    runtime = LLMRuntime(
        server.chat_model(max_retries=client_retries),
        retries=retries,
        max_concurrency=CONCURRENCY,
        dedup=False,
    )
    agents = residents(runtime, n)
    observations = [agent.observe() for agent in agents]
    cpu, wall = timed(lambda: runtime.decide_all(agents, observations))
    return {"fell_back": runtime.log.totals.fallbacks, "cpu_s": cpu, "wall_s": wall}


def through_langchain(server: FakeOpenAI, n: int, *, retries: int) -> dict[str, Any]:
    chain = server.chat_model(max_retries=0).with_retry(
        wait_exponential_jitter=True, stop_after_attempt=retries + 1
    )
    agents = residents(LLMRuntime(server.chat_model(max_retries=0)), n)
    prompts = [to_langchain(agent.messages(agent.observe())) for agent in agents]

    async def ask_all() -> int:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def ask(messages) -> bool:
            async with semaphore:
                try:
                    await chain.ainvoke(messages)
                except Exception:  # what still fails after the retries falls back
                    return True
                return False

        return sum(await asyncio.gather(*map(ask, prompts)))

    failed: list[int] = []
    cpu, wall = timed(lambda: failed.append(asyncio.run(ask_all())))
    return {"fell_back": failed[0], "cpu_s": cpu, "wall_s": wall}


def configurations(retries: int) -> dict[str, Configuration]:
    return {
        f"runtime (retries={retries})": lambda s, n: through_runtime(s, n, retries=retries, client_retries=0),
        f"langchain with_retry (attempts={retries + 1})": lambda s, n: through_langchain(
            s, n, retries=retries
        ),
        f"openai client (max_retries={retries})": lambda s, n: through_runtime(
            s, n, retries=0, client_retries=retries
        ),
    }


def measure(configuration: Configuration, n: int, rate: float) -> dict[str, Any]:
    with FakeOpenAI(rate_limit=rate, retry_after=RETRY_AFTER) as server:
        result = configuration(server, n)
    return {**result, "requests": server.requests, "rejected": server.rejected, "answered": server.answered}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=400, help="decisions, each with its own prompt")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second the server admits")
    parser.add_argument("--retries", type=int, default=3, help="retries after the first attempt")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each configuration, alternating")
    args = parser.parse_args()
    n = args.decisions
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configurations(args.retries)}
    for _ in range(args.rounds):
        for name, configuration in configurations(args.retries).items():
            runs[name].append(measure(configuration, n, args.rate))
    rows = []
    for name, results in runs.items():
        wall = median(r["wall_s"] for r in results)
        rows.append(
            {
                "configuration": name,
                "decisions": n,
                "fell_back_share": median(r["fell_back"] for r in results) / n,
                "requests_per_decision": median(r["requests"] for r in results) / n,
                "rejected_per_decision": median(r["rejected"] for r in results) / n,
                "wall_s": wall,
                "least_wall_s": max(n / args.rate - 1, 0.0),
                "cpu_s": median(r["cpu_s"] for r in results),
                "runs": results,
            }
        )
    print_table(
        rows,
        [
            "configuration",
            "decisions",
            "fell_back_share",
            "requests_per_decision",
            "rejected_per_decision",
            "wall_s",
            "least_wall_s",
            "cpu_s",
        ],
    )
    write_results(
        "rate_limit",
        {
            "decisions": n,
            "rate_per_s": args.rate,
            "burst": args.rate,
            "retry_after": RETRY_AFTER,
            "retries": args.retries,
            "max_concurrency": CONCURRENCY,
            "rounds": args.rounds,
            "dedup": False,
            "cache": None,
            "server": "tests/loopback.py FakeOpenAI on 127.0.0.1, in the same process",
        },
        rows,
    )


if __name__ == "__main__":
    main()
