"""Solara components for the LLM side of any Mesa model that uses ``mesa_llm`` agents.

They read the model's :class:`~mesa_llm.runtime.LLMRuntime` (``model.llm`` by default) and
its agents, and work in Mesa's ``SolaraViz`` as well as in :mod:`mesa_llm.viz.dashboard`::

    from mesa.visualization import SolaraViz
    from mesa_llm.viz import make_agent_inspector, make_llm_panel, make_transcript

    page = SolaraViz(model, components=[make_llm_panel(), make_agent_inspector(), make_transcript()])

- :func:`LLMPanel`: decisions, backend calls, cache hits, tokens, fallbacks and mean latency,
  in all and in the last step.
- :func:`AgentInspector`: one agent's population, persona, last observation, the exact
  prompt it sent, the raw answer, the parsed action, what the scenario's rule would have
  done and the option probabilities; for a rule agent, its rule, its last decision and
  what it observes now.
- :func:`Transcript`: the last step's decisions, filterable by agent.

They use the words of the records (:class:`~mesa_llm.records.CallRecord`): a *decision* is
one record, one LLM agent's decision (``llm_decisions`` in all); a *backend call* is a
request that reached the backend (``llm_calls`` in all, ``backend_calls`` of a record), so
a decision answered by the cache or shared with an identical prompt makes none, and a
retried one several.

Each re-renders when Mesa's ``update_counter`` changes (after every step in ``SolaraViz``).
"""

from __future__ import annotations

import pprint
from collections.abc import Callable, Iterable, Mapping
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
    "action_text",
    "describe",
    "last_decision_text",
    "last_step_records",
    "make_agent_inspector",
    "make_llm_panel",
    "make_transcript",
    "rule_action_text",
    "rule_text",
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


def _plain(value: Any) -> Any:
    """An enum as its value, a mapping as a dict of plain values (e.g. moves by partner)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def describe(observation: Any) -> str:
    """A readable text of an observation: its fields as a prompt sees them, or else its repr."""
    try:
        fields = observation_fields(observation)
    except TypeError:
        shown: Any = observation
    else:
        shown = _plain(fields)
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
        ("mean latency per backend call", f"{1000 * log.mean_latency_s:.0f} ms"),
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
def AgentInspector(
    model: Model,
    agent_id: solara.Reactive[int | None] | None = None,
    observation_view: Callable[[Any], Any] | None = None,
):
    """One agent's decision: population, persona, observation, prompt, answer, action, probabilities.

    For an LLM agent, also what the scenario's rule would have done on the same observation
    (``CallRecord.rule_action``) and whether the LLM agreed; for a rule agent, its rule, its
    last decision (the runtime's ``last_actions``) and what it observes now.

    Args:
        model: the model.
        agent_id: the selected agent's ``unique_id`` (shared with a clickable space view);
            the inspector keeps its own selection when None.
        observation_view: what to show of an observation (a mapping of the fields to show,
            or any object :func:`describe` can show); the observation itself when None. A
            scenario whose prompt words a field differently from the observation (a round
            that is starting rather than the rounds played) shows it as the prompt does.
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
        _AgentDetails(agent, getattr(agent, "last_record", None), observation_view or _itself)


def _pre(text: str, name: str) -> None:
    """Text shown as is, wrapped at the card's width."""
    solara.Preformatted(text, class_=name, style_="white-space: pre-wrap; font-size: 0.85em; margin: 0")


def _itself(observation: Any) -> Any:
    return observation


def action_text(action: Any) -> str:
    """An action as the inspector shows it: a label as it is, an enum by its value, else its fields."""
    if isinstance(action, Enum):
        return str(action.value)
    return action if isinstance(action, str) else describe(action)


def rule_text(agent: Agent) -> str:
    """How a rule agent decides (Markdown): the first line of its ``decide`` docstring, and its name."""
    method = f"`{type(agent).__name__}.decide`"
    doc = (type(agent).decide.__doc__ or "").strip().splitlines()
    return f"Decides by rule ({method}): {doc[0].replace('``', '`')}" if doc else f"Decides by rule: {method}"


def last_decision_text(agent: Agent) -> str:
    """A rule agent's decision in the runtime's latest step (``model.llm.last_actions``)."""
    last = getattr(getattr(agent.model, "llm", None), "last_actions", None) or {}
    action = last.get(agent)
    return "Last decision: no decision yet." if action is None else f"Last decision: {action_text(action)}"


@solara.component
def _AgentDetails(agent: Agent, record: CallRecord | None, view: Callable[[Any], Any]):
    """An agent's details; ``record`` is its last record (a prop, so a new decision re-renders).

    It reads Mesa's ``update_counter`` too: a rule agent's last decision and observation
    change with every step, with the same props.
    """
    update_counter.get()
    kind = population(agent)
    solara.Markdown(f"**Agent {agent.unique_id}**: {type(agent).__name__}, {kind.upper()} population")
    if not asks_model(agent):
        with solara.Div(classes=["mesa-llm-rule"]):
            solara.Markdown(rule_text(agent))
        solara.Text(last_decision_text(agent), classes=["mesa-llm-last-decision"])
        if hasattr(agent, "observe"):
            solara.Text("Observes now (for its next decision):")
            _pre(describe(view(agent.observe())), "mesa-llm-observation")
        return
    persona = getattr(agent, "persona", None)  # an LLMDecider's system prompt
    if persona is not None:
        solara.Text("Persona:")
        _pre(persona, "mesa-llm-persona")
    if record is None:
        solara.Text("No decision yet: press Step.")
        return
    solara.Text(f"Last observation (step {record.step}):")
    _pre(describe(view(agent.last_observation)), "mesa-llm-observation")
    _RecordDetails(record)


@solara.component
def _RecordDetails(record: CallRecord):
    solara.Text("Prompt sent:")
    _pre("\n\n".join(f"[{role}]\n{content}" for role, content in record.messages), "mesa-llm-prompt")
    solara.Text("Raw answer:")
    _pre(record.raw or "(none: every attempt failed)", "mesa-llm-raw")
    with solara.Div(classes=["mesa-llm-action"]):
        solara.Markdown(f"**Action:** `{record.action}`" + _record_flags(record))
    if record.rule_action is not None:
        with solara.Div(classes=["mesa-llm-rule-action"]):
            solara.Markdown(rule_action_text(record))
    if record.probabilities:
        rows = sorted(record.probabilities.items(), key=lambda item: -item[1])
        with solara.Div(classes=["mesa-llm-probabilities"]):
            solara.Markdown(
                "| option | probability |\n|:--|--:|\n" + "\n".join(f"| {o} | {p:.3f} |" for o, p in rows)
            )
    if record.error:
        solara.Warning(f"Last error: {record.error}")


def rule_action_text(record: CallRecord) -> str:
    """What the scenario's rule would have done on the record's observation, and whether the LLM agreed."""
    verdict = "agrees" if record.rule_action == record.action else f"the LLM chose {record.action}"
    return f"**The rule would have:** `{record.rule_action}` ({verdict})"


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
    calls = record.backend_calls
    flags.append(f"{calls} backend call{'' if calls == 1 else 's'}")
    if calls:
        flags.append(f"{1000 * record.latency_s:.0f} ms")
    flags.append(f"backend {record.backend}")
    return " (" + ", ".join(flags) + ")"


def _parse_ids(text: str) -> set[int] | None:
    """Agent ids from ``"3, 7 12"``; None for an empty filter. Non-numbers are ignored."""
    ids = {int(part) for part in text.replace(",", " ").split() if part.isdigit()}
    return ids or None


@solara.component
def Transcript(model: Model, runtime: str = "llm", limit: int = 50):
    """The last step's LLM decisions (one record each), optionally only those of some agents.

    Args:
        model: a model whose attribute ``runtime`` holds its :class:`~mesa_llm.LLMRuntime`.
        runtime: the name of that attribute.
        limit: the most decisions listed (the count of all is shown).
    """
    update_counter.get()
    wanted = solara.use_reactive("")
    records = last_step_records(_runtime(model, runtime).log)
    ids = _parse_ids(wanted.value)
    shown = [r for r in records if ids is None or r.agent_id in ids]
    with solara.Column(gap="4px", classes=["mesa-llm-transcript"]):
        solara.InputText("filter by agent ids (e.g. 3, 17)", value=wanted, continuous_update=False)
        if not records:
            solara.Text("No LLM decisions yet.")
            return
        step = records[0].step
        more = f", showing the first {limit}" if len(shown) > limit else ""
        calls = sum(r.backend_calls for r in shown)
        solara.Text(f"Step {step}: {len(shown)} of {len(records)} decisions ({calls} backend calls){more}.")
        for record in shown[:limit]:
            probability = (record.probabilities or {}).get(record.action)
            chance = f"  p={probability:.2f}" if probability is not None else ""
            differs = record.rule_action is not None and record.rule_action != record.action
            rule = f"  (the rule would have: {record.rule_action})" if differs else ""
            with solara.Details(summary=f"agent {record.agent_id} → {record.action}{chance}{rule}"):
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
