"""Axelrod's evolution of cooperation on a territory, with rule players (LLM players to come)."""

from models.cooperation.agents import STRATEGIES, Move, Player, RulePlayer, Situation
from models.cooperation.model import CooperationModel, Payoffs

__all__ = ["STRATEGIES", "CooperationModel", "Move", "Payoffs", "Player", "RulePlayer", "Situation"]
