"""Response caches: a rerun of the same seed replays answers without calling the model.

Answers are keyed by the backend's identity (its class, model name and every setting that
changes answers, such as temperature and seed), the exact messages, and the answer format
(free text, or the JSON schema of structured output). The key is a SHA-256 digest, so no
prompt or setting is stored in clear in the key, and secrets never enter it: the backend
identity comes from LangChain's own serialisation, which replaces secrets by their names.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "SCHEMA_VERSION",
    "CacheError",
    "CachedAnswer",
    "InMemoryCache",
    "ResponseCache",
    "SQLiteCache",
    "SnapshotCache",
    "cache_key",
]

SCHEMA_VERSION = 1
"""The ``PRAGMA user_version`` of a :class:`SQLiteCache` file of this schema."""

# The answers table of this schema: (column, declared type), in order.
_COLUMNS = (("key", "TEXT"), ("raw", "TEXT"), ("tokens_in", "INTEGER"), ("tokens_out", "INTEGER"))


class CacheError(ValueError):
    """A cache file that is not a response cache of this schema; the message says what to do."""


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """A backend answer as stored in a cache."""

    raw: str
    tokens_in: int = 0
    tokens_out: int = 0


class ResponseCache(Protocol):
    """Where answers are looked up before a backend is called."""

    def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under ``key``, or None."""
        ...

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store ``answer`` under ``key``."""
        ...


def cache_key(identity: str, messages: tuple[tuple[str, str], ...], answer_format: str) -> str:
    """The cache key of one request.

    Args:
        identity: the backend identity (see :func:`mesa_llm.backends.backend_identity`).
        messages: the request's ``(role, content)`` pairs.
        answer_format: ``"text"`` or the JSON schema requested as structured output.

    """
    payload = json.dumps([identity, messages, answer_format], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class InMemoryCache:
    """A response cache that lives as long as the process."""

    def __init__(self) -> None:
        self._data: dict[str, CachedAnswer] = {}

    def get(self, key: str) -> CachedAnswer | None:  # noqa: D102
        return self._data.get(key)

    def put(self, key: str, answer: CachedAnswer) -> None:  # noqa: D102
        self._data[key] = answer

    def __len__(self) -> int:
        return len(self._data)


class SnapshotCache:
    """A response cache over a read-only snapshot of another, collecting the answers added to it.

    A sweep's run gets one (:mod:`mesa_llm.experiments`): wherever it runs, on the
    sweep's machine or a cluster's worker with no shared files, it sees the sweep's cache
    as it was when the sweep started, and sends back only what it added (:attr:`added`),
    which the sweep writes to its cache. So each run sees the same answers whatever
    executed it and in whatever order.

    Args:
        snapshot: the answers to start from, by key (not modified).
    """

    def __init__(self, snapshot: Mapping[str, CachedAnswer] | None = None) -> None:
        self.snapshot: Mapping[str, CachedAnswer] = snapshot if snapshot is not None else {}
        self.added: dict[str, CachedAnswer] = {}

    def get(self, key: str) -> CachedAnswer | None:  # noqa: D102
        answer = self.added.get(key)
        return answer if answer is not None else self.snapshot.get(key)

    def put(self, key: str, answer: CachedAnswer) -> None:  # noqa: D102
        self.added[key] = answer


class SQLiteCache:
    """A persistent response cache in one SQLite file, safe to share across processes.

    The file's schema is checked when it is opened and versioned with ``PRAGMA
    user_version`` (:data:`SCHEMA_VERSION`); a file of this schema written before the
    version was recorded (``user_version`` 0) is accepted and stamped.

    Args:
        path: the database file; created with its folder if missing.

    Raises:
        TypeError: for a ``path`` that is not a file path.
        CacheError: for a file that cannot be opened, is not SQLite, holds other tables,
            or has another schema or schema version, naming the file and the fix.
        OSError: for a folder that cannot be created.

    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, str | os.PathLike) or not str(path).strip():
            raise TypeError(f"path must be the path of a cache file, such as 'cache.sqlite', got {path!r}.")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        except sqlite3.OperationalError as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def __getstate__(self) -> dict[str, Any]:
        """The state to pickle: the file's path (the connection is opened again where unpickled)."""
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def _open(self) -> None:
        """Check the schema (creating or stamping it) in one transaction, then set the journal mode.

        A refused file is left as it was.

        Raises:
            CacheError: for a file that cannot be opened, is not SQLite or is of another schema.
        """
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # two processes opening a new file create it once
            problem = self._check_schema()
            conn.execute("ROLLBACK" if problem else "COMMIT")
            if not problem:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.OperationalError as exc:  # a folder, an unreadable or a locked file
            raise self._cannot_open(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._error(f"it is not a SQLite database ({exc})") from exc
        if problem:
            raise self._error(problem)

    def _check_schema(self) -> str | None:
        """Create the schema in an empty file, stamp an unversioned one; what is wrong, or None."""
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version not in (0, SCHEMA_VERSION):
            return f"its schema version is {version}, this version of mesa_llm reads {SCHEMA_VERSION}"
        if "answers" not in tables:
            if tables:
                return f"it is another program's database (tables: {', '.join(sorted(tables))})"
            conn.execute(
                "CREATE TABLE answers ("
                "key TEXT PRIMARY KEY, raw TEXT NOT NULL, "
                "tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL)"
            )
        else:
            columns = tuple((row[1], row[2].upper()) for row in conn.execute("PRAGMA table_info(answers)"))
            if columns != _COLUMNS:
                found = ", ".join(f"{name} {kind}" for name, kind in columns)
                return f"its answers table has the columns ({found}), not those of a response cache"
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return None

    def _cannot_open(self, exc: sqlite3.Error) -> CacheError:
        return CacheError(
            f"The cache file {str(self.path)!r} cannot be opened: {exc}; "
            "check that it is a file you can write, or choose another --cache file."
        )

    def _error(self, problem: str) -> CacheError:
        return CacheError(
            f"The cache file {str(self.path)!r} is not a mesa_llm response cache: {problem}; "
            "delete it or choose another --cache file."
        )

    def get(self, key: str) -> CachedAnswer | None:  # noqa: D102
        with self._lock:
            row = self._conn.execute(
                "SELECT raw, tokens_in, tokens_out FROM answers WHERE key = ?", (key,)
            ).fetchone()
        return CachedAnswer(*row) if row else None

    def put(self, key: str, answer: CachedAnswer) -> None:  # noqa: D102
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                (key, answer.raw, answer.tokens_in, answer.tokens_out),
            )

    def put_many(self, answers: Mapping[str, CachedAnswer]) -> None:
        """Store all of ``answers`` in one transaction."""
        rows = [(key, a.raw, a.tokens_in, a.tokens_out) for key, a in answers.items()]
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)

    def snapshot(self) -> dict[str, CachedAnswer]:
        """Every stored answer, by key (for a :class:`SnapshotCache`)."""
        with self._lock:
            rows = self._conn.execute("SELECT key, raw, tokens_in, tokens_out FROM answers").fetchall()
        return {key: CachedAnswer(raw, tokens_in, tokens_out) for key, raw, tokens_in, tokens_out in rows}

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
