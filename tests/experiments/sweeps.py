"""Small sweeps shared by the tests of the experiments: designs, chat models whose truth is known."""

import re

import pandas as pd

from mesa_llm import FunctionChatModel, ScoringChatModel
from mesa_llm.experiments import TIMING_COLUMNS, Sweep
from mesa_llm_models.schelling.framings import FRAMINGS
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer

SMALL = {"width": 8, "height": 8}
# the counts of a neutral Schelling prompt
_FACTS = re.compile(
    r"(\d+) of them (?:is|are) occupied by people of your own group, (\d+) by people of the other"
)


def similarity(messages):
    """The share of the resident's own group among its occupied neighbouring cells, read from its prompt."""
    match = next(filter(None, (_FACTS.search(str(m.content)) for m in messages)))
    same, other = int(match.group(1)), int(match.group(2))
    return same / (same + other) if same + other else 0.0


def coin(messages, options):
    """Move or stay with even odds, whatever the neighbourhood (a noisy backend)."""
    return dict.fromkeys(options, 1 / len(options))


def noisy_backend():
    """A scoring backend that draws each resident's move from even odds, with the model's rng."""
    return ScoringChatModel(scores=coin, model_name="coin")


def mixed_sweep(**overrides):
    """A small sweep with rule-only and LLM runs: the rule-following model against a noisy one."""
    arguments = {
        "scenario": "schelling",
        "fixed": SMALL,
        "axes": {"llm_share": [0.0, 0.5], "backend": {"rule": "rule", "coin": noisy_backend()}},
        "seeds": range(2),
        "steps": 4,
    } | overrides
    return Sweep(**arguments)


def untimed(frame):
    """The frame without the columns that measure time (they differ between executions)."""
    return frame.drop(columns=[c for c in TIMING_COLUMNS if c in frame])


def assert_same_results(a, b):
    """Two sweeps' results have the same frames, timing apart."""
    pd.testing.assert_frame_equal(untimed(a.summary), untimed(b.summary))
    pd.testing.assert_frame_equal(untimed(a.steps), untimed(b.steps))


def threshold_backend(threshold, name):
    """A chat model that moves when the share of the resident's own group is below ``threshold``."""
    return FunctionChatModel(fn=_Threshold(threshold), model_name=name)


class _Threshold:
    def __init__(self, threshold):
        self.threshold = threshold

    def __call__(self, messages):
        return "stay" if similarity(messages) >= self.threshold else "move"


class FramingThreshold:
    """Schelling's rule with a threshold that depends on the words of the framing.

    It moves below ``in_tokens`` where the prompt speaks of tokens (the ``colours``
    framing) and below ``otherwise`` elsewhere, reading the counts in any built-in framing.
    """

    def __init__(self, in_tokens, otherwise):
        self.in_tokens, self.otherwise = in_tokens, otherwise

    def __call__(self, messages):
        text = " ".join(str(m.content) for m in messages)
        threshold = self.in_tokens if "token" in text else self.otherwise
        for template in FRAMINGS.values():
            try:
                return SchellingRuleAnswer(threshold, prompt=template)(messages)
            except ValueError:
                continue
        raise ValueError("no framing's prompt")
