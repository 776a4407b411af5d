"""Which object on a target names which: one row per (object, name it refers to).

Delete planning asks, for each superseded object, "does anything that may still be on the
target name it?". The references used to be a text column of ``published`` and ``sending``,
and answering meant reading every row's text: an account index names every bundle it lists,
so at 50,000 patients that was hundreds of megabytes per publish under constant editing.
Kept here instead, with an index on the name referred to, the question is one indexed lookup
per candidate, and a publish reads only the references of what it deletes.

``via`` says which record a row belongs to: 0, the object's confirmed (published) version;
1, an upload that started and is not confirmed yet (``sending``: after a kill -9 either the
old or the new bytes may be on the target, so both versions' references count). A row
counts only while its record exists, so a row left behind by a record deleted elsewhere can
only keep an object longer, never delete one too early.
"""
from __future__ import annotations

import sqlite3
from typing import Iterable

PUBLISHED, SENDING = 0, 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    target TEXT NOT NULL,
    name   TEXT NOT NULL,     -- an object that may be on the target
    via    INTEGER NOT NULL,  -- 0: its published version, 1: an upload not confirmed yet
    ref    TEXT NOT NULL,     -- an object it names
    PRIMARY KEY (target, name, via, ref)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_ref ON links (target, ref);
"""

# A link counts while the record it belongs to exists (see the module's docstring).
_LIVE = ("((l.via = 0 AND EXISTS (SELECT 1 FROM published p WHERE p.target = l.target AND "
         "p.name = l.name)) OR (l.via = 1 AND EXISTS (SELECT 1 FROM sending s WHERE "
         "s.target = l.target AND s.name = l.name)))")


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the table; a state database of the previous layout has its references moved."""
    fresh = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'links'"
                         ).fetchone() is None
    if not fresh:
        return
    outer = conn.in_transaction
    if not outer:
        conn.execute("BEGIN IMMEDIATE")
    try:
        # Checked again inside the write transaction: another process may have just done it.
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'links'").fetchone() is None:
            for statement in _statements():  # not executescript: it would commit the transaction
                conn.execute(statement)
            _move_old_refs(conn)
        if not outer:
            conn.execute("COMMIT")
    except BaseException:
        if not outer:
            conn.execute("ROLLBACK")
        raise


def _statements() -> list[str]:
    return [s.strip() for s in SCHEMA.split(";") if s.strip()]


def _move_old_refs(conn: sqlite3.Connection) -> None:
    """Rows of the previous layout kept their references as text in ``refs``: move them
    here and empty the column (the rows shrink, so scanning ``published`` gets cheap)."""
    for table, via in (("published", PUBLISHED), ("sending", SENDING)):
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (table,)).fetchone() is None:
            continue
        rows = conn.execute(f"SELECT target, name, refs FROM {table} WHERE refs != ''").fetchall()
        conn.executemany(
            "INSERT OR IGNORE INTO links (target, name, via, ref) VALUES (?, ?, ?, ?)",
            ((t, n, via, r) for t, n, refs in rows for r in set(refs.split())))
        conn.execute(f"UPDATE {table} SET refs = '' WHERE refs != ''")


def set_published(conn: sqlite3.Connection, target: str, name: str, refs: Iterable[str]) -> None:
    """The confirmed version's references replace any earlier ones, and the upload's."""
    conn.execute("DELETE FROM links WHERE target = ? AND name = ?", (target, name))
    add(conn, target, PUBLISHED, ((name, r) for r in refs))


def add(conn: sqlite3.Connection, target: str, via: int, pairs: Iterable[tuple[str, str]]) -> None:
    """Record (object, name it refers to) pairs; an upload that starts adds its references
    beside the published version's (``via`` SENDING)."""
    conn.executemany("INSERT OR IGNORE INTO links (target, name, via, ref) VALUES (?, ?, ?, ?)",
                     ((target, name, via, ref) for name, ref in pairs))


def forget(conn: sqlite3.Connection, target: str, names: Iterable[str], via: int | None = None) -> None:
    """Drop the references of records that are gone (both kinds unless ``via`` says)."""
    if via is None:
        conn.executemany("DELETE FROM links WHERE target = ? AND name = ?",
                         ((target, n) for n in names))
    else:
        conn.executemany("DELETE FROM links WHERE target = ? AND name = ? AND via = ?",
                         ((target, n, via) for n in names))


def referrers(conn: sqlite3.Connection, target: str, names: Iterable[str]) -> dict[str, set[str]]:
    """For each of ``names``: the other objects that may be on the target and name it.

    One indexed lookup per name; nothing else is read.
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS want_refs (v TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM want_refs")
    conn.executemany("INSERT OR IGNORE INTO want_refs (v) VALUES (?)", ((n,) for n in names))
    out: dict[str, set[str]] = {}
    for ref, name in conn.execute(
            "SELECT l.ref, l.name FROM want_refs w CROSS JOIN links l INDEXED BY links_ref "
            "ON l.target = ? AND l.ref = w.v "
            f"WHERE l.name != l.ref AND {_LIVE}", (target,)):
        out.setdefault(ref, set()).add(name)
    return out


def refs_of(conn: sqlite3.Connection, target: str, name: str) -> set[str]:
    """What the record(s) of ``name`` name (for tests and ``chartseal`` diagnostics)."""
    return {r for (r,) in conn.execute(
        f"SELECT l.ref FROM links l WHERE l.target = ? AND l.name = ? AND {_LIVE}", (target, name))}
