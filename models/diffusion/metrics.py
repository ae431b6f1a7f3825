"""The diffusion model's measures: who knows, who talked, who came, and what the interviews say.

- ``informed``: the share of residents who know of the event (ground truth: the
  matcher found its place and starting hour in what they heard), for all and each
  population;
- ``density``: the relationship density, pairs who are acquainted or have talked over all
  pairs (the paper's 0.167 at the start);
- ``attended``: the share of residents other than the host who were at the event's place
  during its hours (``attendees``: their number);
- ``conversations``: the conversations so far;
- ``interview_informed``: the share of LLM residents whose latest interview answer states
  the event, and ``hallucination``: the share whose answer names a place or an hour
  that none of their memories names (NaN before the first interview or without LLM
  residents).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from mesa_llm.populations import ALL, per_population, ratio
from mesa_llm_models.diffusion.news import claims_of, states_event

if TYPE_CHECKING:
    from mesa_llm_models.diffusion.agents import LLMResident
    from mesa_llm_models.diffusion.model import DiffusionModel

__all__ = ["INTERVIEW_COLUMNS", "Interviews", "reporters"]

INTERVIEW_COLUMNS = (
    "day",
    "step",
    "question",
    "resident",
    "name",
    "answer",
    "informed",
    "states_event",
    "unsupported_places",
    "unsupported_hours",
    "hallucinated",
    "fallback",
)
"""The columns of the interviews' table (:meth:`Interviews.frame`)."""


@dataclass
class Interviews:
    """Every interview answer so far, judged against the resident's memories."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    latest: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, model: DiffusionModel, question: str, residents: Sequence[LLMResident], answers: Sequence[str]
    ) -> pd.DataFrame:
        """Judge and keep one round of answers; that round as a table.

        An answer *states the event* when the matcher finds the event's place and starting
        hour in it; it is *hallucinated* when it names a place or an hour that no memory of
        the resident names (so a wrong time or place of a party it heard of, or a party it
        never heard of, with its place or time).
        """
        places = tuple(model.town.places.values())
        round_rows = []
        for resident, answer in zip(residents, answers, strict=True):
            known = claims_of("\n".join(resident.memory.frame()["text"]), places)
            unsupported = claims_of(answer, places).unsupported(known)
            round_rows.append(
                {
                    "day": model.day,
                    "step": model.steps,
                    "question": question,
                    "resident": resident.unique_id,
                    "name": resident.name,
                    "answer": answer,
                    "informed": resident.informed,
                    "states_event": states_event(answer, model.event, places),
                    "unsupported_places": ", ".join(sorted(unsupported.places)),
                    "unsupported_hours": ", ".join(
                        "/".join(str(h) for h in sorted(mention)) for mention in unsupported.hours
                    ),
                    "hallucinated": not unsupported.empty,
                    "fallback": answer == "",
                }
            )
        self.rows.extend(round_rows)
        self.latest = round_rows
        return pd.DataFrame(round_rows, columns=list(INTERVIEW_COLUMNS))

    def frame(self) -> pd.DataFrame:
        """Every answer so far, one row each (:data:`INTERVIEW_COLUMNS`)."""
        return pd.DataFrame(self.rows, columns=list(INTERVIEW_COLUMNS))

    def share(self, column: str) -> float:
        """The share of the latest round's answers (not fallen back) where ``column`` is true."""
        answered = [row for row in self.latest if not row["fallback"]]
        return ratio(sum(bool(row[column]) for row in answered), len(answered))


def reporters() -> dict[str, Any]:
    """The model reporters (module-level functions, so that a model holding them pickles)."""
    return {
        "informed": _informed_all,
        **per_population({"informed": _informed}),
        "density": _density,
        "attended": _attended,
        "attendees": _attendees,
        "conversations": _conversations,
        "interview_informed": _interview_informed,
        "hallucination": _hallucination,
    }


def _informed_all(m: DiffusionModel) -> float:
    return _informed(m, ALL)


def _informed(m: DiffusionModel, population: str) -> float:
    group = [r for r in m.residents if population == ALL or r.population == population]
    return ratio(sum(r.informed for r in group), len(group))


def _density(m: DiffusionModel) -> float:
    n = len(m.residents)
    pairs = {frozenset((a.name, b.name)) for a, b in m.acquainted_pairs} | m.talked
    return ratio(len(pairs), n * (n - 1) // 2)


def _attendees(m: DiffusionModel) -> int:
    return len(m.attended - {m.host.name})


def _attended(m: DiffusionModel) -> float:
    return ratio(_attendees(m), len(m.residents) - 1)


def _conversations(m: DiffusionModel) -> int:
    return len(m.conversations)


def _interview_informed(m: DiffusionModel) -> float:
    return m.interview_log.share("states_event") if m.interview_log.latest else math.nan


def _hallucination(m: DiffusionModel) -> float:
    return m.interview_log.share("hallucinated") if m.interview_log.latest else math.nan
