"""The runtime: runs the decision phase of a step, concurrently, with retries, cache and records.

:class:`LLMRuntime` is the public entry point. Its parts, each one job:

- :mod:`mesa_llm.runtime.phase`: the decision phase (activation, rule and LLM agents
  together, dedup of identical prompts, per-agent draws, records);
- :mod:`mesa_llm.runtime.requests`: what one decision asks and the key that identifies it;
- :mod:`mesa_llm.runtime.calls`: one call's lifecycle (cache, bounded and timed call,
  parsing, retries, fallback, record);
- :mod:`mesa_llm.runtime.capabilities`: what a backend can do (structured output, option
  scoring, dedup, parallel calls);
- :mod:`mesa_llm.runtime.loop`: the shared event loop of sync callers and the bounds on
  calls in flight.
"""

from mesa_llm.runtime.phase import ArgmaxWarning, LLMRuntime, PhaseProgress

__all__ = ["ArgmaxWarning", "LLMRuntime", "PhaseProgress"]
