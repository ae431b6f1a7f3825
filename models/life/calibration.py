"""The rule-table probe of Life's LLM cells: P(alive next | alive now, live neighbours), as a B/S rule.

The grid is the 18 observations a cell can make (:data:`~mesa_llm_models.life.OBSERVATIONS`:
dead or alive, with 0 to 8 live neighbours), asked of an LLM cell the model builds off the
board (:meth:`~mesa_llm_models.life.LifeModel.llm_cell`: its framing, its
``rule_in_prompt`` and its backend), so every probed prompt is one a cell of the model is
asked. Each point's coordinates are ``alive`` (0 or 1), ``live_neighbours`` and
``rule_alive`` (1 where the model's own ``rule`` makes that cell alive next).

The fit (:func:`fit_rule_table`) reads the 18 probabilities of ``alive`` off the probe
table as a :class:`~mesa_llm_models.life.RuleTable`, and its majority rule (alive where
P > 0.5, :meth:`~mesa_llm_models.life.RuleTable.rule`) in B/S notation. Its distance from
Conway's B3/S23 is given two ways: the number of the 18 cells where the majority answer
differs from Conway's, and the mean over the 18 cells of |P - Conway's 0 or 1|. The rule
populations it implies (:func:`implied_rules`) are deterministic rule cells of the majority
rule, and stochastic rule cells drawing their states with the fitted table.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mesa_llm.calibration import Described, Probe, ProbePoint, ProbeResult
from mesa_llm.calibration.probe import json_ready
from mesa_llm_models.life.agents import OBSERVATIONS
from mesa_llm_models.life.rules import CONWAY, NEIGHBOURS, LifeRule, RuleTable

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from mesa_llm_models.life.model import LifeModel

__all__ = ["TABLE_PROBE", "LifeTableFit", "fit_rule_table", "implied_distance", "implied_rules", "table_grid"]

_CELLS = len(OBSERVATIONS)
_COORDINATES = ("alive", "live_neighbours")


def table_grid(model: LifeModel) -> list[ProbePoint]:
    """The 18 observations (dead with 0 to 8 live neighbours, then alive), asked of one LLM cell."""
    cell = model.llm_cell()
    return [
        ProbePoint(
            {
                "alive": int(observed.alive),
                "live_neighbours": observed.live_neighbours,
                "rule_alive": int(model.rule.next_alive(*observed)),
            },
            cell,
            observed,
        )
        for observed in OBSERVATIONS
    ]


@dataclass(frozen=True, slots=True, repr=False)
class LifeTableFit(Described):
    """The rule table a probe implies, its B/S rule, and how far it is from Conway's.

    Attributes:
        birth: P(alive next) of a dead cell with 0 to 8 live neighbours (NaN where no
            valid answer came).
        survival: P(alive next) of a live cell with 0 to 8 live neighbours.
        birth_ci: the intervals of ``birth``, (low, high) each (the point itself where scored).
        survival_ci: the intervals of ``survival``.
        answers: the answers counted at each of the 18 points, dead ones first (1 where scored).
        table: the probabilities as a rule table; None where a point has no valid answer.
        rule: the majority rule: alive next where P > 0.5 (None without a table).
        model_rule: the probed model's own ``rule`` (the one its prompt states with
            ``rule_in_prompt``); None for a table without a ``rule_alive`` coordinate.
        differs: the number of the 18 cells where the majority answer differs from
            Conway's B3/S23 (None without a table).
        distance: the mean over the 18 cells of |P(alive next) - Conway's 0 or 1|: 0 for
            Conway's rule followed for certain, 1 for its opposite (NaN without a table).
        distance_ci: its interval: the distance plus or minus the root sum of squares of
            the cells' half-widths over 18 (a normal approximation, the cells independent;
            the level is the cells' own); the point itself where every point is scored.
        source: ``"scored"``, ``"sampled"`` or ``"mixed"``: how the points were answered.
        level: the intervals' confidence level.
    """

    birth: tuple[float, ...]
    survival: tuple[float, ...]
    birth_ci: tuple[tuple[float, float], ...]
    survival_ci: tuple[tuple[float, float], ...]
    answers: tuple[int, ...]
    table: RuleTable | None
    rule: LifeRule | None
    model_rule: LifeRule | None
    differs: int | None
    distance: float
    distance_ci: tuple[float, float]
    source: str
    level: float

    @property
    def conway(self) -> bool:
        """Whether the majority rule is exactly Conway's B3/S23."""
        return self.rule == CONWAY

    @property
    def follows_model_rule(self) -> bool | None:
        """Whether the majority rule is exactly the model's own (None where it is not known)."""
        return None if self.model_rule is None or self.rule is None else self.rule == self.model_rule

    @property
    def deterministic(self) -> bool:
        """Whether every probability is 0 or 1: cells that answer for certain."""
        return all(p in (0.0, 1.0) for p in (*self.birth, *self.survival))

    def describe(self) -> str:
        """E.g. ``B3/S23 (Conway's rule; 0 of 18 cells differ, mean |ΔP| 0.02)``."""
        if self.rule is None:
            missing = [
                f"{'alive' if alive else 'dead'} with {n}"
                for alive, values in ((False, self.birth), (True, self.survival))
                for n, p in enumerate(values)
                if math.isnan(p)
            ]
            return f"no rule: no valid answer for a cell {', '.join(missing)} live neighbours"
        cells = f"{self.differs} of {_CELLS} cells differ"
        if self.conway:
            return f"{self.rule} (Conway's rule; {cells}, mean |ΔP| {self.distance:.2f})"
        own = "the model's rule; " if self.follows_model_rule else ""
        return f"{self.rule} ({own}{cells} from Conway's B3/S23, mean |ΔP| {self.distance:.2f})"

    def to_dict(self) -> dict[str, Any]:
        """The fit as JSON-ready values: probabilities by live neighbours, NaN as None."""
        return {
            "rule": None if self.rule is None else str(self.rule),
            "rule_table": None if self.table is None else str(self.table),
            "birth": json_ready(self.birth),
            "survival": json_ready(self.survival),
            "birth_ci": json_ready(self.birth_ci),
            "survival_ci": json_ready(self.survival_ci),
            "answers": list(self.answers),
            "model_rule": None if self.model_rule is None else str(self.model_rule),
            "conway": self.conway,
            "follows_model_rule": self.follows_model_rule,
            "deterministic": self.deterministic,
            "differs": self.differs,
            "distance": json_ready(self.distance),
            "distance_ci": json_ready(self.distance_ci),
            "distance_metric": "mean over the 18 cells of |P(alive next) - Conway's B3/S23 (0 or 1)|",
            "source": self.source,
            "level": self.level,
        }


def fit_rule_table(table: pd.DataFrame, *, action: str = "alive", alpha: float = 0.05) -> LifeTableFit:
    """The rule table of a probe table (:func:`~mesa_llm.calibration.run_probe`) of the 18 observations.

    Args:
        table: one row per point and action, with the coordinates ``alive`` (0/1 or a
            bool) and ``live_neighbours`` naming each of the 18 observations once, and
            optionally ``rule_alive`` (the model's own rule at that point).
        action: the label of being alive next.
        alpha: the intervals' level is ``1 - alpha`` (that of the table's intervals).

    Raises:
        ValueError: for a table without the coordinates or the action, or with an
            observation missing or asked twice.
    """
    missing = [name for name in _COORDINATES if name not in table.columns]
    if missing:
        raise ValueError(
            f"A Life rule table needs the coordinates {', '.join(_COORDINATES)}; the probe table has no "
            f"{', '.join(missing)} (its columns are {list(table.columns)})."
        )
    rows = table[table["action"] == action]
    if rows.empty:
        raise ValueError(
            f"The probe table has no action {action!r}: its actions are {sorted(set(table['action']))}."
        )
    keys = list(zip(rows["alive"].astype(bool), rows["live_neighbours"].astype(int), strict=True))
    wrong = [o for o in OBSERVATIONS if keys.count(tuple(o)) != 1]
    if wrong:
        raise ValueError(
            f"A Life rule table needs each of the {_CELLS} observations (alive 0/1, live_neighbours 0-8) "
            f"once; {len(wrong)} are missing or repeated, such as alive={int(wrong[0].alive)}, "
            f"live_neighbours={wrong[0].live_neighbours}."
        )
    rows = rows.iloc[[keys.index(tuple(o)) for o in OBSERVATIONS]]  # dead 0-8, then alive 0-8
    p, low, high = (rows[c].to_numpy(float) for c in ("p", "ci_low", "ci_high"))
    counts = NEIGHBOURS + 1
    fitted = None if np.isnan(p).any() else RuleTable(tuple(p[:counts]), tuple(p[counts:]))
    conway = np.array([*RuleTable.of(CONWAY).birth, *RuleTable.of(CONWAY).survival])
    rule, differs, distance, distance_ci = None, None, math.nan, (math.nan, math.nan)
    if fitted is not None:
        rule = fitted.rule()
        differs = len(rule.birth ^ CONWAY.birth) + len(rule.survival ^ CONWAY.survival)
        distance = float(np.abs(p - conway).mean())
        half = float(np.sqrt(np.sum(((high - low) / 2) ** 2)) / _CELLS)
        distance_ci = (max(distance - half, 0.0), min(distance + half, 1.0))
    sources = set(rows["source"])
    return LifeTableFit(
        birth=tuple(p[:counts].tolist()),
        survival=tuple(p[counts:].tolist()),
        birth_ci=tuple(zip(low[:counts].tolist(), high[:counts].tolist(), strict=True)),
        survival_ci=tuple(zip(low[counts:].tolist(), high[counts:].tolist(), strict=True)),
        answers=tuple(int(n) for n in rows["answers"]),
        table=fitted,
        rule=rule,
        model_rule=_model_rule(rows),
        differs=differs,
        distance=distance,
        distance_ci=distance_ci,
        source=sources.pop() if len(sources) == 1 else "mixed",
        level=1.0 - alpha,
    )


def _model_rule(rows: pd.DataFrame) -> LifeRule | None:
    """The rule the ``rule_alive`` coordinate of the 18 ordered rows spells (None without it)."""
    if "rule_alive" not in rows.columns:
        return None
    alive = rows["rule_alive"].to_numpy(bool)
    counts = NEIGHBOURS + 1
    return LifeRule(
        frozenset(np.flatnonzero(alive[:counts]).tolist()), frozenset(np.flatnonzero(alive[counts:]).tolist())
    )


def implied_rules(fit: LifeTableFit) -> dict[str, dict[str, Any]]:
    """The rule populations a table fit implies, name -> model parameters; none without a table.

    ``rule``: deterministic rule cells of the majority rule (``rule``; any ``rule_table``
    of the probe's settings unset); ``table``: stochastic rule cells drawing their next
    states with the fitted probabilities (``rule_table``). For a deterministic table the
    two are the same cells.
    """
    if fit.table is None or fit.rule is None:
        return {}
    return {"table": {"rule_table": str(fit.table)}, "rule": {"rule": str(fit.rule), "rule_table": None}}


def implied_distance(fit: LifeTableFit) -> tuple[float, float, float]:
    """The distance from Conway's rule (mean |ΔP| over the 18 cells) and its interval, for knob maps.

    The scalar a knob (a framing, ``rule_in_prompt``) moves: how far the cells' answers are
    from Conway's B3/S23, 0 when they follow it for certain. NaN without a table.
    """
    return fit.distance, *fit.distance_ci


def table_probe_figure(result: ProbeResult) -> Figure:
    """P(alive next) against the live neighbours, for dead and for live cells, with Conway's rule marked."""
    from matplotlib.figure import Figure  # imported on use: it takes a while

    fit: LifeTableFit = result.fit
    n = np.arange(NEIGHBOURS + 1)
    conway = RuleTable.of(CONWAY)
    figure = Figure(figsize=(6.5, 4.2), layout="constrained")
    axes = figure.add_subplot()
    series = (
        ("dead now", fit.birth, fit.birth_ci, conway.birth, "C0", -0.08),
        ("alive now", fit.survival, fit.survival_ci, conway.survival, "C1", 0.08),
    )
    for label, p, ci, rule, colour, shift in series:
        values = np.array(p)
        errors = np.vstack([values - np.array(ci)[:, 0], np.array(ci)[:, 1] - values]).clip(min=0)
        axes.errorbar(
            n + shift, values, yerr=errors, fmt="o-", color=colour, capsize=3, label=f"{label}, probed"
        )
        axes.scatter(
            n + shift,
            rule,
            marker="s",
            s=70,
            facecolors="none",
            edgecolors=colour,
            zorder=3,
            label=f"{label}, Conway's B3/S23",
        )
    axes.axhline(0.5, color="0.5", lw=0.6, ls=":")
    axes.set_xticks(n)
    axes.set(xlabel="live neighbours (of 8)", ylabel="P(alive next)", ylim=(-0.05, 1.08))
    rule_in_prompt = "stated" if result.parameters.get("rule_in_prompt") else "not stated"
    name = (
        f"{result.scenario.name}: {result.backend}, framing {result.parameters.get('framing')}, "
        f"rule {rule_in_prompt}"
    )
    axes.set_title("\n".join([name, *textwrap.wrap(result.describe(), 72)]), fontsize="medium")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2, fontsize="small")
    return figure


TABLE_PROBE = Probe(
    name="table",
    description="P(alive next) at each of the 18 observations (state, live neighbours), as a B/S rule",
    grid=table_grid,
    fit=fit_rule_table,
    parameters={"width": 5, "height": 5},
    rules=implied_rules,
    figure=table_probe_figure,
    implied=implied_distance,
    implied_name="distance from B3/S23 (mean |ΔP|)",
)
"""Life's rule-table probe, on a 5 x 5 board of rule cells (the probed LLM cell is off the board)."""
