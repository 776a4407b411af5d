"""The `server_notes` table of a clinic database: the one table chartseal ever writes there.

Writes go through a connection whose SQLite authorizer refuses every change to any other
table, so a bug here cannot touch the clinic's own data. Storing is idempotent: `note_id` is
UNIQUE and inserts of a note already there are ignored.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .clinic_db import connect_readonly, schema_sql
from .errors import ChartsealError
from .home import Home
from .normalize import normalize_card

TABLE = "server_notes"
_WRITE_ACTIONS = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_ALLOWED = {sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_TRANSACTION,
            sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_SAVEPOINT}


class NotesError(ChartsealError):
    """Notes could not be fetched, listed or acknowledged."""


@dataclass(frozen=True)
class NoteRow:
    """One note to store in a clinic database."""

    note_id: str
    card: str
    author: str
    text: str
    created_at: str


@dataclass(frozen=True)
class StoredNote:
    id: str            # "<db>:<row id>", what `notes ack` takes
    db: str
    card: str
    patient: str
    author: str
    text: str
    created_at: str
    fetched_at: str
    read: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _table_sql() -> list[str]:
    """The CREATE statements for server_notes, taken from exporter/schema.sql."""
    sql = schema_sql()
    table = re.search(r"CREATE TABLE IF NOT EXISTS server_notes \(.*?\n\);", sql, re.DOTALL)
    index = re.search(r"CREATE INDEX IF NOT EXISTS server_notes_patient [^;]*;", sql)
    if not table or not index:
        raise NotesError("exporter/schema.sql has no server_notes table")
    return [table.group(0), index.group(0)]


def _only_server_notes(action: int, arg1: str | None, arg2: str | None, db: str | None,
                       trigger: str | None) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action in _WRITE_ACTIONS and arg1 == TABLE:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def connect_notes(path: Path) -> sqlite3.Connection:
    """Open a clinic database for writing `server_notes` only (created if missing)."""
    if not Path(path).is_file():
        raise NotesError(f"clinic database {path} does not exist",
                         hint="fix the path with: chartseal db add NAME PATH --replace")
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (TABLE,)).fetchone()
        if not has:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _table_sql():
                conn.execute(stmt)
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.close()
        raise NotesError(f"cannot open {path} for notes: {exc}",
                         hint="close programs that lock the clinic database, then try again") from exc
    conn.set_authorizer(_only_server_notes)
    return conn


def _patient_ids(conn: sqlite3.Connection) -> dict[str, int]:
    return {normalize_card(str(card)): pid
            for pid, card in conn.execute("SELECT id, card FROM patients") if card is not None}


def store(path: Path, rows: Iterable[NoteRow], fetched_at: str) -> tuple[int, int]:
    """Insert ``rows`` in ONE transaction; return (stored, already there)."""
    conn = connect_notes(path)
    stored = dup = 0
    try:
        ids = _patient_ids(conn)
        conn.execute("BEGIN IMMEDIATE")
        for r in rows:
            cur = conn.execute(
                f"INSERT OR IGNORE INTO {TABLE} (patient_id, card, author, text, created_at, "
                "fetched_at, read, note_id) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                (ids.get(r.card), r.card, r.author, r.text, r.created_at, fetched_at, r.note_id))
            if cur.rowcount:
                stored += 1
            else:
                dup += 1
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise NotesError(f"cannot store notes in {path}: {exc}",
                         hint="the notes stay in the inbox; run chartseal notes fetch again") from exc
    finally:
        conn.close()
    return stored, dup


def list_notes(home: Home, unread: bool = False, card: str | None = None) -> list[StoredNote]:
    out: list[StoredNote] = []
    want = normalize_card(card) if card else None
    for name, db in sorted(home.databases.items()):
        try:
            conn = connect_readonly(db.path)
        except Exception as exc:
            raise NotesError(f"cannot read database {name!r} ({db.path}): {exc}") from exc
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone():
                continue
            rows = conn.execute(
                f"SELECT n.id, n.card, n.author, n.text, n.created_at, n.fetched_at, n.read, "
                f"trim(coalesce(p.first_name, '') || ' ' || coalesce(p.surname, '')) "
                f"FROM {TABLE} n LEFT JOIN patients p ON p.id = n.patient_id "
                f"ORDER BY n.created_at, n.id").fetchall()
        except sqlite3.DatabaseError as exc:
            raise NotesError(f"cannot read notes from database {name!r} ({db.path}): {exc}",
                             hint="check that the path points at the clinic program's database") from exc
        finally:
            conn.close()
        for rid, c, author, text, created, fetched, read, patient in rows:
            if (unread and read) or (want and normalize_card(c or "") != want):
                continue
            out.append(StoredNote(f"{name}:{rid}", name, c or "", patient or "", author or "",
                                  text, created or "", fetched or "", bool(read)))
    return out


def _parse_id(home: Home, note: str) -> tuple[str, int]:
    db, _, row = note.rpartition(":")
    if not db:
        if len(home.databases) != 1:
            raise NotesError(f"note id {note!r} needs its database, like main:{note}",
                             hint="see the ids with: chartseal notes list")
        db = next(iter(home.databases))
    if not row.isdigit():
        raise NotesError(f"note id {note!r} is not like main:12",
                         hint="see the ids with: chartseal notes list")
    home.database(db)
    return db, int(row)


def ack(home: Home, note_ids: list[str]) -> int:
    """Mark notes read (one transaction per database); return how many were unread."""
    parsed = [_parse_id(home, n) for n in note_ids]
    changed = 0
    for db in sorted({d for d, _ in parsed}):
        conn = connect_notes(home.database(db).path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for d, row in parsed:
                if d != db:
                    continue
                hit = conn.execute(f"SELECT read FROM {TABLE} WHERE id = ?", (row,)).fetchone()
                if hit is None:
                    conn.execute("ROLLBACK")
                    raise NotesError(f"no note {db}:{row}", hint="see the ids with: chartseal notes list")
                changed += 1 - int(hit[0])
                conn.execute(f"UPDATE {TABLE} SET read = 1 WHERE id = ?", (row,))
            conn.execute("COMMIT")
        finally:
            conn.close()
    return changed
