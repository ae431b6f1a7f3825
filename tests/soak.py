"""The fault soak: scenarios whose LLM agents ask a backend that injects faults, and the accounting.

Used by tests/runtime/test_soak.py (small) and benchmarks/fault_soak.py (10,000+ faults).
Each run wraps a scenario's rule-following chat model in a :class:`FaultyChatModel` that
raises errors and rate limits, hangs past the timeout, and answers garbage, options
outside the space and moves of the wrong length; :func:`check` states what must hold.
"""

from dataclasses import dataclass, field
from typing import Any

from mesa_llm import FaultyChatModel, InMemoryCache, LLMRuntime
from mesa_llm.lab import find_scenario, model_parameters

# Answers that no action space of the run can use, by the kind of LLM player.
UNUSABLE = {
    "choice": ("¯\\_(ツ)_/¯ hmm, hard to say", "jump", "", "ѕtay", "{" * 5000),
    "moves": ("¯\\_(ツ)_/¯", '{"moves": ["cooperate"]}', '{"moves": ["jump"]}', '{"moves": "C"}', ""),
}

# (scenario, settings, kind of answer): both scenarios and both kinds of cooperation LLM player.
SCENARIOS = (
    ("schelling", {"width": 9, "height": 9, "llm_share": 1.0}, "choice"),
    ("cooperation", {"width": 8, "height": 8, "llm_share": 1.0, "llm_moves": "one"}, "choice"),
    ("cooperation", {"width": 6, "height": 6, "llm_share": 1.0, "llm_moves": "each"}, "moves"),
)

TIMEOUT_S = 0.5
# What "no call past its timeout" allows: the event loop's scheduling on a busy machine.
SLACK_S = 1.0


@dataclass
class Soak:
    """One soak run: its setting, the backend's injected faults and the runtime's accounting."""

    scenario: str
    settings: dict[str, Any]
    dedup: bool
    cached: bool
    steps: int
    seed: int
    injected: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    cut_short: int = 0
    llm_agents: int = 0
    runtime: LLMRuntime | None = None
    crashed: str | None = None

    @property
    def faults(self) -> int:
        """The faults the backend injected."""
        return sum(self.injected.values())


def soak(
    scenario: str, settings: dict[str, Any], kind: str, *, dedup: bool, cached: bool, steps: int, seed: int
) -> Soak:
    """Run ``scenario`` with every LLM agent asking a faulty backend; never raises."""
    spec = find_scenario(scenario)
    params = model_parameters(spec, settings)
    backend = FaultyChatModel(
        inner=spec.rule_backend(params),
        error_rate=0.1,
        rate_limit_rate=0.1,
        timeout_rate=0.05,
        malformed_rate=0.25,
        retry_after_s=0.02,
        hang_s=2.0,
        malformed_answers=UNUSABLE[kind],
        seed=seed,
    )
    runtime = LLMRuntime(
        backend,
        timeout=TIMEOUT_S,
        retries=3,
        backoff_s=0.005,
        max_backoff_s=0.05,
        dedup=dedup,
        cache=InMemoryCache() if cached else None,
        max_concurrency=16,
    )
    run = Soak(scenario, settings, dedup, cached, steps, seed, runtime=runtime)
    try:
        model = spec.model(**params, runtime=runtime, rng=seed)
        run.llm_agents = sum(getattr(agent, "chat_model", None) is not None for agent in model.agents)
        for _ in range(steps):
            model.step()
    except Exception as exc:  # counted as a crashed run, reported by check()
        run.crashed = f"{type(exc).__name__}: {exc}"
    run.injected, run.calls, run.cut_short = backend.injected, backend.calls, backend.cut_short
    return run


def runs(steps: int, seeds: range) -> list[Soak]:
    """Every scenario with dedup and the cache on and off, for each seed."""
    return [
        soak(name, settings, kind, dedup=dedup, cached=cached, steps=steps, seed=seed)
        for seed in seeds
        for name, settings, kind in SCENARIOS
        for dedup in (True, False)
        for cached in (True, False)
    ]


def check(run: Soak) -> list[str]:
    """What does not hold for ``run`` (empty when everything does).

    0 crashes; one record per decision (every LLM agent once in each step that asks); every
    injected fault counted exactly once (errors, rate limits, timeouts, parse failures);
    every call reaching the backend counted; no call past its timeout plus ``SLACK_S``. A
    call the backend did not hang but the runtime gave up on (its timeout passed on a busy
    machine: the backend saw it cut short) is a timeout too, and is counted as one.
    """
    if run.crashed:
        return [f"crashed: {run.crashed}"]
    log = run.runtime.log
    totals, injected = log.totals, run.injected
    expected = {
        "decisions": (totals.decisions, len(log.records)),
        "calls": (totals.calls, run.calls),
        "errors": (
            totals.errors,
            injected["error"] + injected["rate_limit"] + injected["hang"] + run.cut_short,
        ),
        "rate_limited": (totals.rate_limited, injected["rate_limit"]),
        "timeouts": (totals.timeouts, injected["hang"] + run.cut_short),
        "parse_failures": (totals.parse_failures, injected["malformed"]),
    }
    problems = [
        f"{name}: counted {got}, expected {want}" for name, (got, want) in expected.items() if got != want
    ]
    late = [r for r in log.records if r.latency_s > r.backend_calls * (TIMEOUT_S + SLACK_S)]
    if late:
        problems.append(f"{len(late)} records waited past timeout + slack, e.g. {late[0].latency_s:.2f} s")
    return problems


def summary(results: list[Soak]) -> dict[str, Any]:
    """Totals over soak runs: faults by kind, decisions, fallbacks, calls, and what did not hold."""
    kinds = results[0].injected.keys() if results else ()
    return {
        "runs": len(results),
        "crashed": sum(r.crashed is not None for r in results),
        "faults": sum(r.faults for r in results),
        "faults_by_kind": {k: sum(r.injected.get(k, 0) for r in results) for k in kinds},
        "calls": sum(r.calls for r in results),
        "decisions": sum(r.runtime.log.totals.decisions for r in results),
        "fallbacks": sum(r.runtime.log.totals.fallbacks for r in results),
        "problems": {name(r): p for r in results if (p := check(r))},
    }


def name(run: Soak) -> str:
    """A soak run's setting, in one word."""
    moves = run.settings.get("llm_moves", "")
    return f"{run.scenario}:{moves}:dedup={run.dedup}:cache={run.cached}:seed={run.seed}"
