"""Sealed-object cache: an object is re-sealed only when what it is sealed from changed.

Sealing uses random nonces, so sealing the same value twice gives different bytes; keeping
the previous object when its inputs are unchanged is what makes a re-export (and the
publish after it) touch only the objects that depend on a change. The cache also keeps each
object's digest and size, so an unchanged object is never read back from disk.
"""
from __future__ import annotations

import hashlib
import sqlite3
from typing import Any, NamedTuple

SCHEMA = """
CREATE TABLE IF NOT EXISTS sealed_cache (
    key    TEXT PRIMARY KEY,   -- what the object is: 'bundle:<rid>', 'door:<id>', ...
    inputs TEXT NOT NULL,      -- digest of everything the object was sealed from
    name   TEXT NOT NULL,      -- its path relative to the site root
    digest TEXT NOT NULL,      -- plan digest of its bytes
    size   INTEGER NOT NULL
);
"""


class Entry(NamedTuple):
    inputs: str
    name: str
    digest: str
    size: int


def input_digest(*parts: Any) -> str:
    """A digest of plain values (str, bytes, numbers, None, and lists, tuples, dicts of them).

    repr() is exact and stable for these types, and far cheaper than canonical JSON.
    """
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=16).hexdigest()


class SealedCache:
    def __init__(self, conn: sqlite3.Connection, stored: dict[str, Entry] | None = None) -> None:
        """``stored``, when given, must be what the table holds (a process's memo of it)."""
        cols = {row[1] for row in conn.execute("PRAGMA table_info(sealed_cache)")}
        if cols and "digest" not in cols:
            conn.execute("DROP TABLE sealed_cache")  # an older layout: seal everything once
            stored = None
        conn.executescript(SCHEMA)
        self.conn = conn
        if stored is None:
            stored = {}
            for key, inputs, name, digest, size in conn.execute(
                    "SELECT key, inputs, name, digest, size FROM sealed_cache"):
                # A door's key is its name: one string for both (100,000 doors at 50,000 patients)
                stored[key] = Entry(inputs, key if name == key else name, digest, size)
        self._stored = stored
        self._old = stored  # read only: a full export fills _new from nothing
        self._new: dict[str, Entry] = {}
        self._dropped: dict[str, Entry] | None = None  # carried mode (see carry())
        self._touched: list[str] = []

    def carry(self) -> None:
        """Start from the previous export's entries instead of none (they become this
        export's, mutated in place): the caller then drops the entries of what it seals
        again, and commit() writes only what was dropped or used since. The dropped entries
        are what lookup() answers from, so an unchanged object of a dropped patient is kept."""
        self._new = self._stored
        self._old = self._dropped = {}

    def drop(self, key: str) -> None:
        """Carried mode: take ``key`` out of the entries, keeping it for lookup()."""
        entry = self._new.pop(key, None)
        if entry is not None and self._dropped is not None:
            self._dropped[key] = entry

    def lookup(self, key: str, inputs: str) -> Entry | None:
        """The object sealed earlier from exactly these inputs, or None."""
        hit = self._old.get(key)
        if hit and hit.inputs == inputs:
            return hit
        return None

    def use(self, key: str, entry: Entry) -> None:
        self._new[key] = entry
        if self._dropped is not None:
            self._touched.append(key)

    def _changes(self) -> tuple[list[str], list[str]]:
        """Carried mode: (keys to delete, keys to write) against what the table holds."""
        dropped, new = self._dropped or {}, self._new
        gone = [k for k in dropped if k not in new]
        put = [k for k in dict.fromkeys(self._touched) if dropped.get(k) != new[k]]
        return gone, put

    @property
    def unchanged(self) -> bool:
        """True when this export used exactly the previous entries."""
        if self._dropped is not None:
            gone, put = self._changes()
            return not gone and not put
        return self._new == self._stored

    @property
    def previous(self) -> dict[str, Entry]:
        """The entries the previous export committed (read only)."""
        return self._old

    @property
    def entries(self) -> dict[str, Entry]:
        """The entries this export used: what the table holds after :meth:`commit`."""
        return self._new

    def commit(self) -> None:
        """Keep exactly the entries used by this export (inside the caller's transaction)."""
        new = self._new
        if self._dropped is not None:
            gone, put = self._changes()
            changed = ((k, *new[k]) for k in put)
        else:
            stored = self._stored
            gone = list(stored.keys() - new.keys())
            changed = ((k, *e) for k, e in new.items() if stored.get(k) != e)
        self.conn.executemany("DELETE FROM sealed_cache WHERE key = ?", ((k,) for k in gone))
        self.conn.executemany(
            "INSERT OR REPLACE INTO sealed_cache (key, inputs, name, digest, size) VALUES (?, ?, ?, ?, ?)",
            changed)
