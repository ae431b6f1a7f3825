"""Call records: every LLM decision is an accountable record.

A :class:`CallRecord` is written for every decision an LLM agent makes, whether it was
answered by the backend, by the response cache, or shared with another agent that sent
the identical prompt in the same step. :class:`CallLog` keeps them, keeps running totals
for Mesa's ``DataCollector`` and writes them to disk (JSONL or a parquet dataset).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["CallLog", "CallRecord"]


@dataclass(slots=True)
class CallRecord:
    """One LLM decision of one agent.

    Attributes:
        step: ``model.steps`` when the decision was made.
        time: ``model.time`` when the decision was made.
        agent_id: the deciding agent's ``unique_id``.
        agent_type: the deciding agent's class name.
        backend: a short name of the backend (its model name or class), never a secret.
        messages: the exact prompt of the first attempt, as ``(role, content)`` pairs.
        raw: the last raw answer received (text, or the JSON arguments of structured
            output); empty when every attempt failed.
        action: the action taken, as a label of the action space.
        attempts: how many answers were requested (1 + retries; 0 for a shared answer).
        backend_calls: how many of them reached the backend (0 for a cache hit or a
            shared answer).
        parse_failures: answers that could not be parsed into the action space
            (``oversized`` ones included).
        oversized: answers longer than the runtime's ``max_answer_chars``, rejected unread.
        errors: attempts that raised an exception or timed out.
        timeouts: attempts that exceeded the per-call timeout.
        rate_limited: errors that were the provider's rate limit (HTTP 429).
        fallback: whether the action is the space's fallback because no answer was valid.

    A failure event (a call, an error, a parse failure) is counted once, in the record of
    the agent whose request met it: an answer shared with other agents (``shared``)
    carries the action, and none of the events, so the totals equal the events.
        latency_s: wall time spent waiting for the backend, all attempts together.
        tokens_in: prompt tokens the backend reported for the calls that reached it (not
            for answers from the cache or shared; 0 if it reports none).
        tokens_out: completion tokens, counted the same way.
        cache_hit: whether every answer came from the response cache.
        shared: whether the answer was shared from another agent's identical prompt in
            the same step (identical-prompt deduplication).
        error: the last error message, if any attempt failed.
        probabilities: option probabilities, where the backend provides them.

    """

    step: int
    time: float
    agent_id: int
    agent_type: str
    backend: str
    messages: tuple[tuple[str, str], ...]
    raw: str = ""
    action: str = ""
    attempts: int = 0
    backend_calls: int = 0
    parse_failures: int = 0
    oversized: int = 0
    errors: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    fallback: bool = False
    latency_s: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cache_hit: bool = False
    shared: bool = False
    error: str | None = None
    probabilities: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (messages as a list of role/content dicts)."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        row["messages"] = [{"role": r, "content": c} for r, c in self.messages]
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> CallRecord:
        """The record of a :meth:`to_dict` row (a line of a ``calls.jsonl`` file, read back)."""
        return cls(**{**row, "messages": tuple((m["role"], m["content"]) for m in row["messages"])})

    def to_json(self) -> str:
        """The record as one line of a ``calls.jsonl`` file, with its newline."""
        return json.dumps(self.to_dict(), ensure_ascii=False) + "\n"

    def shared_by(self, agent_id: int, agent_type: str) -> CallRecord:
        """This decision as shared with another agent that sent the identical prompt.

        It carries the answer and the action, and none of the events (attempts, calls,
        failures, latency, tokens): those are counted once, in this record.
        """
        return dataclasses.replace(
            self,
            agent_id=agent_id,
            agent_type=agent_type,
            attempts=0,
            backend_calls=0,
            parse_failures=0,
            oversized=0,
            errors=0,
            timeouts=0,
            rate_limited=0,
            latency_s=0.0,
            tokens_in=0,
            tokens_out=0,
            cache_hit=False,
            shared=True,
        )


@dataclass(slots=True)
class _Totals:
    decisions: int = 0
    calls: int = 0
    cache_hits: int = 0
    shared: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    parse_failures: int = 0
    oversized: int = 0
    retries: int = 0
    errors: int = 0
    timeouts: int = 0
    rate_limited: int = 0
    fallbacks: int = 0


@dataclass
class CallLog:
    """All call records of a model run, with running totals.

    Args:
        path: where :meth:`flush` appends new records (the runtime flushes after every
            decision phase): a ``.jsonl`` file, or any other path for a parquet dataset
            directory (one ``part-NNNNN.parquet`` file per flush; read it back with
            ``pandas.read_parquet(path)``). None keeps records in memory only.
        keep: keep records in memory (totals are always kept). Turn off for very long
            runs that stream records to ``path``.

    """

    path: str | Path | None = None
    keep: bool = True
    records: list[CallRecord] = field(default_factory=list)
    totals: _Totals = field(default_factory=_Totals)
    _pending: list[CallRecord] = field(default_factory=list, repr=False)
    _parts: int = field(default=0, repr=False)

    def add(self, record: CallRecord) -> None:
        """Add a record and update the totals."""
        t = self.totals
        t.decisions += 1
        t.calls += record.backend_calls
        t.cache_hits += record.cache_hit
        t.shared += record.shared
        t.tokens_in += record.tokens_in
        t.tokens_out += record.tokens_out
        t.latency_s += record.latency_s
        t.parse_failures += record.parse_failures
        t.oversized += record.oversized
        t.retries += max(record.attempts - 1, 0)
        t.errors += record.errors
        t.timeouts += record.timeouts
        t.rate_limited += record.rate_limited
        t.fallbacks += record.fallback
        if self.keep:
            self.records.append(record)
        if self.path is not None:
            self._pending.append(record)

    def restore(self, records: list[CallRecord]) -> None:
        """Replace the records kept and the totals by those of ``records`` (a resumed run's).

        Records already written to ``path`` stay there; none of ``records`` is written again.
        """
        self.records, self.totals, self._pending = [], _Totals(), []
        for record in records:
            self.add(record)
        self._pending = []

    def __len__(self) -> int:
        return len(self.records)

    @property
    def mean_latency_s(self) -> float:
        """Mean backend latency per call that reached the backend (0 if none did)."""
        return self.totals.latency_s / self.totals.calls if self.totals.calls else 0.0

    def reporters(self, prefix: str = "llm_") -> dict[str, Callable[[Any], Any]]:
        """Model reporters for Mesa's ``DataCollector``: running totals since the start.

        ``calls`` counts requests that reached the backend (retries included),
        ``cache_hits`` decisions answered from the response cache, ``shared`` decisions
        answered by an identical prompt of the same step, ``tokens_in``/``tokens_out``
        tokens of backend calls, ``mean_latency_s`` the mean backend latency per call,
        ``parse_failures``, ``oversized``, ``retries``, ``errors``, ``timeouts``,
        ``rate_limited`` and ``fallbacks`` the failure events.
        """
        names = [f.name for f in dataclasses.fields(_Totals) if f.name != "latency_s"]
        out: dict[str, Callable[[Any], Any]] = {
            prefix + name: (lambda _m, n=name: getattr(self.totals, n)) for name in names
        }
        out[prefix + "mean_latency_s"] = lambda _m: self.mean_latency_s
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """The records as a DataFrame, one row per decision."""
        return _frame(self.records)

    def flush(self) -> int:
        """Append the records added since the last flush to ``path``; return how many."""
        pending, self._pending = self._pending, []
        if self.path is None or not pending:
            return 0
        path = Path(self.path)
        if path.suffix == ".jsonl":
            _write_jsonl(pending, path, "a")
        else:
            path.mkdir(parents=True, exist_ok=True)
            while (part := path / f"part-{self._parts:05d}.parquet").exists():
                self._parts += 1
            _write_parquet(pending, part)
        return len(pending)

    def write(self, path: str | Path) -> None:
        """Write all records kept in memory to ``path``, replacing it.

        A path ending in ``.jsonl`` gets one JSON object per line; any other path one
        parquet file (messages and probabilities as JSON text).
        """
        path = Path(path)
        if path.suffix == ".jsonl":
            _write_jsonl(self.records, path, "w")
        else:
            _write_parquet(self.records, path)


_COLUMNS = [f.name for f in dataclasses.fields(CallRecord)]
# Fixed column types, so that parquet parts written at different times share one schema.
_PARQUET_TYPES = {
    f.name: {"int": "int64", "float": "float64", "bool": "bool"}.get(str(f.type), "string")
    for f in dataclasses.fields(CallRecord)
}


def _frame(records: list[CallRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.to_dict() for r in records], columns=_COLUMNS)


def _write_jsonl(records: list[CallRecord], path: Path, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as fh:
        fh.writelines(record.to_json() for record in records)


def _write_parquet(records: list[CallRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = _frame(records)
    for column in ("messages", "probabilities"):
        frame[column] = frame[column].map(json.dumps)
    frame.astype(_PARQUET_TYPES).to_parquet(path, index=False)
