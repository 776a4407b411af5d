"""The rows each published patient was last built from, so one that fails now keeps its page.

When a patient row cannot be read or rendered, or its whole clinic database cannot be
opened, the export builds that patient from the rows it was last published from instead
of letting it vanish from the site (docs/CLINIC_DB.md, "Bad input"). The rows live in
``<home>/last_good.sqlite``, owner-only like the keystore: it holds clinic data, as the
clinic database and the snapshots in the home do, and never leaves the clinic.

Rows are staged while a database is read (only those whose digest differs from the kept
one, so an unchanged clinic writes nothing) and become the kept version only for the
patients the export then published: a row that fails to render never replaces a good one.
A process that exports again and again (the service) keeps the kept row ids between exports
while no other process writes the file, so an edit costs what it changed here too.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from .clinic_db import Raw

LOOKUPS = 256  # single-row digest look-ups per export before reading them all (stage)

SCHEMA = """
CREATE TABLE IF NOT EXISTS good (
    db     TEXT NOT NULL,
    pid    INTEGER NOT NULL,     -- the patient's row id in that database
    digest TEXT NOT NULL,        -- clinic_db digest of the rows
    rows   TEXT NOT NULL,        -- the rows, see _encode
    PRIMARY KEY (db, pid)
);
CREATE TABLE IF NOT EXISTS staged (
    db     TEXT NOT NULL,
    pid    INTEGER NOT NULL,
    digest TEXT NOT NULL,
    rows   TEXT NOT NULL,
    PRIMARY KEY (db, pid)
);
"""


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"b": bytes(value).hex()}
    raise TypeError(f"cannot keep a value of type {type(value).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    # Rows hold only str, int, float, None and bytes: the only JSON object is a BLOB.
    return bytes.fromhex(obj["b"])


def _encode(raw: Raw) -> str:
    # JSON, not pickle or repr: exact for SQLite's value types (floats round-trip, Infinity
    # included) and safe to read back.
    return json.dumps(raw, default=_default, ensure_ascii=False, separators=(",", ":"))


def _decode(text: str) -> Raw:
    row, *related = json.loads(text, object_hook=_hook)
    # Tuples again, so the rows compare and hash as they did when read.
    return (tuple(row), *([tuple(r) for r in rows] for rows in related))  # type: ignore[return-value]


class LastGood:
    """The kept rows of one clinic home; one instance per export."""

    def __init__(self, path: Path) -> None:
        new = not path.exists()
        self.path = path = Path(path).resolve()
        # taken before this export writes anything (clearing old staged rows does not
        # change the kept ones)
        self._known = _known(path)
        self.conn = sqlite3.connect(path, timeout=30)
        if new:
            os.chmod(path, 0o600)
        self.conn.executescript(SCHEMA)
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            self._known = None  # the change counter is not kept up to date in WAL mode
            _KEPT.pop(str(path), None)
        if self.conn.execute("SELECT 1 FROM staged LIMIT 1").fetchone():
            with self.conn:  # left by an export that did not finish
                self.conn.execute("DELETE FROM staged")
        self._digests: dict[str, dict[int, str]] = {}
        self._lookups = 0
        self._staged_keys: set[tuple[str, int]] = set()
        self.staged = 0

    def close(self) -> None:
        self.conn.close()

    def digests(self, db: str) -> dict[int, str]:
        found = self._digests.get(db)
        if found is None:
            found = self._digests[db] = dict(self.conn.execute(
                "SELECT pid, digest FROM good WHERE db = ?", (db,)))
        return found

    def _kept_digest(self, db: str, pid: int) -> str | None:
        # A read by difference stages a few patients: one indexed look-up each, rather than
        # every (pid, digest) of the database; past LOOKUPS in one export, all of them at once.
        if db in self._digests or self._lookups >= LOOKUPS:
            return self.digests(db).get(pid)
        self._lookups += 1
        row = self.conn.execute("SELECT digest FROM good WHERE db = ? AND pid = ?", (db, pid)).fetchone()
        return row[0] if row else None

    def stage(self, db: str, pid: int, digest: str, raw: Raw) -> None:
        """Called for every patient read; writes only rows that differ from the kept ones."""
        if self._kept_digest(db, pid) != digest:
            self.conn.execute("INSERT OR REPLACE INTO staged (db, pid, digest, rows) VALUES (?, ?, ?, ?)",
                              (db, pid, digest, _encode(raw)))
            self._staged_keys.add((db, pid))
            self.staged += 1

    def get(self, db: str, pid: int) -> tuple[str, Raw] | None:
        """(digest, rows) of the version last published, or None."""
        row = self.conn.execute("SELECT digest, rows FROM good WHERE db = ? AND pid = ?",
                                (db, pid)).fetchone()
        return (row[0], _decode(row[1])) if row else None

    def pids(self, db: str) -> list[int]:
        return [r[0] for r in self.conn.execute("SELECT pid FROM good WHERE db = ? ORDER BY pid", (db,))]

    def commit(self, present: dict[str, Iterable[int]], unreadable: Iterable[str],
               failed: Iterable[tuple[str, int]]) -> None:
        """After a published export: keep the staged rows of the patients it published.

        ``present``: per database read, every patient row id in it (rows that are gone are
        forgotten); ``unreadable``: databases kept as they were; ``failed``: (db, row id)
        of patients not published from their current rows.
        """
        present = {db: set(pids) for db, pids in present.items()}
        unreadable, failed = set(unreadable), list(failed)
        kept = self._kept()
        gone_dbs = set(kept) - set(present) - unreadable
        gone = {db: kept[db] - pids for db, pids in present.items() if db in kept}
        if not self.staged and not gone_dbs and not any(gone.values()):
            self._remember(kept)
            return  # an edit-free export (the service's usual case) writes nothing here
        conn = self.conn
        with conn:
            conn.executemany("DELETE FROM good WHERE db = ?", [(db,) for db in gone_dbs])
            conn.executemany("DELETE FROM good WHERE db = ? AND pid = ?",
                             [(db, pid) for db, pids in gone.items() for pid in pids])
            conn.executemany("DELETE FROM staged WHERE db = ? AND pid = ?", failed)
            conn.execute("INSERT OR REPLACE INTO good SELECT db, pid, digest, rows FROM staged")
            conn.execute("DELETE FROM staged")
        for db in gone_dbs:
            del kept[db]
        for db, pids in gone.items():
            kept[db] -= pids
        for db, pid in self._staged_keys - set(failed):
            kept.setdefault(db, set()).add(pid)
        self._remember(kept)
        self._digests.clear()
        self._staged_keys.clear()
        self.staged = 0

    def _remember(self, kept: dict[str, set[int]]) -> None:
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            _remember(self.path, kept)

    def _kept(self) -> dict[str, set[int]]:
        """Per database, the row ids kept: as this process left them if no other process
        wrote the file since, else read (once per process in the service)."""
        if self._known is None:
            self._known = {}
            for db, pid in self.conn.execute("SELECT db, pid FROM good"):
                self._known.setdefault(db, set()).add(pid)
        return self._known


# Per file, the row ids kept and the file's stamp when this process last committed: the
# service exports again and again, and reading every kept row id each time costs as much as
# an edit. SQLite's file change counter (rollback journal: moved by every writer's commit)
# says whether another process wrote since.
# The file's identity and modification time too: a file put back or made anew in its place
# starts its counter again.
_KEPT: dict[str, tuple[tuple[int, int, int, bytes], dict[str, set[int]]]] = {}


def _stamp(path: Path) -> tuple[int, int, int, bytes] | None:
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            return st.st_dev, st.st_ino, st.st_mtime_ns, fh.read(28)[24:28]
    except OSError:
        return None


def _known(path: Path) -> dict[str, set[int]] | None:
    found = _KEPT.get(str(path))
    stamp = _stamp(path)
    return found[1] if found is not None and stamp is not None and found[0] == stamp else None


def _remember(path: Path, kept: dict[str, set[int]]) -> None:
    stamp = _stamp(path)
    if stamp is not None:
        _KEPT[str(path)] = (stamp, kept)
    else:
        _KEPT.pop(str(path), None)
