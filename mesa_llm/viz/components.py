"""Solara components for the LLM side of any Mesa model that uses ``mesa_llm`` agents.

They read the model's :class:`~mesa_llm.runtime.LLMRuntime` (``model.llm`` by default) and
its agents, and work in Mesa's ``SolaraViz`` as well as in :mod:`mesa_llm.viz.dashboard`::

    from mesa.visualization import SolaraViz
    from mesa_llm.viz import make_agent_inspector, make_llm_panel, make_transcript

    page = SolaraViz(model, components=[make_llm_panel(), make_agent_inspector(), make_transcript()])

- :func:`LLMPanel`: calls, cache hits, tokens, fallbacks and mean latency, in all and in the
  last step.
- :func:`AgentInspector`: one agent's population, persona, last observation, the exact
  prompt it sent, the raw answer, the parsed action and the option probabilities.
- :func:`Transcript`: the last step's calls, filterable by agent.

Each re-renders when Mesa's ``update_counter`` changes (after every step in ``SolaraViz``).
"""

from __future__ import annotations

import pprint
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

import solara
from mesa import Agent, Model
from mesa.visualization.utils import update_counter

from mesa_llm.decider import asks_model
from mesa_llm.populations import population
from mesa_llm.prompts import observation_fields
from mesa_llm.records import CallLog, CallRecord
from mesa_llm.runtime import LLMRuntime

__all__ = [
    "AgentInspector",
    "LLMPanel",
    "Transcript",
    "describe",
    "last_step_records",
    "make_agent_inspector",
    "make_llm_panel",
    "make_transcript",
]

# Longest text shown for an observation; the exact prompt is always shown whole.
_MAX_OBSERVATION_CHARS = 4000


def last_step_records(log: CallLog) -> list[CallRecord]:
    """The records of the latest step that made LLM decisions, in decision order."""
    records = log.records
    if not records:
        return []
    step = records[-1].step
    start = len(records)
    while start > 0 and records[start - 1].step == step:
        start -= 1
    return records[start:]


def describe(observation: Any) -> str:
    """A readable text of an observation: its fields as a prompt sees them, or else its repr."""
    try:
        fields = observation_fields(observation)
    except TypeError:
        shown: Any = observation
    else:
        shown = {k: v.value if isinstance(v, Enum) else v for k, v in fields.items()}
    text = pprint.pformat(shown, width=72, compact=True, sort_dicts=False)
    if len(text) > _MAX_OBSERVATION_CHARS:
        text = text[:_MAX_OBSERVATION_CHARS] + f"\n… ({len(text) - _MAX_OBSERVATION_CHARS} more characters)"
    return text


def _runtime(model: Model, attribute: str) -> LLMRuntime:
    runtime = getattr(model, attribute, None)
    if not isinstance(runtime, LLMRuntime):
        raise TypeError(
            f"{type(model).__name__}.{attribute} is not an LLMRuntime; pass the attribute that "
            "holds the model's runtime, e.g. LLMPanel(model, runtime='llm')."
        )
    return runtime


def _table(rows: Iterable[tuple[str, Any]]) -> str:
    lines = ["| | |", "|:--|--:|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


@solara.component
def LLMPanel(model: Model, runtime: str = "llm"):
    """Counts of the model's LLM decisions: since the start, and in the last step.

    Args:
        model: a model whose attribute ``runtime`` holds its :class:`~mesa_llm.LLMRuntime`.
        runtime: the name of that attribute.
    """
    update_counter.get()
    llm = _runtime(model, runtime)
    totals, log = llm.log.totals, llm.log
    last = last_step_records(log)
    last_calls = sum(r.backend_calls for r in last)
    last_latency = sum(r.latency_s for r in last)
    rows = [
        ("decisions", f"{totals.decisions:,}"),
        ("backend calls", f"{totals.calls:,}"),
        ("cache hits", f"{totals.cache_hits:,}"),
        ("shared prompts", f"{totals.shared:,}"),
        ("tokens in / out", f"{totals.tokens_in:,} / {totals.tokens_out:,}"),
        ("fallbacks", f"{totals.fallbacks:,}"),
        ("retries / errors / timeouts", f"{totals.retries} / {totals.errors} / {totals.timeouts}"),
        ("mean latency", f"{1000 * log.mean_latency_s:.0f} ms"),
    ]
    with solara.Column(gap="4px", classes=["mesa-llm-panel"]):
        solara.Markdown(_table(rows))
        if last:
            mean = f", mean latency {1000 * last_latency / last_calls:.0f} ms" if last_calls else ""
            solara.Text(
                f"Step {last[0].step}: {len(last)} decisions, {last_calls} backend calls{mean}.",
                classes=["mesa-llm-panel-last"],
            )
        else:
            solara.Text("No LLM decisions yet.", classes=["mesa-llm-panel-last"])


@solara.component
def AgentInspector(model: Model, agent_id: solara.Reactive[int | None] | None = None):
    """One agent's decision: population, persona, observation, prompt, answer, action, probabilities.

    Args:
        model: the model.
        agent_id: the selected agent's ``unique_id`` (shared with a clickable space view);
            the inspector keeps its own selection when None.
    """
    update_counter.get()
    own = solara.use_reactive(None)
    selected = agent_id if agent_id is not None else own
    with solara.Column(gap="6px", classes=["mesa-llm-inspector"]):
        solara.InputInt("agent id", value=selected, optional=True, continuous_update=False)
        if selected.value is None:
            solara.Text("Click an agent in the space or enter its id.")
            return
        agent = next((a for a in model.agents if a.unique_id == selected.value), None)
        if agent is None:
            solara.Warning(f"There is no agent with id {selected.value}.")
            return
        _AgentDetails(agent, getattr(agent, "last_record", None))


def _pre(text: str, name: str) -> None:
    """Text shown as is, wrapped at the card's width."""
    solara.Preformatted(text, class_=name, style_="white-space: pre-wrap; font-size: 0.85em; margin: 0")


@solara.component
def _AgentDetails(agent: Agent, record: CallRecord | None):
    """An agent's details; ``record`` is its last record (a prop, so a new decision re-renders)."""
    kind = population(agent)
    solara.Markdown(f"**Agent {agent.unique_id}**: {type(agent).__name__}, {kind.upper()} population")
    if not asks_model(agent):
        rule = (type(agent).decide.__doc__ or "").strip().splitlines()
        solara.Markdown(f"Decides by rule: {rule[0] if rule else type(agent).__name__}.decide")
        if hasattr(agent, "observe"):
            solara.Text("Observes now:")
            _pre(describe(agent.observe()), "mesa-llm-observation")
        return
    persona = getattr(agent, "persona", None)  # an LLMDecider's system prompt
    if persona is not None:
        solara.Text("Persona:")
        _pre(persona, "mesa-llm-persona")
    if record is None:
        solara.Text("No decision yet: press Step.")
        return
    solara.Text(f"Last observation (step {record.step}):")
    _pre(describe(agent.last_observation), "mesa-llm-observation")
    _RecordDetails(record)


@solara.component
def _RecordDetails(record: CallRecord):
    solara.Text("Prompt sent:")
    _pre("\n\n".join(f"[{role}]\n{content}" for role, content in record.messages), "mesa-llm-prompt")
    solara.Text("Raw answer:")
    _pre(record.raw or "(none: every attempt failed)", "mesa-llm-raw")
    with solara.Div(classes=["mesa-llm-action"]):
        solara.Markdown(f"**Action:** `{record.action}`" + _record_flags(record))
    if record.probabilities:
        rows = sorted(record.probabilities.items(), key=lambda item: -item[1])
        with solara.Div(classes=["mesa-llm-probabilities"]):
            solara.Markdown(
                "| option | probability |\n|:--|--:|\n" + "\n".join(f"| {o} | {p:.3f} |" for o, p in rows)
            )
    if record.error:
        solara.Warning(f"Last error: {record.error}")


def _record_flags(record: CallRecord) -> str:
    flags = []
    if record.cache_hit:
        flags.append("cache hit")
    if record.shared:
        flags.append("shared with an identical prompt")
    if record.fallback:
        flags.append("FALLBACK")
    if record.attempts > 1:
        flags.append(f"{record.attempts} attempts")
    if record.backend_calls:
        flags.append(f"{1000 * record.latency_s:.0f} ms")
    flags.append(f"backend {record.backend}")
    return " (" + ", ".join(flags) + ")"


def _parse_ids(text: str) -> set[int] | None:
    """Agent ids from ``"3, 7 12"``; None for an empty filter. Non-numbers are ignored."""
    ids = {int(part) for part in text.replace(",", " ").split() if part.isdigit()}
    return ids or None


@solara.component
def Transcript(model: Model, runtime: str = "llm", limit: int = 50):
    """The last step's LLM calls, optionally only those of some agents.

    Args:
        model: a model whose attribute ``runtime`` holds its :class:`~mesa_llm.LLMRuntime`.
        runtime: the name of that attribute.
        limit: the most calls listed (the count of all is shown).
    """
    update_counter.get()
    wanted = solara.use_reactive("")
    records = last_step_records(_runtime(model, runtime).log)
    ids = _parse_ids(wanted.value)
    shown = [r for r in records if ids is None or r.agent_id in ids]
    with solara.Column(gap="4px", classes=["mesa-llm-transcript"]):
        solara.InputText("filter by agent ids (e.g. 3, 17)", value=wanted, continuous_update=False)
        if not records:
            solara.Text("No LLM calls yet.")
            return
        step = records[0].step
        more = f", showing the first {limit}" if len(shown) > limit else ""
        solara.Text(f"Step {step}: {len(shown)} of {len(records)} calls{more}.")
        for record in shown[:limit]:
            probability = (record.probabilities or {}).get(record.action)
            chance = f"  p={probability:.2f}" if probability is not None else ""
            with solara.Details(summary=f"agent {record.agent_id} → {record.action}{chance}"):
                _RecordDetails(record)


def _component_factory(component: Callable[..., Any], **kwargs: Any) -> Callable[[Model], Any]:
    def make(model: Model) -> Any:
        return component(model, **kwargs)

    make.__name__ = component.__name__
    return make


def make_llm_panel(runtime: str = "llm") -> Callable[[Model], Any]:
    """An :func:`LLMPanel` for ``SolaraViz(components=[...])``."""
    return _component_factory(LLMPanel, runtime=runtime)


def make_agent_inspector() -> Callable[[Model], Any]:
    """An :func:`AgentInspector` with its own selection, for ``SolaraViz(components=[...])``."""
    return _component_factory(AgentInspector)


def make_transcript(runtime: str = "llm", limit: int = 50) -> Callable[[Model], Any]:
    """A :func:`Transcript` for ``SolaraViz(components=[...])``."""
    return _component_factory(Transcript, runtime=runtime, limit=limit)
