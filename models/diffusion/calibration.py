"""The cascade probe of diffusion's LLM residents: the telling and attending rule they imply.

The grid asks one LLM resident, built as the model builds its residents
(:meth:`~mesa_llm_models.diffusion.DiffusionModel.llm_resident`: its framing, persona
and backend), about 12 hours: it knows of the event or not (its memories quote the
host's news, or only a walk in the park), someone it knows came up to it, a stranger, or
nobody, and the hour is the event's start (it is at the park, away from the event) or a
morning hour. Each point's coordinates are ``informed`` (0/1), ``partner``
(``acquaintance``, ``stranger`` or ``nobody``) and ``invite`` (0/1).

The fit (:func:`fit_cascade`) reads the independent cascade's two rates off the probe
table: ``p`` = P(talk | informed, an acquaintance came, not the event's hour) and ``q`` =
P(go to the event | informed, its starting hour, nobody came); and what the cascade says
is zero: talking when uninformed (the resident's chattiness) and going to the event
without knowing of it. It implies rule residents of the cascade with those ``p`` and ``q``
(:func:`implied_rules`), for a round trip.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mesa_llm.calibration import Described, Probe, ProbePoint, ProbeResult
from mesa_llm.calibration.probe import json_ready
from mesa_llm_models.diffusion.agents import TALK, Situation, go_to, partner_text
from mesa_llm_models.diffusion.framings import quote_memories
from mesa_llm_models.diffusion.news import clock, news_sentence

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from mesa_llm_models.diffusion.model import DiffusionModel

__all__ = ["CASCADE_PROBE", "CascadeFit", "cascade_figure", "cascade_grid", "fit_cascade", "implied_rules"]

PARTNERS = ("acquaintance", "stranger", "nobody")
_COORDINATES = ("informed", "partner", "invite", "event_place")
"""The coordinates of a cascade probe's points."""
_MORNING = 10
"""The hour of the points away from the event's start."""


def cascade_grid(model: DiffusionModel) -> list[ProbePoint]:
    """The 12 hours (informed or not, x acquaintance, stranger or nobody, x the event's hour or not)."""
    host = model.host
    subject = next(
        (
            r
            for r in model.residents
            if r is not host and 0 < len(model.neighbours[r]) < len(model.residents) - 1
        ),
        None,
    )
    if subject is None:
        raise ValueError(
            "The cascade probe needs a resident other than the host with an acquaintance and a stranger: "
            "this graph has none (use a connected graph that is not complete)."
        )
    index = subject.node
    meeting, alone = model.llm_resident(index), model.llm_resident(index)
    known = sorted(model.neighbours[subject], key=lambda r: r.name)
    strangers = [r for r in model.residents if r not in known and r is not subject]
    meeting.partner = known[0]  # the probed residents never step: their partner only sets the actions
    event, park = model.event, next(p for p in model.town.public_places() if p.id != model.event.place)
    heard = f"{host.name} said to me: {news_sentence(event, model.town)}"
    points = []
    for informed in (1, 0):
        memories = quote_memories(
            [heard, f"I am at {park.name}, alone."] if informed else [f"I am at {park.name}, alone."]
        )
        for partner in PARTNERS:
            for invite in (1, 0):
                day, hour = (event.day, event.start) if invite else (1, _MORNING)
                other = {"acquaintance": known[0], "stranger": strangers[0], "nobody": None}[partner]
                situation = Situation(
                    clock=f"day {day}, {clock(hour)}",
                    place=park.name,
                    company="Nobody else is here." if other is None else f"Also here: {other.name}.",
                    partner=partner_text(None if other is None else other.name, partner == "acquaintance"),
                    places=model.places_text,
                    memories=memories,
                    hour=hour,
                    day=day,
                    place_id=park.id,
                    partner_id=None if other is None else other.unique_id,
                    acquainted=partner == "acquaintance",
                )
                coordinates = {
                    "informed": informed,
                    "partner": partner,
                    "invite": invite,
                    "event_place": event.place,
                }
                points.append(ProbePoint(coordinates, meeting if other is not None else alone, situation))
    return points


@dataclass(frozen=True, slots=True, repr=False)
class CascadeFit(Described):
    """The cascade rates a probe implies, and what the cascade says should be zero.

    Attributes:
        p: P(talk | informed, an acquaintance came, not the event's hour): the telling rate.
        p_ci: its interval (the point itself where scored).
        q: P(go to the event | informed, its starting hour, nobody came): the attending rate.
        q_ci: its interval.
        chatter: P(talk | not informed, an acquaintance came, not the event's hour); the
            cascade's 0. Above it the resident talks whatever it knows.
        stranger: P(talk | informed, a stranger came, not the event's hour); the cascade's 0.
        uninvited: P(go to the event | not informed, its starting hour, nobody came); the
            cascade's 0 (it goes there without knowing of the event).
        source: ``"scored"``, ``"sampled"`` or ``"mixed"``.
        level: the intervals' confidence level.
    """

    p: float
    p_ci: tuple[float, float]
    q: float
    q_ci: tuple[float, float]
    chatter: float
    stranger: float
    uninvited: float
    source: str
    level: float

    @property
    def informed_talk_gap(self) -> float:
        """P(talk) informed minus uninformed, to an acquaintance: how much knowing makes it tell."""
        return self.p - self.chatter

    def describe(self) -> str:
        """E.g. ``p = 0.31 [0.22, 0.41], q = 0.50 [...]; uninformed it talks with 0.28, ...``."""
        if math.isnan(self.p) or math.isnan(self.q):
            return "no cascade: no valid answer at the informed points"
        return (
            f"p = {self.p:.2f} [{self.p_ci[0]:.2f}, {self.p_ci[1]:.2f}], q = {self.q:.2f} "
            f"[{self.q_ci[0]:.2f}, {self.q_ci[1]:.2f}]; uninformed it talks with {self.chatter:.2f} "
            f"(knowing adds {self.informed_talk_gap:+.2f}), to a stranger it tells with {self.stranger:.2f}, "
            f"and it goes to the event unknowing with {self.uninvited:.2f} (the cascade's 0 each)"
        )

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready values."""
        return {
            "p": json_ready(self.p),
            "p_ci": json_ready(self.p_ci),
            "q": json_ready(self.q),
            "q_ci": json_ready(self.q_ci),
            "chatter": json_ready(self.chatter),
            "stranger": json_ready(self.stranger),
            "uninvited": json_ready(self.uninvited),
            "informed_talk_gap": json_ready(self.informed_talk_gap),
            "source": self.source,
            "level": self.level,
        }


def fit_cascade(table: pd.DataFrame, *, alpha: float = 0.05) -> CascadeFit:
    """The cascade rates of a probe table of :func:`cascade_grid`'s 12 points.

    Raises:
        ValueError: for a table without the coordinates ``informed``, ``partner``, ``invite``
            and ``event_place``.
    """
    missing = [c for c in _COORDINATES if c not in table.columns]
    if missing:
        raise ValueError(
            f"A cascade fit needs the coordinates {', '.join(_COORDINATES)}; the probe table has no "
            f"{', '.join(missing)}."
        )
    place = go_to(str(table["event_place"].iloc[0]))

    def at(action: str, informed: int, partner: str, invite: int) -> tuple[float, float, float]:
        rows = table[
            (table["action"] == action)
            & (table["informed"] == informed)
            & (table["partner"] == partner)
            & (table["invite"] == invite)
        ]
        if rows.empty:  # the action is not in that point's space, or the table lacks the point
            return math.nan, math.nan, math.nan
        row = rows.iloc[0]
        return float(row["p"]), float(row["ci_low"]), float(row["ci_high"])

    p, p_low, p_high = at(TALK, 1, "acquaintance", 0)
    q, q_low, q_high = at(place, 1, "nobody", 1)
    sources = set(table["source"])
    return CascadeFit(
        p=p,
        p_ci=(p_low, p_high),
        q=q,
        q_ci=(q_low, q_high),
        chatter=at(TALK, 0, "acquaintance", 0)[0],
        stranger=at(TALK, 1, "stranger", 0)[0],
        uninvited=at(place, 0, "nobody", 1)[0],
        source=sources.pop() if len(sources) == 1 else "mixed",
        level=1.0 - alpha,
    )


def implied_rules(fit: CascadeFit) -> dict[str, dict[str, Any]]:
    """The rule residents the fit implies: the independent cascade with its ``p`` and ``q`` (none without)."""
    if math.isnan(fit.p) or math.isnan(fit.q):
        return {}
    return {"cascade": {"baseline": "cascade", "p": round(fit.p, 6), "q": round(fit.q, 6)}}


def cascade_figure(result: ProbeResult) -> Figure:
    """P(talk) by who came up, and P(go to the event) at its start, informed against not, with intervals."""
    from matplotlib.figure import Figure  # imported on use: it takes a while

    table = result.table
    place = go_to(str(table["event_place"].iloc[0]))
    bars = [(f"talk\n{partner}", TALK, partner, 0) for partner in PARTNERS[:2]] + [
        ("go to the event\nat its start", place, "nobody", 1)
    ]
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    axes = figure.add_subplot()
    for offset, informed, colour in ((-0.18, 1, "C1"), (0.18, 0, "C0")):
        for x, (_, action, partner, invite) in enumerate(bars):
            rows = table[
                (table["action"] == action)
                & (table["informed"] == informed)
                & (table["partner"] == partner)
                & (table["invite"] == invite)
            ]
            if rows.empty:
                continue
            row = rows.iloc[0]
            error = [[row["p"] - row["ci_low"]], [row["ci_high"] - row["p"]]]
            label = ("informed" if informed else "not informed") if x == 0 else None
            axes.bar(x + offset, row["p"], width=0.34, color=colour, yerr=error, capsize=3, label=label)
    axes.set_xticks(range(len(bars)), [label for label, *_ in bars])
    axes.set(ylabel="probability", ylim=(0, 1.05))
    name = f"{result.scenario.name}: {result.backend}, framing {result.parameters.get('framing')}"
    axes.set_title("\n".join([name, *textwrap.wrap(result.describe(), 72)]), fontsize="small")
    axes.legend(loc="upper right", fontsize="small")
    return figure


def implied_p(fit: CascadeFit) -> tuple[float, float, float]:
    """The telling rate ``p`` and its interval, for knob maps."""
    return fit.p, *fit.p_ci


CASCADE_PROBE = Probe(
    name="cascade",
    description="P(talk) and P(go to the event) by knowing, who came up and the hour: the implied p and q",
    grid=cascade_grid,
    fit=fit_cascade,
    parameters={"embeddings": "hashing"},
    rules=implied_rules,
    figure=cascade_figure,
    implied=implied_p,
    implied_name="p",
)
"""The cascade probe (see the module's docstring)."""
