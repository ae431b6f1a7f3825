"""The classic configurations of the cooperation model: Mesa's PdGrid, and Nowak and May (1992)."""

from __future__ import annotations

from typing import Any, Self

from mesa_llm.checks import check_number
from mesa_llm_models.cooperation.game import PD_GRID_PAYOFFS, Payoffs

__all__ = ["ClassicConfigurations"]


class ClassicConfigurations:
    """The classic configurations' constructors of the cooperation model (a base of its class)."""

    @classmethod
    def pd_grid(cls, activation: str = "Random", width: int = 50, height: int = 50, **kwargs: Any) -> Self:
        """Mesa's ``mesa.examples.PdGrid``: the same rules, and the same trajectory for the same ``rng``.

        Unconditional C/D strategies drawn with equal chance, payoffs R=1, S=0, T=1.6,
        P=0, cumulative scores, every player copies the best-scoring move among its
        neighbours and itself before every round (the first one included), PdGrid's
        ties (unrounded scores, see ``ties``), on a Moore torus.

        Args:
            activation: PdGrid's ``"Sequential"``, ``"Random"`` or ``"Simultaneous"``.
            width: grid width.
            height: grid height.
            **kwargs: further :class:`CooperationModel` arguments (``rng``, ...).
        """
        return cls(
            width=width,
            height=height,
            torus=True,
            payoffs=PD_GRID_PAYOFFS,
            strategies=("ALLC", "ALLD"),
            ties="first",
            imitate_first=True,
            scores="cumulative",
            activation=activation.lower() if isinstance(activation, str) else activation,
            **kwargs,
        )

    @classmethod
    def nowak_may(cls, b: float = 1.85, width: int = 50, height: int = 50, **kwargs: Any) -> Self:
        """Nowak and May (1992), "Evolutionary games and spatial chaos", Nature 359: 826-829.

        Synchronous updating, a game against oneself, per-round payoffs R=1, T=b,
        S=P=0 on a Moore torus; each player takes the strategy of the best-scoring player
        among its neighbours and itself (keeping its own on a tie).

        Args:
            b: the temptation to defect, ``1 < b < 2`` for their regimes.
            width: grid width.
            height: grid height.
            **kwargs: further :class:`CooperationModel` arguments (``strategies``, ``rng``, ...).
        """
        return cls(
            width=width,
            height=height,
            torus=True,
            payoffs=Payoffs(R=1.0, S=0.0, T=check_number("b", b), P=0.0),
            scores="round",
            self_interaction=True,
            activation="simultaneous",
            **{"strategies": ("ALLC", "ALLD"), **kwargs},
        )
