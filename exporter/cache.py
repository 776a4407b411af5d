"""Sealed-object cache: an object is re-sealed only when what it is sealed from changed.

Sealing uses random nonces, so sealing the same value twice gives different bytes; keeping
the previous object when its inputs are unchanged is what makes a re-export (and the
publish after it) touch only the objects that depend on a change.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from . import crypto

SCHEMA = """
CREATE TABLE IF NOT EXISTS sealed_cache (
    key    TEXT PRIMARY KEY,   -- what the object is: 'bundle:<rid>', 'door:<id>', ...
    inputs TEXT NOT NULL,      -- digest of everything the object was sealed from
    name   TEXT NOT NULL       -- its path relative to the site root
);
"""


def input_digest(*parts: Any) -> str:
    return crypto.hash_(16, crypto.canonical_json([_plain(p) for p in parts])).hex()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return crypto.b64e(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class SealedCache:
    def __init__(self, conn: sqlite3.Connection) -> None:
        conn.executescript(SCHEMA)
        self.conn = conn
        self._old = {k: (i, n) for k, i, n in conn.execute("SELECT key, inputs, name FROM sealed_cache")}
        self._new: dict[str, tuple[str, str]] = {}

    def lookup(self, key: str, inputs: str) -> str | None:
        """The object name sealed earlier from exactly these inputs, or None."""
        hit = self._old.get(key)
        if hit and hit[0] == inputs:
            self._new[key] = hit
            return hit[1]
        return None

    def store(self, key: str, inputs: str, name: str) -> None:
        self._new[key] = (inputs, name)

    def commit(self) -> None:
        """Keep exactly the entries used by this export (inside the caller's transaction)."""
        self.conn.execute("DELETE FROM sealed_cache")
        self.conn.executemany("INSERT INTO sealed_cache (key, inputs, name) VALUES (?, ?, ?)",
                              ((k, i, n) for k, (i, n) in self._new.items()))
