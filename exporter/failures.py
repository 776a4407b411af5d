"""What the last export could not publish, kept in the state database for ``chartseal log``.

Each export replaces the list: a problem fixed in the clinic database leaves it at the next
export. A problem that is still there keeps the time it was first seen.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable

from .records import KEPT, SKIPPED, WARNING, Problem

SCHEMA = """
CREATE TABLE IF NOT EXISTS export_problems (
    db      TEXT NOT NULL,      -- clinic database name
    patient TEXT NOT NULL,      -- card number, 'row <id>', or '' for the whole database
    field   TEXT NOT NULL,
    message TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('warning', 'skipped', 'kept')),
    since   REAL NOT NULL       -- when an export first reported it
)
"""

# How `chartseal log` names each outcome.
STATUS = {SKIPPED: "not published", KEPT: "kept old", WARNING: "warning"}


@dataclass(frozen=True)
class Failure:
    db: str
    patient: str
    field: str
    message: str
    outcome: str
    since: float


def _row(p: Problem) -> tuple[str, str, str, str, str]:
    db, who = p.db, p.patient
    if db and who.startswith(db + "/"):
        who = who[len(db) + 1:]
    elif not db and "/" in who:
        db, who = who.split("/", 1)
    elif who == db:
        who = ""  # the database itself
    return db, who, p.field, p.message, p.outcome


def record(conn: sqlite3.Connection, problems: Iterable[Problem], now: float | None = None) -> None:
    """Make the table hold exactly ``problems`` (written only when they changed)."""
    conn.executescript(SCHEMA)
    now = time.time() if now is None else now
    new = {_row(p) for p in problems}
    old = {tuple(r[:5]): r[5] for r in conn.execute(
        "SELECT db, patient, field, message, outcome, since FROM export_problems")}
    if set(old) == new:
        return
    with conn:
        conn.execute("DELETE FROM export_problems")
        conn.executemany("INSERT INTO export_problems VALUES (?, ?, ?, ?, ?, ?)",
                         sorted((*r, old.get(r, now)) for r in new))


def read(conn: sqlite3.Connection) -> list[Failure]:
    """Every problem of the last export, those that kept a patient off the site first."""
    try:
        rows = conn.execute("SELECT db, patient, field, message, outcome, since FROM export_problems "
                            "ORDER BY outcome = 'warning', db, patient, field").fetchall()
    except sqlite3.OperationalError:
        return []  # no export has run yet
    return [Failure(*r) for r in rows]
