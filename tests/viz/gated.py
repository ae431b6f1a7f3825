"""A backend whose answers wait for the test: an LLM phase that lasts until the test ends it.

The dashboard must stay responsive while a slow backend (a remote model under load) answers;
this backend makes "slow" exact. It answers like Schelling's rule once :data:`GATE` is set.
"""

import threading

from mesa_llm import FunctionChatModel
from mesa_llm_models.schelling.rule_backend import SchellingRuleAnswer

GATE = threading.Event()
RULE = SchellingRuleAnswer(homophily=0.4)


def gated_rule(messages):
    """Schelling's rule, answered once the gate opens (at most 60 s later)."""
    GATE.wait(60)
    return RULE(messages)


BACKEND = FunctionChatModel(fn=gated_rule, model_name="gated-rule")
