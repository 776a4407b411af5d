"""Reading only what changed in a clinic database since the last read (the service).

A process that reads one clinic file again and again (the background service) keeps a
:class:`ReadState` per file. A read then finds the changed patients from each table's
``modified_at`` and row ids, in SQL, without bringing every row into Python, and reads whole
rows only for those patients (docs/CLINIC_DB.md, "Reading only what changed"). Whenever it
cannot be sure, it reads everything, as a one-off ``chartseal export`` always does: the
result is the same ``ClinicData`` either way.
"""
from __future__ import annotations

import math
import os
import re
import sqlite3
import time
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from . import clinic_fields as f
from .records import Patient, Problem

# How far before the latest stamp of the last read a row counts as possibly changed: a clinic
# program may stamp a row, then commit it a little later, after rows stamped after it.
LAG = timedelta(minutes=10)
DEFAULT_FULL_EVERY = 3600.0  # seconds between full reads (setting full_read_interval)
# Past this many changed patients, one full read costs less than fetching them one by one.
MAX_DELTA = 2000
CHUNK = 500  # ids per IN (...) list, well under SQLite's parameter limit
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
TABLES = ("patients", "health", "deals", "visits", "appointments")


@dataclass(frozen=True)
class Mark:
    """One table as of a read: enough to tell whether rows were added or removed since."""

    count: int
    id_sum: int
    top: str  # the latest modified_at, as a sort key ('T' between date and time)
    nulls: int  # rows without modified_at


# Per patient row: its card as stored (None when that is the patient's card itself, as for
# most rows: one string less per patient kept), the patient built, its problems.
Entry = tuple[Any, Patient | None, tuple[Problem, ...]]


def entry_card(stored: Any, patient: Patient) -> Any:
    """What an Entry keeps of a row's card as stored (see :func:`stored_card`)."""
    return None if type(stored) is str and stored == patient.card else stored


def stored_card(entry: Entry) -> Any:
    """The card of an Entry's row as stored; the patient's own card object when equal, so a
    row rebuilt from the entry is the same text as the last read's."""
    if entry[0] is None and entry[1] is not None:
        return entry[1].card
    return entry[0]


@dataclass
class ReadState:
    """What one read of a clinic file leaves for the next read of that file."""

    full_every: float = DEFAULT_FULL_EVERY
    clock: Callable[[], float] | None = None  # monotonic seconds; None: time.monotonic
    file: tuple[int, int] | None = None        # (device, inode) of the file read
    schema: int | None = None                  # PRAGMA schema_version (VACUUM moves it too)
    marks: dict[str, Mark] | None = None       # None: this file cannot be read by difference
    # per related table: its row ids in order, and each row's patient id
    links: dict[str, tuple[array, array]] = field(default_factory=dict)
    patients: dict[int, Entry] = field(default_factory=dict)  # patient row id -> Entry
    # the cards and the patients listed, kept so a read by difference does per-row work for
    # the changed rows only (clinic_cards); None: the next read is a full one
    cards: Any = None
    # per table, the rows without modified_at: row id -> hash of the row. They are read on
    # every read and compared, since nothing else says when they change.
    unstamped: dict[str, dict[int, int]] = field(default_factory=dict)
    full_at: float = -math.inf
    # Wall time when the last read began (the earlier of local time and UTC, as a clinic
    # program may stamp either): an edit after it is stamped later, even when some row
    # carries a stamp in the future.
    seen_at: datetime | None = None
    # What the last read did, for tests and the log: "full" or "delta", and rows fetched.
    last: str = ""
    why_full: str = ""
    rows_read: int = 0

    def now(self) -> float:
        return (self.clock or time.monotonic)()


def identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _stamp_key(value: Any) -> str | None:
    """The sort key of a stamp (clinic_fields.stamp), or None when it is not one."""
    if not isinstance(value, str):
        return None
    found = f.stamp(f.Sink(), "", "", value)
    return found[0] if found else None


def _when(key: str) -> datetime:
    """A stamp's sort key as a time; a missing or odd time of day counts as midnight, the
    earliest it can mean."""
    day = datetime.fromisoformat(key[:10])
    m = _TIME.match(key, 11)
    if m and int(m[1]) < 24 and int(m[2]) < 60 and int(m[3] or 0) < 60:
        return day.replace(hour=int(m[1]), minute=int(m[2]), second=int(m[3] or 0))
    return day


def eligible(conn: sqlite3.Connection, have: dict[str, set[str]]) -> str:
    """Why this file cannot be read by difference ("" when it can): every table needs
    ``modified_at``, and ``id`` as its INTEGER PRIMARY KEY (so row ids survive a VACUUM)."""
    for table in TABLES:
        if "modified_at" not in have[table]:
            return f"table {table} has no modified_at"
        if table == "health":
            continue  # read by rowid; a VACUUM that renumbers it changes the schema version
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        keys = [r for r in info if r[5]]
        if len(keys) != 1 or keys[0][1] != "id" or keys[0][2].upper() != "INTEGER":
            return f"table {table} has no INTEGER PRIMARY KEY id"
    return ""


def marks(conn: sqlite3.Connection) -> tuple[dict[str, Mark] | None, str]:
    """Each table's row count, sum of row ids, latest stamp and unstamped rows, in SQL (no
    row reaches Python); None and why when a stamp is not text or the latest is not a
    timestamp."""
    out = {}
    for table in TABLES:
        try:
            count, id_sum, stamped, odd, top = conn.execute(
                f"SELECT count(*), coalesce(sum(rowid), 0), count(modified_at), "
                f"coalesce(sum(typeof(modified_at) NOT IN ('text', 'null')), 0), max(modified_at) FROM \"{table}\"").fetchone()
        except sqlite3.OperationalError as exc:  # a sum of row ids past 2**63
            if "overflow" in str(exc):
                return None, f"{table}: {exc}"
            raise
        if odd:
            return None, f"{table} has a modified_at that is not text"
        key = _stamp_key(top) if stamped else ""
        if key is None:
            return None, f"{table}: latest modified_at {top!r} is not a timestamp"
        out[table] = Mark(count, id_sum, key, count - stamped)
    return out, ""


def why_full(state: ReadState, ident: Any, schema: int, now_marks: dict[str, Mark] | None,
             why_not: str) -> str:
    """Why this read must read everything, or "" when reading the difference is safe."""
    if state.marks is None:
        return state.why_full or "first read"
    if why_not:
        return why_not
    if ident is None or ident != state.file:
        return "the database file was replaced"
    if schema != state.schema:
        return "the schema changed (or the file was vacuumed)"
    if state.now() - state.full_at >= state.full_every:
        return "periodic full read"
    assert now_marks is not None
    for table, mark in now_marks.items():
        if mark.top < state.marks[table].top:
            return f"{table}: the latest modified_at went back"
    return ""


def wall_now() -> datetime:
    return min(datetime.now(), datetime.now(timezone.utc).replace(tzinfo=None))


def since_clause(state: ReadState) -> tuple[str, tuple[str, ...]]:
    """WHERE for rows stamped at or after the last read (its latest stamp, or when it began
    if earlier), less LAG. A plain text comparison in SQL, true for 'T' and ' ' separated
    and date-only stamps alike; rows stamped in the future are simply read each time."""
    assert state.marks is not None
    tops = [m.top for m in state.marks.values() if m.top]
    if not tops:
        return "modified_at IS NULL", ()
    low = _when(max(tops))
    if state.seen_at is not None:
        low = min(low, state.seen_at)
    low -= LAG
    day = low.date().isoformat()
    return ("(modified_at IS NULL OR modified_at >= ? OR (modified_at >= ? AND modified_at < ?))",
            (low.strftime("%Y-%m-%dT%H:%M:%S"), day, day + "T"))


def _lookup(links: tuple[array, array], rowid: int) -> int | None:
    ids, pids = links
    i = bisect_left(ids, rowid)
    return pids[i] if i < len(ids) and ids[i] == rowid else None


def make_links(pairs: Iterable[tuple[Any, Any]]) -> tuple[array, array] | None:
    """Sorted row ids and their patient ids; None when a patient id is not a whole number
    (such a database is always read whole: the arrays hold integers only)."""
    ordered = sorted(pairs)
    if any(type(p) is not int or type(r) is not int for r, p in ordered):
        return None
    return array("q", (r for r, _ in ordered)), array("q", (p for _, p in ordered))


def table_links(conn: sqlite3.Connection, table: str) -> tuple[array, array] | None:
    """:func:`make_links` of a whole table, from SQL in row id order, a few thousand rows at
    a time (a full read keeps no list of every row)."""
    ids, pids = array("q"), array("q")
    cur = conn.execute(f'SELECT rowid, patient_id FROM "{table}" ORDER BY rowid')
    while rows := cur.fetchmany(4096):
        for rowid, pid in rows:
            if type(pid) is not int:
                return None
            ids.append(rowid)
            pids.append(pid)
    return ids, pids


@dataclass
class Delta:
    """The patients a read by difference must fetch whole, and the tables' new state."""

    candidates: set[int]
    patient_rows: dict[int, tuple]        # stamped patient rows, fetched already
    deleted: set[int]                      # patient rows gone
    links: dict[str, tuple[array, array]]
    rows_read: int
    unstamped: dict[str, dict[int, int]] = field(default_factory=dict)


def changes(conn: sqlite3.Connection, state: ReadState, fetch: Callable[..., list],
            now_marks: dict[str, Mark]) -> Delta | None:
    """The patients with a row stamped since the last read, or with a row added or removed;
    None when a change cannot be placed (an added row without a recent stamp)."""
    assert state.marks is not None
    where, params = since_clause(state)
    delta = Delta(set(), {}, set(), dict(state.links), 0)
    for table in TABLES:
        rows = fetch(conn, table, where, params)
        delta.rows_read += len(rows)
        rows = _drop_unchanged_unstamped(state, table, rows, delta)
        if table == "patients":
            ok = _patient_changes(conn, state, rows, now_marks[table], delta)
        else:
            ok = _related_changes(conn, state, table, rows, now_marks[table], delta)
        if not ok:
            return None
    return delta


def unstamped_hashes(rows: Iterable[tuple]) -> dict[int, int]:
    """Row id -> hash of each row without modified_at (its last column)."""
    return {r[0]: hash(r) for r in rows if r[-1] is None}


def _drop_unchanged_unstamped(state: ReadState, table: str, rows: list, delta: Delta) -> list:
    """The rows read, less the unstamped ones that are exactly as the last read saw them."""
    old = state.unstamped.get(table, {})
    now = delta.unstamped[table] = unstamped_hashes(rows)
    # A row that had no stamp and has one now, however old: its patient changed (a deleted
    # row is found by the row-id check as well).
    for rowid in old.keys() - now.keys():
        pid = rowid if table == "patients" else _lookup(state.links[table], rowid)
        if pid is not None:
            delta.candidates.add(pid)
    return [r for r in rows if r[-1] is not None or old.get(r[0]) != now[r[0]]]


def _patient_changes(conn, state: ReadState, rows: list, mark: Mark, delta: Delta) -> bool:
    known = state.patients
    new = [r[0] for r in rows if r[0] not in known]
    for r in rows:
        delta.candidates.add(r[0])
        delta.patient_rows[r[0]] = r
    old = state.marks["patients"]  # type: ignore[index]
    if mark.count == old.count + len(new) and mark.id_sum == old.id_sum + sum(new):
        return True
    now = {r[0] for r in conn.execute('SELECT id FROM "patients"')}
    delta.rows_read += len(now)
    if now - set(known) - set(delta.patient_rows):
        return False  # a patient added without a recent stamp
    delta.deleted = set(known) - now
    delta.candidates |= delta.deleted
    return True


def _related_changes(conn, state: ReadState, table: str, rows: list, mark: Mark, delta: Delta) -> bool:
    links = state.links[table]
    new_pairs = []
    for r in rows:
        if type(r[1]) is not int:
            return False
        delta.candidates.add(r[1])
        was = _lookup(links, r[0])
        if was is None:
            new_pairs.append((r[0], r[1]))
        elif was != r[1]:
            delta.candidates.add(was)  # a row moved to another patient: both changed
    old = state.marks[table]  # type: ignore[index]
    moved = any(_lookup(links, r[0]) not in (None, r[1]) for r in rows)
    if mark.count == old.count + len(new_pairs) and mark.id_sum == old.id_sum + sum(r for r, _ in new_pairs):
        if new_pairs or moved:
            pairs = dict(zip(links[0], links[1]))
            pairs.update((r[0], r[1]) for r in rows)
            made = make_links(pairs.items())
            if made is None:
                return False
            delta.links[table] = made
        return True
    # Rows were removed (or added without a stamp): compare every row id, still in SQL order.
    now = conn.execute(f'SELECT rowid, patient_id FROM "{table}"').fetchall()
    delta.rows_read += len(now)
    made = make_links(now)
    if made is None:
        return False
    stamped = {r[0] for r in rows}
    old_ids = set(links[0])
    if any(r not in old_ids and r not in stamped for r in made[0]):
        return False  # an added row without a recent stamp
    still = set(made[0])
    delta.candidates.update(p for r, p in zip(links[0], links[1]) if r not in still)
    delta.links[table] = made
    return True
