"""The plan: every object the site must hold, with its digest, kept in the state database.

The exporter writes the plan and the bytes (under the site folder); the publisher reads it
and makes a target match it.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from . import crypto

IMMUTABLE = "immutable"  # assets/, obj/: a new version is a new name
POINTER = "pointer"  # doors, site.json, app pages: changed in place, uploaded last

SCHEMA = """
CREATE TABLE IF NOT EXISTS plan (
    name   TEXT PRIMARY KEY,   -- path relative to the site root, e.g. c/123/obj/ab.bin
    digest TEXT NOT NULL,      -- hex BLAKE2b-128 of the bytes
    size   INTEGER NOT NULL,
    kind   TEXT NOT NULL CHECK (kind IN ('immutable', 'pointer')),
    grp    TEXT NOT NULL,      -- rid of the patient it belongs to, 'clinic' or 'app'
    refs   TEXT NOT NULL DEFAULT ''  -- space-separated names this pointer/index leads to
);
-- The publisher reads one job's objects by group.
CREATE INDEX IF NOT EXISTS plan_grp ON plan (grp);
-- Counts the exports that changed the plan, so a process that remembers the plan it last
-- committed (exporter.memo) knows whether it is still the one in the table.
CREATE TABLE IF NOT EXISTS plan_generation (n INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class PlanObject:
    name: str
    digest: str
    size: int
    kind: str
    group: str
    refs: tuple[str, ...] = ()


def digest(data: bytes) -> str:
    return crypto.hash_(16, data).hex()


def ensure_schema(conn: sqlite3.Connection) -> None:
    # executescript commits an open transaction first: run it only when something is missing,
    # so replace_plan really stays inside the caller's transaction.
    have = {n for (n,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE name IN ('plan', 'plan_grp', 'plan_generation')")}
    if len(have) < 3:
        conn.executescript(SCHEMA)


def generation(conn: sqlite3.Connection) -> int:
    ensure_schema(conn)
    row = conn.execute("SELECT n FROM plan_generation").fetchone()
    return row[0] if row else 0


def replace_plan(conn: sqlite3.Connection, objects: dict[str, PlanObject],
                 old: dict[str, PlanObject] | None = None) -> int:
    """Make the plan table hold exactly ``objects``, inside the caller's transaction.

    ``old``, when given, must be what the table holds now: only the differences are
    written. Returns the new generation number.
    """
    ensure_schema(conn)
    if old is None:
        conn.execute("DELETE FROM plan")
        return update_plan(conn, (), objects.values())
    return update_plan(conn, old.keys() - objects.keys(),
                       [o for name, o in objects.items() if old.get(name) != o])


def update_plan(conn: sqlite3.Connection, removed: Iterable[str], changed: Iterable[PlanObject]) -> int:
    """Remove ``removed`` and write ``changed`` (new or different objects), inside the
    caller's transaction: an export that knows its differences writes only those.
    Returns the new generation number."""
    ensure_schema(conn)
    conn.executemany("DELETE FROM plan WHERE name = ?", ((n,) for n in removed))
    conn.executemany(
        "INSERT OR REPLACE INTO plan (name, digest, size, kind, grp, refs) VALUES (?, ?, ?, ?, ?, ?)",
        ((o.name, o.digest, o.size, o.kind, o.group, " ".join(o.refs)) for o in changed),
    )
    n = generation(conn) + 1
    conn.execute("DELETE FROM plan_generation")
    conn.execute("INSERT INTO plan_generation (n) VALUES (?)", (n,))
    return n


def read_plan(conn: sqlite3.Connection) -> Iterator[PlanObject]:
    ensure_schema(conn)
    for name, dig, size, kind, grp, refs in conn.execute(
        "SELECT name, digest, size, kind, grp, refs FROM plan ORDER BY name"
    ):
        yield PlanObject(name, dig, size, kind, grp, tuple(refs.split()) if refs else ())


def object_path(site_dir: Path, name: str) -> Path:
    return site_dir / name
