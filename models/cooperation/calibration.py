"""The implied strategies of the cooperation scenario's LLM players: memory-one, and imitation.

Both probes ask an :class:`~mesa_llm_models.cooperation.agents.LLMPlayer` of a model built
for probing (one move for all partners, the model's framing, persona and backend) about
situations the model shows its LLM players, each a
:class:`~mesa_llm_models.cooperation.agents.Situation` whose moves are set up and whose
scores are those the model's payoffs give for them (after one round, ``cumulative`` and
``round`` scores are the same).

- **Memory-one** (:data:`MEMORY_ONE_PROBE`): on a world of two players (each the other's
  only neighbour) in which LLM players choose their opening move (``llm_opening="llm"``),
  P(cooperate) before anyone has played (``first``: the opening round's prompt) and after
  each round of (own move, partner's move) CC, CD, DC, DD. The fit
  (:func:`mesa_llm.calibration.strategy.fit_memory_one`) names the nearest of ALLC, ALLD,
  TFT, WSLS and GRIM; its rule population is ``MEMORY1`` players with the fitted vector.
- **Imitation** (:data:`IMITATION_PROBE`): a player among ``k`` neighbours (8 on the
  probing model's 3 x 3 Moore torus) of whom one cooperated and the others defected. One
  neighbour outscores everyone: the lone cooperator or a defector (at the other end of
  the list), its score raised by its own unseen partners (who cooperated with it) while
  the others' unseen partners defected. Every pattern of moves is asked twice, with a
  cooperator and with a defector best, so an answer that ignores the scores is the best
  scorer's move at exactly half the points: the baseline is 0.5.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mesa_llm.calibration import Probe, ProbePoint, ProbeResult
from mesa_llm.calibration.strategy import (
    MEMORY_ONE_STATES,
    NAMED_STRATEGIES,
    ImitationFit,
    MemoryOne,
    MemoryOneFit,
    fit_imitation,
    fit_memory_one,
)
from mesa_llm_models.cooperation.agents import LLMPlayer, NeighbourView, Situation, seen_score
from mesa_llm_models.cooperation.game import Move

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from mesa_llm_models.cooperation.model import CooperationModel

__all__ = [
    "IMITATION_PROBE",
    "MEMORY_ONE_PROBE",
    "imitation_grid",
    "imitation_rules",
    "implied_rules",
    "memory_one_grid",
]

C, D = Move.COOPERATE, Move.DEFECT
_STATE_MOVES = {state: tuple(C if m == "C" else D for m in state) for state in MEMORY_ONE_STATES[1:]}
"""(own move, partner's move) of the states after a round: CC, CD, DC, DD."""


def _probed_player(model: CooperationModel, probe: str) -> LLMPlayer:
    """The model's first LLM player that makes one move for all partners."""
    player = next((p for p in model.agents if type(p) is LLMPlayer), None)
    if player is None:
        raise ValueError(
            f"The {probe} probe asks an LLM player that makes one move for all its partners, and the "
            "model has none: probe with llm_share above 0 and llm_moves='one'."
        )
    if model.llm_imitation == "rule" and model.imitation_due(1):
        raise ValueError(
            f"With llm_imitation='rule' the model does not ask its LLM players on imitation rounds, "
            f"which the {probe} probe's situations are: probe with llm_imitation='llm'."
        )
    return player


def _round_score(model: CooperationModel, move: Move, partner_moves: Sequence[Move]) -> float:
    """The score after one round of ``move`` against ``partner_moves`` (and itself with self-interaction)."""
    table = model.payoffs.table()
    own = table[(move, move)] if model.self_interaction else 0.0
    return sum(table[(move, theirs)] for theirs in partner_moves) + own


def _view(neighbour: Any, move: Move, score: float) -> NeighbourView:
    """What the player sees of an LLM neighbour that played ``move`` (imitable as ALLC or ALLD)."""
    return NeighbourView(neighbour.unique_id, move, score, "ALLC" if move is C else "ALLD")


def memory_one_grid(model: CooperationModel) -> list[ProbePoint]:
    """The opening round's prompt, then the four states after one round, asked of a player with one partner.

    Raises:
        ValueError: for a model whose LLM players do not choose their opening move, or
            whose probed player has not exactly one neighbour.
    """
    player = _probed_player(model, "memory-one")
    if model.llm_opening != "llm":
        raise ValueError(
            "The memory-one probe asks the first move, which LLM players choose only with "
            "llm_opening='llm' (otherwise their initial strategy makes it): probe with llm_opening='llm'."
        )
    if len(player.neighbours) != 1:
        raise ValueError(
            f"The memory-one probe asks a player with one partner; the model's players have "
            f"{len(player.neighbours)}: probe on two players, width=2, height=1, torus=False (its defaults)."
        )
    (partner,) = player.neighbours
    points = [ProbePoint({"state": "first"}, player, player.observe())]  # nobody has played yet
    for state, (own, theirs) in _STATE_MOVES.items():
        seen = _view(partner, theirs, _round_score(model, theirs, [own]))
        situation = Situation.given(
            player, 1, own, _round_score(model, own, [theirs]), [seen], model.imitation_due(1)
        )
        points.append(ProbePoint({"state": state}, player, situation))
    return points


def imitation_grid(model: CooperationModel) -> list[ProbePoint]:
    """Eight situations after one round: own move x the lone cooperator first or last x who scores best.

    Raises:
        ValueError: for a player with fewer than 2 neighbours, or payoffs with which no
            neighbour can outscore the player and the others.
    """
    player = _probed_player(model, "imitation")
    neighbours = player.neighbours
    k = len(neighbours)
    if k < 2:
        raise ValueError(
            f"The imitation probe asks a player with several neighbours; the model's players have {k}: "
            "probe on a grid (width=3, height=3, its defaults)."
        )
    points = []
    for own in (C, D):
        for lone in (0, k - 1):  # where the lone cooperator is listed
            moves = [C if i == lone else D for i in range(k)]
            for best in (lone, k - 1 - lone):  # the cooperator, or the defector at the other end
                views = []
                for i, (n, move) in enumerate(zip(neighbours, moves, strict=True)):
                    unseen = [C if i == best else D] * (len(n.neighbours) - 1)  # its other partners
                    views.append(_view(n, move, _round_score(model, move, [own, *unseen])))
                score = _round_score(model, own, moves)
                _check_best(model, views, best, score)
                situation = Situation.given(player, 1, own, score, views, model.imitation_due(1))
                coordinates = {
                    "own_move": own.value,
                    "best_move": moves[best].value,
                    "best_position": best + 1,
                    "cooperator_position": lone + 1,
                }
                points.append(ProbePoint(coordinates, player, situation))
    return points


def _check_best(model: CooperationModel, views: list[NeighbourView], best: int, own: float) -> None:
    """Check that the neighbour ``best`` outscores the player and the others, as players see scores."""
    top = seen_score(views[best].score)
    others = [seen_score(v.score) for i, v in enumerate(views) if i != best] + [seen_score(own)]
    if top <= max(others):
        raise ValueError(
            f"With payoffs {tuple(model.payoffs)} and {len(views)} neighbours, no neighbour that "
            f"{views[best].move.value}s can outscore the player and the others after one round, which "
            "the imitation probe needs: probe with other payoffs, or on a player with more neighbours."
        )


def implied_rules(fit: MemoryOneFit) -> dict[str, dict[str, Any]]:
    """The rule populations a memory-one fit implies, name -> model parameters.

    - ``memory_one``: every player ``MEMORY1`` with the fitted vector, drawing its moves
      as LLM players do that draw from a scoring backend's probabilities (temperature 1);
    - ``pure``: ``MEMORY1`` with the vector rounded, each state's most probable move
      (cooperate on a tie, as the argmax of the options in order), which is what LLM
      players do that take the most probable answer (temperature 0); only where the fitted
      vector is not already pure.

    None where a state has no valid answer (the vector is not known).
    """
    if fit.nearest is None:
        return {}
    rules = {"memory_one": {"strategies": "MEMORY1", "memory_one": fit.vector.text(), "llm_share": 0.0}}
    pure = MemoryOne(*(1.0 if p >= 0.5 else 0.0 for p in fit.vector))
    if pure != fit.vector:
        rules["pure"] = {"strategies": "MEMORY1", "memory_one": pure.text(), "llm_share": 0.0}
    return rules


def imitation_rules(fit: ImitationFit) -> dict[str, dict[str, Any]]:
    """The rule population an imitating fit implies: the scenario's own imitating rule players."""
    return {"imitation": {"update": "imitate", "llm_share": 0.0}} if fit.verdict == "imitates" else {}


def memory_one_figure(result: ProbeResult) -> Figure:
    """P(cooperate) in each state, with its interval, beside the nearest named strategy."""
    from matplotlib.figure import Figure  # imported on use: it takes a while

    fit: MemoryOneFit = result.fit
    x = np.arange(len(MEMORY_ONE_STATES))
    p = np.array(fit.vector)
    errors = np.vstack([p - np.array(fit.ci_low), np.array(fit.ci_high) - p]).clip(min=0)
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(x, p, yerr=errors, color="C0", alpha=0.7, capsize=4, label="P(cooperate), probed")
    if fit.nearest is not None:
        axes.scatter(x, NAMED_STRATEGIES[fit.nearest], color="C1", marker="D", zorder=3, label=fit.nearest)
    axes.set_xticks(x, ["first", *(f"after {s}" for s in MEMORY_ONE_STATES[1:])])
    axes.set(ylim=(-0.03, 1.08), ylabel="P(cooperate)", xlabel="state (own last move, partner's last move)")
    axes.set_title(_title(result), fontsize="medium")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, fontsize="small")
    return figure


def imitation_figure(result: ProbeResult) -> Figure:
    """P(the best scorer's move) at each point, with its interval, against the baseline."""
    from matplotlib.figure import Figure

    fit: ImitationFit = result.fit
    rows = result.table[result.table["action"] == result.table["best_move"]]
    x = np.arange(len(rows))
    p = rows["p"].to_numpy(float)
    errors = np.vstack([p - rows["ci_low"], rows["ci_high"] - p]).clip(min=0)
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    switch = (rows["best_move"] != rows["own_move"]).to_numpy()
    for mask, colour, label in ((~switch, "C0", "its own last move"), (switch, "C2", "the other move")):
        axes.bar(
            x[mask],
            p[mask],
            yerr=errors[:, mask],
            color=colour,
            alpha=0.75,
            capsize=3,
            label=f"best: {label}",
        )
    axes.axhline(
        fit.baseline, color="0.4", ls=":", lw=1, label=f"baseline {fit.baseline:.2f} (ignores scores)"
    )
    axes.axhline(fit.rate, color="C1", lw=1, label=f"rate {fit.rate:.2f}")
    labels = [
        f"own {o[0].upper()}\nbest {b[0].upper()}@{i}"
        for o, b, i in rows[["own_move", "best_move", "best_position"]].itertuples(index=False)
    ]
    axes.set_xticks(x, labels, fontsize="x-small")
    axes.set(ylim=(-0.03, 1.08), ylabel="P(the best scorer's move)")
    axes.set_title(_title(result), fontsize="medium")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=2, fontsize="small")
    return figure


def _title(result: ProbeResult) -> str:
    """The scenario, backend and framing, then the verdict, wrapped to the figure's width."""
    name = f"{result.scenario.name}: {result.backend}, framing {result.parameters.get('framing')}"
    return "\n".join([name, *textwrap.wrap(result.describe(), 72, break_on_hyphens=False)])


def _fit_memory_one(table: pd.DataFrame, alpha: float = 0.05) -> MemoryOneFit:
    """The memory-one strategy of the probe table, ``cooperate`` being the move counted."""
    return fit_memory_one(table, action=C.value, state="state", alpha=alpha)


def _fit_imitation(table: pd.DataFrame, alpha: float = 0.05) -> ImitationFit:
    """The rate of the best scorer's move, against the grid's baseline of 0.5."""
    return fit_imitation(table, best="best_move", own="own_move", baseline=0.5, alpha=alpha)


MEMORY_ONE_PROBE = Probe(
    name="memory-one",
    description="P(cooperate) first and after CC, CD, DC, DD with one partner; the nearest named strategy",
    grid=memory_one_grid,
    fit=_fit_memory_one,
    parameters={
        "width": 2,
        "height": 1,
        "torus": False,
        "llm_share": 1.0,
        "llm_opening": "llm",
        "update": "keep",
    },
    rules=implied_rules,
    trip_parameters={"llm_opening": "llm", "update": "keep"},
    figure=memory_one_figure,
)
"""The memory-one probe: two LLM players, each the other's only partner, choosing their opening moves."""

IMITATION_PROBE = Probe(
    name="imitation",
    description="how often the move is the best-scoring neighbour's, against the 0.5 of ignoring the scores",
    grid=imitation_grid,
    fit=_fit_imitation,
    parameters={"width": 3, "height": 3, "torus": True, "llm_share": 1.0},
    rules=imitation_rules,
    figure=imitation_figure,
)
"""The imitation probe: an LLM player among 8 neighbours (3 x 3 Moore torus) after one round."""
