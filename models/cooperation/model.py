"""The spatial evolution of cooperation (Axelrod, Nowak and May, Mesa's PdGrid) with rule players."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import networkx as nx
from mesa import Model
from mesa.discrete_space import Network, OrthogonalMooreGrid, OrthogonalVonNeumannGrid

from mesa_llm import LLMRuntime, PromptTemplate
from mesa_llm.backends import RULE_BACKEND
from mesa_llm.cache import ResponseCache
from mesa_llm.calibration.strategy import MemoryOne
from mesa_llm.checks import check_seed
from mesa_llm.datacollection import DataCollector
from mesa_llm.lab import check_model_arguments
from mesa_llm.populations import llm_share_indices
from mesa_llm_models.cooperation.agents import LLMPlayer, Player, RulePlayer, seen_score
from mesa_llm_models.cooperation.classics import ClassicConfigurations
from mesa_llm_models.cooperation.framings import NEUTRAL
from mesa_llm_models.cooperation.game import (
    PD_GRID_PAYOFFS,
    Move,
    Payoffs,
    strategy_move,
)
from mesa_llm_models.cooperation.metrics import Tally
from mesa_llm_models.cooperation.parameters import ACTIVATIONS, check_arguments
from mesa_llm_models.cooperation.partners import LLMPartnerPlayer, partner_moves_space
from mesa_llm_models.cooperation.rule_backend import rule_following_backend

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["ACTIVATIONS", "CooperationModel", "check_parameters"]

_score = attrgetter("score")


def _seen_score(player: Player) -> float:
    return seen_score(player.score)


class CooperationModel(ClassicConfigurations, Model):
    """Players on a grid or network repeatedly play the prisoner's dilemma with their neighbours.

    The first round is played with every player's opening move, that of its initial
    strategy (LLM players draw one too, or choose their own with ``llm_opening="llm"``),
    unless ``imitate_first``. Then each round
    (``step``): if it is an imitation round, every player adopts the strategy
    of the highest-scoring player among its neighbours and itself; then every player
    makes its move towards each neighbour, and payoffs are computed from ``payoffs`` (plus
    a game against itself with ``self_interaction``). Scores are this round's payoff
    (``scores="round"``) or accumulated since the start (``"cumulative"``). A player is
    never its own neighbour, even where Mesa's neighbourhood holds its cell (a torus one
    cell wide, a graph with a self-loop).

    Activation: ``"simultaneous"`` decides every player's round on one snapshot and
    then applies them (Mesa's ``do("step").do("advance")``); ``"random"`` (shuffled each
    round with ``model.random``) and ``"sequential"`` (in creation order) let each player
    decide, move and collect its own payoff against its neighbours' current moves before
    the next one decides, as ``mesa.examples.PdGrid`` does.

    :meth:`pd_grid` and :meth:`nowak_may` build the classic configurations.

    Args:
        width: grid width (ignored with ``graph``).
        height: grid height (ignored with ``graph``).
        torus: wrap the grid's edges.
        neighbourhood: ``"moore"`` (8 neighbours) or ``"von_neumann"`` (4).
        graph: a networkx graph to play on instead of a grid; one player per node.
        payoffs: ``Payoffs(R, S, T, P)``, a tuple in that order, or text ``"R,S,T,P"``.
        strategies: the initial mix: strategy names drawn with equal chance, or a
            mapping of names to weights; as text ``"ALLC,TFT"`` or ``"ALLC=1,ALLD=3"``.
        memory_one: the probabilities of cooperating of the ``MEMORY1`` strategy: first,
            then after CC, CD, DC, DD (own last move, the partner's), as text
            ``"1,1,0,1,0"``, five numbers, or a named strategy (``"TFT"``, ``"WSLS"``,
            ``"GRIM"``, ``"ALLC"``, ``"ALLD"``); see
            :class:`~mesa_llm.calibration.strategy.MemoryOne`. A certain move draws
            nothing; the others are drawn from ``model.random``.
        update: ``"imitate"`` the best-scoring strategy around, or ``"keep"`` strategies.
        update_every: rounds between imitation rounds.
        ties: when several players share the best score, ``"keep"`` the own strategy if
            it is among them, else take the first best neighbour; ``"first"`` takes the
            first best of neighbours (Mesa's neighbourhood order) then self, as PdGrid does.
            With ``"keep"`` scores are compared as players see them in the prompt, rounded
            to six decimals (:func:`~mesa_llm_models.cooperation.agents.seen_score`): equal
            scores summed in different orders (``4.8`` and ``4.800000000000001``) are a
            tie, and a rule-following mixed run equals the all-rule run exactly. With
            ``"first"`` they are compared unrounded, as PdGrid does, so that the PdGrid
            configuration keeps PdGrid's trajectory exactly; the rounded prompt then hides
            float noise, and a rule-following LLM player can take the other of two
            players whose scores differ only by it.
        imitate_first: imitate before the first round too, on all-zero scores (PdGrid
            does: every player then copies its first neighbour).
        scores: ``"round"`` (this round's payoff) or ``"cumulative"``.
        self_interaction: each player also plays against itself (Nowak and May).
        activation: ``"simultaneous"``, ``"random"`` or ``"sequential"``.
        require_dilemma: refuse payoffs that are not a prisoner's dilemma.
        llm_share: fraction of players whose moves a language model chooses
            (:class:`~mesa_llm_models.cooperation.agents.LLMPlayer`), drawn from ``model.rng`` so the
            ``model.random`` trajectory is untouched; they still draw an initial strategy,
            which gives their opening move.
        backend: the LLM players' chat model, a ``"provider:model"`` string, or a function
            that creates one when the first LLM player needs it; ``"rule"`` answers as the
            imitating ALLC/ALLD rule players of these settings; None uses the embedded
            local model.
        cache: a response cache for the LLM calls.
        runtime: a configured :class:`~mesa_llm.LLMRuntime` instead of ``backend`` and ``cache``.
        llm_imitation: how LLM players imitate: ``"llm"``, the model chooses every move
            (seeing its neighbours' moves and scores, it may imitate or not); ``"rule"``,
            on imitation rounds an LLM player takes the last move of the best-scoring
            player around it (ties as for rule players) without asking the model, which
            then chooses the moves of the other rounds only.
        llm_moves: ``"one"`` move towards all partners per LLM player, or ``"each"``, a
            move towards each neighbour (:class:`~mesa_llm_models.cooperation.partners.LLMPartnerPlayer`,
            a structured answer of one move per neighbour).
        llm_opening: an LLM player's opening move: its initial ``"strategy"``'s, or
            ``"llm"``: the model chooses it in the opening round, asked before anyone has
            played (its neighbours "have not played yet"); the opening round's decisions
            are then made on one snapshot whatever the activation. Not with ``imitate_first``.
        framing: the words of the LLM players' prompt, by name: ``neutral`` (a repeated
            game, its payoffs in a sentence), ``matrix`` (an abstract game with its payoff
            matrix), ``business`` (firms dealing with partner firms) or ``neighbours``
            (neighbours helping each other), or one of ``framings``. The same facts in
            every framing.
        framings: a user's own framings, name -> prompt template, added to the built-in
            ones (one of an existing name replaces it) and used for both kinds of LLM
            player; the rule-following chat model (``backend="rule"``) reads the facts
            from any of them.
        answer_mode: how LLM players answer: ``"direct"`` (the option, or the
            structured answer, alone) or ``"reasoning"`` (a few sentences of reasoning,
            kept in the call records, then the answer); None is ``"direct"``, or the mode
            of a given ``runtime``.
        rng: seed or generator, as for ``mesa.Model``.

    Raises:
        TypeError: for an argument of the wrong type (``"20"`` for a number, ``"false"``
            for a flag), naming it and what to pass.
        ValueError: for an unknown strategy, activation or option, a number out of range,
            or payoffs that are not a prisoner's dilemma when ``require_dilemma`` is set,
            or an unknown framing.
    """

    def __init__(
        self,
        width: int = 50,
        height: int = 50,
        torus: bool = True,
        neighbourhood: str = "moore",
        graph: nx.Graph | None = None,
        payoffs: Payoffs | Sequence[float] | str = PD_GRID_PAYOFFS,
        strategies: Sequence[str] | Mapping[str, float] | str = ("ALLC", "ALLD"),
        memory_one: MemoryOne | Sequence[float] | str = "TFT",
        update: str = "imitate",
        update_every: int = 1,
        ties: str = "keep",
        imitate_first: bool = False,
        scores: str = "cumulative",
        self_interaction: bool = False,
        activation: str = "simultaneous",
        require_dilemma: bool = True,
        llm_share: float = 0.0,
        backend: BaseChatModel | str | Callable[[], BaseChatModel] | None = None,
        cache: ResponseCache | None = None,
        runtime: LLMRuntime | None = None,
        llm_imitation: str = "llm",
        llm_moves: str = "one",
        llm_opening: str = "strategy",
        framing: str = NEUTRAL,
        framings: Mapping[str, PromptTemplate] | None = None,
        answer_mode: str | None = None,
        rng: Any = None,
    ) -> None:
        self.payoffs, names, weights, self.memory_one = check_arguments(locals())  # the arguments, by name
        if backend == RULE_BACKEND:  # the rule-following chat model of these settings
            backend = rule_following_backend(ties, update_every, imitate_first, update, framing, framings)
        llm_runtime = LLMRuntime.for_model(backend, cache, runtime, answer_mode)
        super().__init__(rng=check_seed(rng))
        self.update = update
        self.update_every = update_every
        self.ties = ties
        self.imitate_first = imitate_first
        self.scores = scores
        self.self_interaction = self_interaction
        self.activation = activation
        self.llm_imitation = llm_imitation
        self.llm_opening = llm_opening
        self.framing = framing
        self.rounds = 0
        self.imitation_round = False
        self._table = self.payoffs.table()
        if graph is not None:
            self.grid = Network(graph, capacity=1, random=self.random, layout=None)
        else:
            grid_type = OrthogonalMooreGrid if neighbourhood == "moore" else OrthogonalVonNeumannGrid
            self.grid = grid_type((width, height), torus=torus, capacity=1, random=self.random)
        self.llm = llm_runtime

        uniform = len(set(weights)) == 1
        cells = self.grid.all_cells.cells
        drawn = [
            self.random.choice(names) if uniform else self.random.choices(names, weights)[0] for _ in cells
        ]
        llm = llm_share_indices(self.rng, len(cells), llm_share)
        llm_player = LLMPartnerPlayer if llm_moves == "each" else LLMPlayer
        prompt = llm_player.framing(framing, framings)
        for index, (cell, strategy) in enumerate(zip(cells, drawn, strict=True)):
            if index in llm:
                llm_player(self, cell, strategy, prompt=prompt, runtime=self.llm)
            else:
                RulePlayer(self, cell, strategy)
        players: list[Player] = list(self.agents)
        for player in players:
            # never itself: on a torus one cell wide (or a graph with a self-loop) Mesa's
            # neighbourhood holds the cell itself; the game against oneself is self_interaction
            player.neighbours = [n for n in player.cell.neighborhood.agents if n is not player]
            if isinstance(player, LLMPartnerPlayer):
                player.action_space = partner_moves_space(len(player.neighbours))
        for player in players:  # the opening move, seen by neighbours that decide first
            if llm_opening == "strategy" or not isinstance(player, LLMPlayer):
                player.move = strategy_move(player.opening, None, self)

        self.tally = Tally()
        self.tally.measure(self.agents)
        self.datacollector = DataCollector(
            model_reporters={**self.tally.reporters(), **self.llm.reporters()},
            agent_reporters={"strategy": "strategy", "population": "population", "score": "score"},
        )
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ rounds
    def step(self) -> None:
        """One round: imitation (if due), moves, payoffs, memories, data collection."""
        self.imitation_round = self.imitation_due(self.rounds)
        players = list(self.agents)
        if self.rounds == 0 and not self.imitation_round:
            # The opening round: every player makes its opening move (the initial condition,
            # drawn with its initial strategy); with no history there is nothing to decide,
            # but LLM players choose theirs with llm_opening="llm", all on one snapshot.
            if self.llm_opening == "llm":
                opening = [p for p in players if isinstance(p, LLMPlayer)]
                for player, play in zip(opening, self.llm.decide_all(opening, {}), strict=True):
                    player.play(play)
            for player in players:
                self.collect_payoff(player)
        elif self.activation == "simultaneous":
            self.llm.step(players)
            for player in players:
                self.collect_payoff(player)
        else:
            rng = self.random if self.activation == "random" else None
            self.llm.step(players, rng=rng, sequential=True)
        self._remember(players)
        self.rounds += 1
        self.tally.measure(self.agents)
        self.datacollector.collect(self)

    def imitation_due(self, rounds: int) -> bool:
        """Whether the round after ``rounds`` rounds played starts with imitation."""
        due = self.update == "imitate" and rounds % self.update_every == 0
        return due and (rounds > 0 or self.imitate_first)

    def model_of(self, player: Player) -> Player:
        """The best-scoring player among a player's neighbours and itself, by the ``ties`` rule.

        With ``ties="keep"`` scores are compared as the players see them in the prompt
        (:func:`~mesa_llm_models.cooperation.agents.seen_score`); with PdGrid's ``"first"``
        as PdGrid compares them, unrounded.
        """
        score = _score if self.ties == "first" else _seen_score
        best = max(player.neighbours, key=score, default=None)
        if best is None:
            return player
        own, theirs = score(player), score(best)
        if own > theirs or (self.ties == "keep" and own == theirs):
            return player
        return best

    def imitate(self, player: Player) -> str:
        """The strategy a player imitates: that of the best-scoring player among its neighbours and itself."""
        model = self.model_of(player)
        return player.strategy if model is player else model.imitable

    def collect_payoff(self, player: Player) -> None:
        """The player's payoff against its neighbours' current moves (and itself), added to its score."""
        me, mine, move = player.unique_id, player.moves, player.move
        table = self._table
        if mine:
            payoff = sum(
                table[(mine.get(n.unique_id, move), n.moves.get(me, n.move))] for n in player.neighbours
            )
        else:
            payoff = sum(table[(move, n.moves.get(me, n.move))] for n in player.neighbours)
        if self.self_interaction:
            payoff += table[(player.move, player.move)]
        player.payoff = payoff
        player.score = player.score + payoff if self.scores == "cumulative" else payoff

    def _remember(self, players: list[Player]) -> None:
        """Each player records its moves of the round, which memory-one strategies read next round."""
        defect = Move.DEFECT
        for player in players:
            player.last_move, player.last_moves = player.move, player.moves
            if player.moves:
                for n in player.neighbours:
                    if player.moves.get(n.unique_id, player.move) is defect:
                        player.defected_towards.add(n.unique_id)
            elif player.move is defect:
                player.defected_all = True


def check_parameters(params: Mapping[str, Any]) -> None:
    """Check a :class:`CooperationModel`'s complete parameters without building it.

    Runs the constructor's own checks, so a sweep refuses a bad combination before any
    run starts; the LLM runtime's ``backend``, ``cache`` and ``runtime``, which the
    constructor resolves, are left to it.

    Args:
        params: keyword arguments of :class:`CooperationModel`; missing ones take their defaults.

    Raises:
        TypeError: for an unknown parameter, or one of the wrong type, as the constructor would.
        ValueError: for a value out of range, an unknown option, strategy or framing, or
            payoffs that are not a dilemma, as the constructor would.
    """
    check_model_arguments(CooperationModel, params, check_arguments)
