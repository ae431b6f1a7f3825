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
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["CachedAnswer", "InMemoryCache", "ResponseCache", "SQLiteCache", "cache_key"]


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


class SQLiteCache:
    """A persistent response cache in one SQLite file, safe to share across processes.

    Args:
        path: the database file; created with its folder if missing.

    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS answers ("
                "key TEXT PRIMARY KEY, raw TEXT NOT NULL, "
                "tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL)"
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

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
