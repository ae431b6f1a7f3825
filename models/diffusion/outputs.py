"""A diffusion run's length and own outputs: memories, the cascade tree, conversations, interviews, a plot.

A run lasts :func:`run_steps`, 24 steps (game hours) a day. ``mesa-llm run diffusion``
writes the outputs into the run's folder beside the standard files (the scenario's
``outputs``, also for an interrupted run), and ``write_outputs(model, folder)`` from
Python:

- ``memories.jsonl.gz``: every LLM resident's memories, one JSON line each (the columns
  of ``MemoryStream.frame()`` with the resident's ``name`` after its ``agent_id``; no
  embeddings), gzip-compressed. A run without LLM residents writes it too, with no lines
  (``pandas.read_json(path, lines=True)`` reads an empty frame), so that every run's
  folder has the same files;
- ``cascade.json``: who told whom, networkx node-link JSON of ``model.cascade`` (nodes
  are names, with ``population`` and ``step``; edges teller to listener, with ``step``,
  ``day`` and ``hour``); ``networkx.node_link_graph(data, edges="edges")`` reads it back;
- ``conversations.jsonl``: one JSON line per conversation: ``step``, ``day``, ``hour``,
  ``first`` (who started it), ``second`` and ``lines`` (``speaker``, ``text``, ``informs``);
- ``interviews.csv``: every interview answer (``model.interview_log.frame()``);
- ``diffusion.png``: the informed fraction (all, rule and LLM residents) and the
  relationship density against the game hour, the event's hours shaded.
"""

from __future__ import annotations

import gzip
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import pandas as pd

from mesa_llm.checks import check_int
from mesa_llm.lab.plots import populations_of
from mesa_llm.populations import ALL, LLM, POPULATIONS, RULE, column, label
from mesa_llm_models.diffusion.agents import LLMResident
from mesa_llm_models.diffusion.model import DiffusionModel
from mesa_llm_models.diffusion.talk import Conversation
from mesa_llm_models.diffusion.town import HOURS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CASCADE_FILE",
    "CONVERSATIONS_FILE",
    "INTERVIEWS_FILE",
    "MEMORIES_FILE",
    "PLOT_FILE",
    "conversation_record",
    "diffusion_figure",
    "memories_frame",
    "run_steps",
    "write_outputs",
]

MEMORIES_FILE = "memories.jsonl.gz"
"""Every LLM resident's memories (compressed JSON lines)."""
CASCADE_FILE = "cascade.json"
"""The cascade tree (networkx node-link JSON)."""
CONVERSATIONS_FILE = "conversations.jsonl"
"""One conversation per line (JSON lines)."""
INTERVIEWS_FILE = "interviews.csv"
"""Every interview answer."""
PLOT_FILE = "diffusion.png"
"""The informed fraction and the density against the game hour."""

# The line style of all residents and of each population (as the run's metrics.png).
_STYLES = {ALL: "-", RULE: "--", LLM: ":"}


def run_steps(params: Mapping[str, Any]) -> int:
    """The steps a run of these parameters lasts: 24 a game day (the model stops after ``days``).

    The scenario's ``steps_of``; ``days`` takes the model's default where not given.

    Raises:
        TypeError: for ``days`` that is not a whole number.
        ValueError: for ``days`` under 1.
    """
    days = params.get("days", inspect.signature(DiffusionModel).parameters["days"].default)
    return HOURS * check_int("days", days, minimum=1)


def write_outputs(model: DiffusionModel, folder: str | os.PathLike[str]) -> list[str]:
    """Write the run's memories, cascade tree, conversations, interviews and plot into ``folder``.

    The diffusion scenario's ``outputs``: a finished or interrupted run's, as the model
    is left (``folder`` is created if missing).

    Returns:
        the names of the files written, in the order written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = memories_frame(model)
    memories = frame.to_json(orient="records", lines=True, force_ascii=False) if len(frame) else ""
    (folder / MEMORIES_FILE).write_bytes(gzip.compress(memories.encode("utf-8"), mtime=0))
    cascade = nx.node_link_data(model.cascade, edges="edges")
    (folder / CASCADE_FILE).write_text(json.dumps(cascade, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [json.dumps(conversation_record(c), ensure_ascii=False) + "\n" for c in model.conversations]
    (folder / CONVERSATIONS_FILE).write_text("".join(lines), encoding="utf-8")
    model.interview_log.frame().to_csv(folder / INTERVIEWS_FILE, index=False)
    diffusion_figure(model).savefig(folder / PLOT_FILE, format="png", dpi=100)
    return [MEMORIES_FILE, CASCADE_FILE, CONVERSATIONS_FILE, INTERVIEWS_FILE, PLOT_FILE]


def memories_frame(model: DiffusionModel) -> pd.DataFrame:
    """Every LLM resident's memories, in resident order: ``MemoryStream.frame()`` with a ``name`` column.

    Empty (no columns) for a model without LLM residents.
    """
    frames = []
    for resident in model.residents:
        if isinstance(resident, LLMResident):
            frame = resident.memory.frame()
            frame.insert(1, "name", resident.name)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def conversation_record(conversation: Conversation) -> dict[str, Any]:
    """A conversation as ``conversations.jsonl`` holds it: when, who, and its lines."""
    return {
        "step": conversation.step,
        "day": (conversation.step - 1) // HOURS + 1,
        "hour": (conversation.step - 1) % HOURS,
        "first": conversation.first.name,
        "second": conversation.second.name,
        "lines": [
            {"speaker": line.speaker, "text": line.text, "informs": line.informs}
            for line in conversation.lines
        ],
    }


def diffusion_figure(model: DiffusionModel) -> Figure:
    """The informed fraction by population and the density against the game hour, the event shaded.

    Row ``i`` of the model's collection is the state after step ``i``, the end of game
    hour ``i - 1``, so it is drawn at hour ``i`` (hours since midnight of day 1); the
    event spans its hours on its day. Populations without residents are not drawn.
    """
    from matplotlib.figure import Figure  # imported on use: it takes a while
    from matplotlib.ticker import MultipleLocator

    frame = _model_frame(model)
    event = model.event
    first = (event.day - 1) * HOURS + event.start
    figure = Figure(figsize=(10, 4), layout="constrained")
    informed, density = figure.subplots(1, 2)
    for group in (ALL, *(g for g in POPULATIONS if g in populations_of(model))):
        name = column("informed", group)
        if name in frame and frame[name].notna().any():
            informed.plot(frame.index, frame[name], _STYLES[group], label=label(group))
    density.plot(frame.index, frame["density"], _STYLES[ALL], label="acquainted or talked")
    for ax, title in ((informed, "informed fraction"), (density, "relationship density")):
        ax.axvspan(first, first + event.end - event.start, color="tab:orange", alpha=0.2, label=event.title)
        ax.set_title(title)
        ax.set_xlabel("game hour (0 is midnight of day 1)")
        ax.xaxis.set_major_locator(MultipleLocator(HOURS if len(frame) > 2 * HOURS else 6))
        ax.set_xlim(0, max(len(frame) - 1, 1))
        ax.legend()
    informed.set_ylim(-0.02, 1.02)
    figure.suptitle(f"diffusion: {model.event.title}, {len(model.residents)} residents")
    return figure


def _model_frame(model: DiffusionModel) -> pd.DataFrame:
    """The collected model reporters, one row per collection (those an interrupt left whole)."""
    collected = model.datacollector.model_vars
    rows = min(map(len, collected.values()))
    return pd.DataFrame({name: values[:rows] for name, values in collected.items()})
