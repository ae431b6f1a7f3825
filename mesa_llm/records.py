"""Call records: every LLM decision is an accountable record.

A :class:`CallRecord` is written for every decision an LLM agent makes, whether it was
answered by the backend, by the response cache, or shared with another agent that sent
the identical prompt in the same step. :class:`CallLog` keeps them, keeps running totals
for Mesa's ``DataCollector`` and writes them to disk (JSONL, gzip-compressed JSONL or a
parquet dataset). :class:`PromptBook` numbers distinct prompts, for files that keep each
prompt once and records that name theirs by id (a run's folder).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mesa_llm.decisions import SHARED_EVENTS, Decisions
from mesa_llm.prompts import Messages

__all__ = ["CallLog", "CallRecord", "PromptBook"]


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
        latency_s: wall time spent waiting for the backend, all attempts together (for a
            prompt scored in a batch beside others, the time the backend spent on it alone,
            :attr:`~mesa_llm.backends.scoring.OptionScores.seconds`, not the batch's).
        tokens_in: prompt tokens the backend reported for the calls that reached it (not
            for answers from the cache or shared; 0 if it reports none).
        tokens_out: completion tokens, counted the same way.
        cache_hit: whether every answer came from the response cache.
        shared: whether the answer was shared from another agent's identical prompt in
            the same step (identical-prompt deduplication).
        error: the last error message, if any attempt failed.
        probabilities: option probabilities, where the backend provides them.
        rule_action: the action the scenario's rule would take for the same observation
            (the agent's :meth:`~mesa_llm.LLMDecider.rule_decide`), as a label of the action
            space; None where the agent has no rule to compare with. Recorded beside
            ``action``; it never changes what the agent does.
        reasoning: in the ``"reasoning"`` answer mode, the model's free-text reasoning
            (the whole text it generated, its final answer included; for a scoring
            backend, the text the options were scored after), from the last attempt that
            gave one; None in the ``"direct"`` mode.

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
    rule_action: str | None = None
    reasoning: str | None = None

    def to_dict(self, prompt_id: int | None = None) -> dict[str, Any]:
        """The record as a plain dict (messages as a list of role/content dicts).

        Args:
            prompt_id: the id of the record's prompt in a :class:`PromptBook`: the dict then
                names its prompt (``"prompt_id"``) instead of holding the messages.
        """
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if prompt_id is None:
            row["messages"] = _messages_json(self.messages)
        else:
            del row["messages"]
            row["prompt_id"] = prompt_id
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any], prompts: Sequence[Messages] = ()) -> CallRecord:
        """The record of a :meth:`to_dict` row (a line of a records file, read back).

        Args:
            row: the row.
            prompts: the prompts by id (a :class:`PromptBook`'s ``prompts``), for a row that
                names its prompt by id.

        Raises:
            ValueError: for a row naming a prompt that ``prompts`` does not hold.
        """
        if "prompt_id" not in row:
            return cls(**{**row, "messages": _messages_of(row["messages"])})
        fields = {name: value for name, value in row.items() if name != "prompt_id"}
        prompt_id = row["prompt_id"]
        if not isinstance(prompt_id, int) or not 0 <= prompt_id < len(prompts):
            raise ValueError(
                f"the record names the prompt {prompt_id!r}, which is not among the {len(prompts)} "
                "prompts given (its prompts file is missing or incomplete)"
            )
        return cls(**fields, messages=prompts[prompt_id])

    def to_json(self, prompt_id: int | None = None) -> str:
        """The record as one line of a records file, with its newline (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(prompt_id), ensure_ascii=False) + "\n"

    def shared_by(self, agent_id: int, agent_type: str) -> CallRecord:
        """This decision as shared with another agent that sent the identical prompt.

        It carries the answer and the action, and none of the events (attempts, calls,
        failures, latency, tokens): those are counted once, in this record.
        """
        return dataclasses.replace(self, agent_id=agent_id, agent_type=agent_type, **SHARED_EVENTS)


class PromptBook:
    """Distinct prompts, numbered from 0 in order of first appearance.

    For files that keep each distinct prompt once: a prompts file of :meth:`line` lines and
    a records file whose records name their prompt by id (``record.to_json(book.number(
    record.messages))``), so that a prompt many agents send, or one sent in many steps, is
    stored once. Read back, a book's ``prompts`` restore the records' messages
    (:meth:`CallRecord.from_dict`); records of one prompt then share one messages tuple.

    Attributes:
        prompts: the prompts, by id.
    """

    def __init__(self) -> None:
        self.prompts: list[Messages] = []
        self._ids: dict[Messages, int] = {}

    def __len__(self) -> int:
        return len(self.prompts)

    def number(self, messages: Messages) -> int:
        """The id of a prompt, numbered now if it is new."""
        prompt_id = self._ids.setdefault(messages, len(self.prompts))
        if prompt_id == len(self.prompts):
            self.prompts.append(messages)
        return prompt_id

    def line(self, prompt_id: int) -> str:
        """A prompt as one line of a prompts file, ``{"id": ..., "messages": [...]}``, with its newline."""
        row = {"id": prompt_id, "messages": _messages_json(self.prompts[prompt_id])}
        return json.dumps(row, ensure_ascii=False) + "\n"

    def read(self, line: str) -> None:
        """Number the prompt of a :meth:`line` read back; a file's lines are read in order.

        Raises:
            ValueError: for a line that is not a prompt, or not the next one.
        """
        row = json.loads(line)
        if not isinstance(row, dict) or row.get("id") != len(self.prompts):
            raise ValueError(f"prompt {len(self.prompts)} was expected, got the line {line[:80]!r}")
        self.number(_messages_of(row["messages"]))


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
            decision phase): a ``.jsonl`` file; a ``.jsonl.gz`` file, compressed (one gzip
            member per flush; ``pandas.read_json(path, lines=True)`` and ``zcat`` read it);
            or any other path for a parquet dataset directory (one ``part-NNNNN.parquet``
            file per flush; read it back with ``pandas.read_parquet(path)``). None keeps
            records in memory only.
        keep: keep records in memory (totals are always kept). Turn off for very long
            runs that stream records to ``path``.

    Attributes:
        records: the records kept, one per decision in the order they were made: a
            :class:`~mesa_llm.decisions.Decisions`, a sequence that holds one full record
            per call and a few integers per decision that shared it (agents that sent the
            same prompt), and makes each decision's record when it is read.
        totals: the running totals (what :meth:`reporters` report).

    """

    path: str | Path | None = None
    keep: bool = True
    records: Decisions = field(default_factory=Decisions)
    totals: _Totals = field(default_factory=_Totals)
    _pending: Decisions = field(default_factory=Decisions, repr=False)  # to write, when not kept
    _flushed: int = field(default=0, repr=False)  # records kept and written to path
    _parts: int = field(default=0, repr=False)
    _shadowed: list[int] = field(default_factory=lambda: [-1, 0, 0], repr=False)  # step, compared, agreed

    def add(self, record: CallRecord) -> int | None:
        """Add a record and update the totals.

        Returns:
            Its index in :attr:`records`, or None where records are not kept.
        """
        self._count(record)
        self.totals.decisions += 1
        if record.rule_action is not None:
            self._shadow(record.step, 1, record.action == record.rule_action)
        if self.keep:
            return self.records.append(record)
        if self.path is not None:
            self._pending.append(record)
        return None

    def add_calls(
        self,
        calls: Sequence[CallRecord],
        of: Sequence[int],
        agent_ids: Sequence[int],
        agent_types: Sequence[str],
        actions: Sequence[str],
        rule_actions: Sequence[str | None],
    ) -> tuple[Decisions, range]:
        """Add the decisions made by ``calls`` (a decision phase's), in order.

        Decision ``j`` was made by ``calls[of[j]]``: the first decision of a call is the
        call's own, any later one shared it and carries none of its events (see
        :meth:`~mesa_llm.decisions.Decisions.extend`, which keeps them compactly). Every
        call is counted once in the totals; every decision counts as a decision, and as a
        fallback where its call fell back.

        Returns:
            Where the decisions are: :attr:`records` and their indices in it where records
            are kept, else the decisions not yet written to ``path`` (or this phase's alone,
            without a path) and their indices in it.
        """
        t = self.totals
        for record in calls:
            self._count(record)
        t.decisions += len(of)
        t.shared += len(of) - len(calls)
        t.fallbacks += sum(calls[call].fallback for call in of) - sum(r.fallback for r in calls)
        compared = sum(rule is not None for rule in rule_actions)
        if compared:
            agreed = sum(a == r for a, r in zip(actions, rule_actions, strict=True) if r is not None)
            self._shadow(calls[0].step, compared, agreed)
        kept = self.records if self.keep else self._pending if self.path is not None else Decisions()
        return kept, kept.extend(calls, of, agent_ids, agent_types, actions, rule_actions)

    def _count(self, record: CallRecord) -> None:
        """Add a record's events to the totals (all but the decision itself)."""
        t = self.totals
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

    def _shadow(self, step: int, compared: int, agreed: int) -> None:
        """Count ``compared`` decisions of ``step`` that had a rule, ``agreed`` of which agreed with it."""
        shadowed = self._shadowed
        if shadowed[0] != step:
            shadowed[:] = [step, 0, 0]
        shadowed[1] += compared
        shadowed[2] += agreed

    def restore(self, records: list[CallRecord]) -> None:
        """Replace the records kept and the totals by those of ``records`` (a resumed run's).

        Records already written to ``path`` stay there; none of ``records`` is written again.
        """
        self.records, self.totals, self._shadowed = Decisions(), _Totals(), [-1, 0, 0]
        for record in records:
            self.add(record)
        self._pending, self._flushed = Decisions(), len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def rule_agreement(self, step: int) -> float:
        """The share of step ``step``'s LLM decisions that took the action their rule would have.

        Over the decisions that had a rule to compare with (``rule_action``); NaN for a step
        without any (no LLM agent decided, or none has a rule), and for any step but the
        latest one that had some.
        """
        at, compared, agreed = self._shadowed
        return agreed / compared if at == step and compared else math.nan

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
        ``rate_limited`` and ``fallbacks`` the failure events. ``rule_agreement`` is not a
        running total: it is the share of this step's LLM decisions that agreed with the
        rule's decision on the same observation (:meth:`rule_agreement`).
        """
        names = [f.name for f in dataclasses.fields(_Totals) if f.name != "latency_s"]
        out: dict[str, Callable[[Any], Any]] = {
            prefix + name: functools.partial(_total, self, name) for name in names
        }  # partials of module-level functions: a model holding them pickles
        out[prefix + "mean_latency_s"] = functools.partial(_mean_latency, self)
        out[prefix + "rule_agreement"] = functools.partial(_step_agreement, self)
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """The records as a DataFrame, one row per decision (made column by column)."""
        return self.records.frame(records_frame)

    def flush(self) -> int:
        """Append the records added since the last flush to ``path``; return how many."""
        if self.path is None:
            return 0
        if self.keep:
            pending, start, self._flushed = self.records, self._flushed, len(self.records)
        else:
            pending, start, self._pending = self._pending, 0, Decisions()
        count = len(pending) - start
        if not count:
            return 0
        path = Path(self.path)
        if path.name.endswith(_JSONL):
            _write_jsonl(pending[start:], path, "a")
        else:
            path.mkdir(parents=True, exist_ok=True)
            while (part := path / f"part-{self._parts:05d}.parquet").exists():
                self._parts += 1
            _write_parquet(pending.frame(_parquet_frame, start), part)
        return count

    def write(self, path: str | Path) -> None:
        """Write all records kept in memory to ``path``, replacing it.

        A path ending in ``.jsonl`` gets one JSON object per line (``.jsonl.gz``: compressed);
        any other path one parquet file (messages and probabilities as JSON text).
        """
        path = Path(path)
        if path.name.endswith(_JSONL):
            _write_jsonl(self.records, path, "w")
        else:
            _write_parquet(self.records.frame(_parquet_frame), path)


_JSONL = (".jsonl", ".jsonl.gz")  # the names of JSON lines files (any other path is parquet)


def _total(log: CallLog, name: str, _model: Any) -> Any:
    return getattr(log.totals, name)


def _mean_latency(log: CallLog, _model: Any) -> float:
    return log.mean_latency_s


def _step_agreement(log: CallLog, model: Any) -> float:
    return log.rule_agreement(model.steps)


_COLUMNS = [f.name for f in dataclasses.fields(CallRecord)]
# Fixed column types, so that parquet parts written at different times share one schema.
_PARQUET_TYPES = {
    f.name: {"int": "int64", "float": "float64", "bool": "bool"}.get(str(f.type), "string")
    for f in dataclasses.fields(CallRecord)
}


def _messages_json(messages: Messages) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in messages]


def _messages_of(rows: list[dict[str, str]]) -> Messages:
    return tuple((m["role"], m["content"]) for m in rows)


def records_frame(records: list[CallRecord]) -> pd.DataFrame:
    """Records as a DataFrame, one row each: their :meth:`CallRecord.to_dict` rows."""
    return pd.DataFrame([r.to_dict() for r in records], columns=_COLUMNS)


def _parquet_frame(records: list[CallRecord]) -> pd.DataFrame:
    """Records as the rows of a parquet file: messages and probabilities as JSON text."""
    frame = records_frame(records)
    for column in ("messages", "probabilities"):
        frame[column] = frame[column].map(json.dumps)
    return frame


def _write_jsonl(records: Sequence[CallRecord], path: Path, mode: str) -> None:
    """Write (``"w"``) or append (``"a"``) records; to a ``.gz`` file as one gzip member."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        text = "".join(record.to_json() for record in records)
        with path.open(mode + "b") as fh:
            fh.write(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))
        return
    with path.open(mode, encoding="utf-8") as fh:
        fh.writelines(record.to_json() for record in records)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.astype(_PARQUET_TYPES).to_parquet(path, index=False)
