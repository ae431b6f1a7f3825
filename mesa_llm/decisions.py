"""Decisions kept compactly: one full record per distinct call, a small row per decision.

When agents send identical prompts in one phase, their decisions share one call: one
:class:`~mesa_llm.records.CallRecord` holds its prompt, answer and events, and every other
decision differs from it only in the deciding agent, the action it drew and the rule's
action. :class:`Decisions` keeps the full record once and, per decision, a row of three
integers in arrays (no Python object per decision, so a million decisions a step cost
about 24 bytes each and give Python's garbage collector nothing to walk). It is a sequence
of records: indexing, slicing and iterating make each decision's record when it is read,
equal to the record that would have been kept whole.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from mesa_llm.records import CallRecord

__all__ = ["Decisions"]

# The variant code of a decision that is its call's record itself.
_ITSELF = -1


class Decisions(Sequence["CallRecord"]):
    """The decisions of a call log, in the order they were made.

    Decisions are added whole (:meth:`append`, the record of a call) or together with the
    calls they were made by (:meth:`extend`): each is then a variant of its call's record
    (its agent, the action it took, its rule action, whether it shared another agent's
    call), kept as two integers and a code of a small table of variants. Reading a
    decision gives its :class:`~mesa_llm.records.CallRecord`; a decision that is its call's
    record is that very record.
    """

    def __init__(self, records: Sequence[CallRecord] = ()) -> None:
        self._calls: list[CallRecord] = []
        self._call = array("q")  # index into _calls
        self._agent = array("q")  # the deciding agent's id
        self._variant = array("l")  # index into _variants, or _ITSELF
        self._variants: list[tuple[str, str, str | None, bool]] = []  # type, action, rule action, shared
        self._codes: dict[tuple[str, str, str | None, bool], int] = {}
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
        first = len(self._calls)
        start = len(self._call)
        self._calls.extend(calls)
        seen: set[int] = set()
        codes = self._codes
        variants = array("l")
        for j, call in enumerate(of):
            record = calls[call]
            shared = call in seen
            if not shared:
                seen.add(call)
                if (
                    agent_ids[j] == record.agent_id
                    and agent_types[j] == record.agent_type
                    and actions[j] == record.action
                    and rule_actions[j] == record.rule_action
                ):
                    variants.append(_ITSELF)
                    continue
            variant = (agent_types[j], actions[j], rule_actions[j], shared)
            code = codes.get(variant)
            if code is None:
                code = codes[variant] = len(self._variants)
                self._variants.append(variant)
            variants.append(code)
        self._call.extend([first + call for call in of])
        self._agent.extend(agent_ids)
        self._variant.extend(variants)
        return range(start, len(self._call))

    def _record(self, i: int) -> CallRecord:
        record = self._calls[self._call[i]]
        code = self._variant[i]
        if code == _ITSELF:
            return record
        agent_type, action, rule_action, shared = self._variants[code]
        agent_id = self._agent[i]
        if shared:
            record = record.shared_by(agent_id, agent_type)
            return dataclasses.replace(record, action=action, rule_action=rule_action)
        return dataclasses.replace(
            record, agent_id=agent_id, agent_type=agent_type, action=action, rule_action=rule_action
        )
