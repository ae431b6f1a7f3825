"""Synthetic sweep frames whose truth is known: outcomes drawn from normal distributions per condition."""

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from mesa_llm.lab import Outcome

OUTCOMES = (Outcome("segregation", margin=0.05), Outcome("pct_happy", margin=0.05))
BACKENDS = ("local:smollm2", "local:gemma3")
FRAMINGS = ("neutral", "social")


def summary(
    mean: Callable[[str, str], float],
    *,
    sd: float = 0.02,
    seeds: int = 10,
    backends: Sequence[str] = BACKENDS,
    framings: Sequence[str] = FRAMINGS,
    rule: float | None = None,
    seed: int = 0,
    world: float = 0.0,
) -> pd.DataFrame:
    """A sweep's summary frame: ``segregation`` ~ N(mean(backend, framing), sd), ``pct_happy`` ~ N(0.8, sd).

    With ``rule``, the design also crosses ``llm_share`` 0 (rule-only runs, whose segregation is
    N(rule, sd)) with the backends and framings, as a sweep with ``llm_share: [0, 1]`` does.
    With ``world``, each seed's world adds its own N(0, world) to every condition's outcomes
    of that seed, as a seed's starting grid does in a real sweep.
    """
    rng = np.random.default_rng(seed)
    worlds = np.random.default_rng([seed, 1]).normal(0.0, world, seeds) if world else np.zeros(seeds)
    shares = (1.0, 0.0) if rule is not None else (1.0,)
    rows = []
    for share in shares:
        for backend in backends:
            for framing in framings:
                centre = mean(backend, framing) if share else rule
                for replicate in range(seeds):
                    rows.append(
                        {
                            "run": f"{len(rows):04d}",
                            "llm_share": share,
                            "backend": backend,
                            "framing": framing,
                            "seed": replicate,
                            "status": "ok",
                            "error": "",
                            "llm_agents": 40 if share else 0,
                            "segregation": rng.normal(centre, sd) + worlds[replicate],
                            "pct_happy": rng.normal(0.8, sd) + worlds[replicate],
                            "llm_calls": 100 if share else 0,
                        }
                    )
    return pd.DataFrame(rows)


def steps(frame: pd.DataFrame, length: int = 12) -> pd.DataFrame:
    """A steps frame for ``frame``'s runs: each metric rising linearly from 0.5 to the run's outcome."""
    parts = []
    for row in frame.itertuples():
        part = {"run": row.run, "backend": row.backend, "framing": row.framing, "seed": row.seed}
        part["step"] = np.arange(length)
        for outcome in OUTCOMES:
            part[outcome.metric] = np.linspace(0.5, getattr(row, outcome.metric), length)
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def same(backend: str, framing: str) -> float:
    """Every condition the same."""
    return 0.6


def by_backend(backend: str, framing: str) -> float:
    """0.55 with the first backend, 0.75 with the second."""
    return 0.55 if backend == BACKENDS[0] else 0.75


def by_framing(backend: str, framing: str) -> float:
    """0.55 with the neutral framing, 0.75 with the social one."""
    return 0.55 if framing == FRAMINGS[0] else 0.75
