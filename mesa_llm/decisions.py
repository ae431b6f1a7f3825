"""Decisions kept compactly: one full record per distinct call, a small row per decision.

When agents send identical prompts in one phase, their decisions share one call: one
:class:`~mesa_llm.records.CallRecord` holds its prompt, answer and events, and every other
decision differs from it only in the deciding agent, the action it drew and the rule's
action. :class:`Decisions` keeps the full record once and, per decision, a row of three
integers in arrays (no Python object per decision, so a million decisions a step cost
about 24 bytes each and give Python's garbage collector nothing to walk). It is a sequence
of records: indexing, slicing and iterating make each decision's record when it is read,
equal to the record that would have been kept whole; :meth:`Decisions.frame` gives them as
a DataFrame column by column, making no record per decision.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mesa_llm.records import CallRecord

__all__ = ["Decisions"]

# What a decision that shared another's call carries instead of the call's events.
SHARED_EVENTS: dict[str, Any] = {
    "attempts": 0,
    "backend_calls": 0,
    "parse_failures": 0,
    "oversized": 0,
    "errors": 0,
    "timeouts": 0,
    "rate_limited": 0,
    "latency_s": 0.0,
    "tokens_in": 0,
    "tokens_out": 0,
    "cache_hit": False,
    "shared": True,
}

# The variant code of a decision that is its call's record itself.
_ITSELF = -1


class _Codes(dict[tuple[str, str, "str | None"], int]):
    """The codes of variants, numbered as they first appear in ``variants``."""

    def __init__(self, variants: list[tuple[str, str, str | None]]) -> None:
        super().__init__()
        self.variants = variants

    def __missing__(self, variant: tuple[str, str, str | None]) -> int:
        code = self[variant] = len(self.variants)
        self.variants.append(variant)
        return code


class Decisions(Sequence["CallRecord"]):
    """The decisions of a call log, in the order they were made.

    Decisions are added whole (:meth:`append`, the record of a call) or together with the
    calls they were made by (:meth:`extend`): each is then a variant of its call's record
    (its agent, the action it took, its rule action, whether it shared another agent's
    call), kept as two integers and a code (the variant's number in a small table, and
    whether the call was shared). Reading a
    decision gives its :class:`~mesa_llm.records.CallRecord`; a decision that is its call's
    record is that very record.
    """

    def __init__(self, records: Sequence[CallRecord] = ()) -> None:
        self._calls: list[CallRecord] = []
        self._call = array("q")  # index into _calls
        self._agent = array("q")  # the deciding agent's id
        self._variant = array("q")  # 2 x index into _variants + 1 if shared, or _ITSELF
        self._variants: list[tuple[str, str, str | None]] = []  # type, action, rule action
        self._codes = _Codes(self._variants)
        for record in records:
            self.append(record)

    def __len__(self) -> int:
        return len(self._call)

    @overload
    def __getitem__(self, index: int) -> CallRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[CallRecord]: ...

    def __getitem__(self, index: int | slice) -> CallRecord | list[CallRecord]:
        if isinstance(index, slice):
            return [self._record(i) for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"decision {index} of {n}")
        return self._record(index % n)

    def __iter__(self) -> Iterator[CallRecord]:
        return map(self._record, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Decisions({len(self)} decisions of {self.calls} calls)"

    @property
    def calls(self) -> int:
        """The number of distinct call records kept."""
        return len(self._calls)

    def append(self, record: CallRecord) -> int:
        """Add a decision as its whole record; return its index."""
        self._calls.append(record)
        self._call.append(len(self._calls) - 1)
        self._agent.append(record.agent_id)
        self._variant.append(_ITSELF)
        return len(self._call) - 1

    def extend(
        self,
        calls: Sequence[CallRecord],
        of: Sequence[int],
        agent_ids: Sequence[int],
        agent_types: Sequence[str],
        actions: Sequence[str],
        rule_actions: Sequence[str | None],
    ) -> range:
        """Add the decisions made by ``calls``, in order; return their indices.

        Decision ``j`` was made by ``calls[of[j]]``; the first decision of each call is the
        call's own (the record itself where its agent, action and rule action are the
        record's), and any later one shared it (see :meth:`CallRecord.shared_by`).

        Args:
            calls: the calls' records.
            of: for each decision, the index of its call in ``calls``.
            agent_ids: each decision's agent id.
            agent_types: each decision's agent class name.
            actions: each decision's action.
            rule_actions: each decision's rule action, or None.
        """
        n, first, start = len(of), len(self._calls), len(self._call)
        self._calls.extend(calls)
        firsts = dict(zip(reversed(of), reversed(range(n)), strict=True))  # call -> its first decision
        variants = np.fromiter(
            map(self._codes.__getitem__, zip(agent_types, actions, rule_actions, strict=True)),
            dtype=np.int64,
            count=n,
        )
        variants <<= 1
        variants |= 1  # shared ...
        for call, j in firsts.items():
            variants[j] &= ~1  # ... but the first decision of each call
            record = calls[call]
            if (agent_ids[j], agent_types[j], actions[j], rule_actions[j]) == (
                record.agent_id,
                record.agent_type,
                record.action,
                record.rule_action,
            ):
                variants[j] = _ITSELF
        self._call.extend(map(first.__add__, of))
        self._agent.extend(agent_ids)
        self._variant.frombytes(variants.tobytes())
        return range(start, len(self._call))

    def frame(
        self,
        calls_frame: Callable[[list[CallRecord]], pd.DataFrame],
        start: int = 0,
        stop: int | None = None,
    ) -> pd.DataFrame:
        """The decisions ``start:stop`` as a DataFrame, one row per decision, in order.

        The frame equals that of the decisions' records, made column by column: the rows of
        the distinct calls are made once and repeated, and each decision's agent, action,
        rule action and sharing are set from its integers (a shared decision carries none
        of its call's events, as :meth:`CallRecord.shared_by`).

        Args:
            calls_frame: makes the frame of a list of call records, one row each with every
                column (:func:`mesa_llm.records.records_frame`, or a writer's that encodes
                its columns: that is then done once per call).
            start: the first decision.
            stop: the decision after the last; None for the end.
        """
        start, stop, _ = slice(start, stop).indices(len(self))
        if start >= stop:
            return calls_frame([])
        call = np.frombuffer(self._call, dtype=np.int64)[start:stop]
        variant = np.frombuffer(self._variant, dtype=np.int64)[start:stop]
        used, row = np.unique(call, return_inverse=True)
        base = calls_frame([self._calls[c] for c in used])
        columns = {name: base[name].to_numpy()[row] for name in base.columns}
        columns["agent_id"] = np.frombuffer(self._agent, dtype=np.int64)[start:stop].copy()
        varied = variant != _ITSELF
        if varied.any():
            code = variant[varied]
            for j, name in enumerate(("agent_type", "action", "rule_action")):
                table = np.array([v[j] for v in self._variants], dtype=object)
                columns[name] = columns[name].astype(object, copy=False)
                columns[name][varied] = table[code >> 1]
            shared = np.zeros(len(call), dtype=bool)
            shared[varied] = (code & 1).astype(bool)
            for name, value in SHARED_EVENTS.items():
                columns[name][shared] = value
        return pd.DataFrame(columns, columns=base.columns)

    def _record(self, i: int) -> CallRecord:
        record = self._calls[self._call[i]]
        code = self._variant[i]
        if code == _ITSELF:
            return record
        agent_type, action, rule_action = self._variants[code >> 1]
        agent_id = self._agent[i]
        if code & 1:  # shared
            record = record.shared_by(agent_id, agent_type)
            return dataclasses.replace(record, action=action, rule_action=rule_action)
        return dataclasses.replace(
            record, agent_id=agent_id, agent_type=agent_type, action=action, rule_action=rule_action
        )
