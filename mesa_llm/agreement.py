"""Rule-shadow agreement: how often LLM decisions match the rule's, by observation.

For every LLM decision of an agent with a rule to compare with
(:meth:`~mesa_llm.LLMDecider.rule_decide`), the runtime records the rule's action beside
the LLM's (``CallRecord.rule_action``) and tallies here whether they agree, by
observation. The rule is evaluated on the same observation and never acts, so it changes
no trajectory. It is the in-context twin of a probe of the rule an LLM agent implicitly
follows: which neighbourhoods make the model deviate from Schelling's threshold, which
rounds from imitation.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd

from mesa_llm.prompts import observation_fields

__all__ = ["RuleAgreement"]


class RuleAgreement:
    """A tally of LLM decisions that agreed with the rule, by agent class and observation.

    Observations are grouped by the agent's ``agreement_key(observation)`` (the
    observation itself by default, which suits small immutable observations such as a
    named tuple of neighbourhood counts).
    """

    def __init__(self) -> None:
        self._tally: dict[tuple[str, Hashable], list[int]] = {}

    def add(self, agent: Any, observation: Any, agreed: int, decisions: int = 1) -> None:
        """Count ``decisions`` decisions of ``agent``'s class on ``observation``, ``agreed`` of which agreed.

        One decision of ``agent`` by default (``agreed`` is then whether it agreed).
        """
        key = getattr(agent, "agreement_key", _itself)(observation)
        counts = self._tally.setdefault((type(agent).__name__, key), [0, 0])
        counts[0] += decisions
        counts[1] += agreed

    def __len__(self) -> int:
        """The number of decisions counted."""
        return sum(n for n, _ in self._tally.values())

    def frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Agreement by agent class and observation, one row each, most decisions first.

        Columns: ``agent_type``; the observation's fields
        (:func:`~mesa_llm.prompts.observation_fields`: those of a named tuple, a dataclass,
        a pydantic model or a mapping; else one ``observation`` column with its text);
        ``decisions``; ``agreed``; ``share`` (agreed / decisions); ``ci_low`` and
        ``ci_high``, the Wilson score interval of the share at confidence ``1 - alpha``
        (``statsmodels.stats.proportion.proportion_confint(method="wilson")``).
        """
        from statsmodels.stats.proportion import proportion_confint  # a slow import, needed only here

        rows = []
        for (agent_type, key), (n, agreed) in self._tally.items():
            low, high = proportion_confint(agreed, n, alpha=alpha, method="wilson")
            rows.append(
                {
                    "agent_type": agent_type,
                    **_fields(key),
                    "decisions": n,
                    "agreed": agreed,
                    "share": agreed / n,
                    "ci_low": float(low),
                    "ci_high": float(high),
                }
            )
        columns = ["agent_type", "decisions", "agreed", "share", "ci_low", "ci_high"]
        if not rows:
            return pd.DataFrame(columns=columns)
        frame = pd.DataFrame(rows)
        return frame.sort_values(
            ["decisions", "agent_type"], ascending=[False, True], kind="stable"
        ).reset_index(drop=True)


def _itself(observation: Any) -> Any:
    return observation


def _fields(key: Any) -> dict[str, Any]:
    """The columns of an observation key: its named fields, else its text in one column."""
    try:
        return dict(observation_fields(key))
    except TypeError:  # a scalar or another kind of key
        return {"observation": str(key)}
