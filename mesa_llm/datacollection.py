"""A drop-in ``mesa.DataCollector`` that reads agent attributes in one pass.

Mesa's collector calls one Python function per agent reporter per agent. When every
agent reporter is an attribute name, :class:`DataCollector` reads each agent's row with a
single ``operator.attrgetter`` call instead: the same frames (tested against Mesa's),
several times faster for a model with many agents and several agent columns.
"""

from __future__ import annotations

from copy import deepcopy
from operator import attrgetter
from typing import Any

import mesa

__all__ = ["DataCollector"]

_IMMUTABLE = frozenset({str, int, bool, float, tuple, type(None)})


class DataCollector(mesa.DataCollector):
    """Mesa's ``DataCollector`` with fast collection of attribute agent reporters.

    Takes the same arguments. Agent reporters given as attribute names (``{"happy":
    "happy"}``) are read together; any other kind of agent reporter falls back to
    Mesa's own collection. Values of mutable types are deep-copied, as Mesa does. Unlike
    Mesa's, it pickles with attribute-name agent reporters.
    """

    def __init__(
        self,
        model_reporters: dict[str, Any] | None = None,
        agent_reporters: dict[str, Any] | None = None,
        agenttype_reporters: dict[Any, dict[str, Any]] | None = None,
        tables: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(model_reporters, agent_reporters, agenttype_reporters, tables)
        self._agent_specs = dict(agent_reporters or {})
        names = list((agent_reporters or {}).values())
        self._row = (
            attrgetter("unique_id", *names) if names and all(isinstance(n, str) for n in names) else None
        )

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle: agent reporters as given, since Mesa wraps attribute names in closures.

        So a model holding this collector pickles (to another process, e.g. for
        ``mesa.batch_run``), as long as its own reporters are picklable (module-level
        functions, bound methods or partials; not lambdas).
        """
        state = self.__dict__.copy()
        state["agent_reporters"] = self._agent_specs
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        specs = state.pop("agent_reporters")
        self.__dict__.update(state)
        self.agent_reporters = {}
        for name, spec in specs.items():
            self._new_agent_reporter(name, spec)

    def _record_agents(self, model: mesa.Model) -> Any:
        if self._row is None:
            return super()._record_agents(model)
        time, row, immutable = model.time, self._row, _IMMUTABLE
        records = []
        for agent in model.agents:
            values = row(agent)
            if not immutable.issuperset(map(type, values)):
                values = tuple(v if type(v) in immutable else deepcopy(v) for v in values)
            records.append((time, *values))
        return records
