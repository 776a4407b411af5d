"""Read one clinic database file (docs/CLINIC_DB.md) into typed records, read-only.

Bad rows never stop the read: each is reported as a ``records.Problem`` and the rest of the
clinic comes back. Only a file that is not a clinic database at all raises ``ClinicDbError``.
Rows are fetched (exporter.clinic_rows for a full read) and grouped by patient in Python,
inside one read transaction so a clinic program writing at the same time (WAL mode) cannot
give a torn view.
"""
from __future__ import annotations

import gc
import hashlib
import sqlite3
import sys
import time
from contextlib import contextmanager
from operator import attrgetter
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import quote

from . import clinic_fields as f
from .errors import ChartsealError
from .crypto import label
from .normalize import normalize_card
from .records import SKIPPED, Appointment, ClinicData, Deal, Health, Patient, Problem, Visit

Row = tuple[Any, ...]
# One patient's rows as read: (patient row, health rows, deal rows, visit rows, appointment rows)
Raw = tuple[Row, list[Row], list[Row], list[Row], list[Row]]

# Columns the reader knows, per table, in the order they are selected (and hashed).
# The first one of each related table is its row id, the second its patient id.
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("id", "card", "first_name", "surname", "birth_date", "gender", "mobile",
                 "phone", "address", "email", "occupation", "notes", "modified_at"),
    "health": ("rowid", "patient_id", "kind", "name", "detail", "modified_at"),
    "deals": ("id", "patient_id", "title", "total", "deduction", "tax", "paid", "start_date",
              "expired", "modified_at"),
    "visits": ("id", "patient_id", "date", "paid", "action", "notes", "next_date",
               "next_duration_min", "modified_at"),
    "appointments": ("id", "patient_id", "date", "time", "duration_min", "reason",
                     "modified_at"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "patients": ("id", "card"),
    "health": ("patient_id", "kind", "name"),
    "deals": ("id", "patient_id"),
    "visits": ("id", "patient_id", "date"),
    "appointments": ("id", "patient_id", "date"),
}
RELATED = ("health", "deals", "visits", "appointments")
OTHER_FIELDS = ("address", "email", "occupation", "notes")  # -> Patient.other, in this order
HEALTH_KINDS = ("condition", "medication", "allergy")
_DIGEST_LABEL = label("chartseal/v1/patient-digest")
_VISIT_ORDER = attrgetter("date", "id")
_APPOINTMENT_ORDER = attrgetter("date", "time", "id")
_PATIENT_TEXT = tuple((i, c) for i, c in enumerate(COLUMNS["patients"])
                      if c in ("first_name", "surname", "mobile", "phone") + OTHER_FIELDS)
_MODIFIED = COLUMNS["patients"].index("modified_at")


class ClinicDbError(ChartsealError):
    """The file cannot be read as a clinic database at all."""


class ClinicDbBusy(ClinicDbError):
    """The clinic program held its write lock for longer than we wait."""


DEFAULT_BUSY_WAIT = 120.0
_BUSY_STEP = 1.0  # SQLite's own busy wait per try; a progress line between tries


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
    return "locked" in str(exc) or "busy" in str(exc)


def _busy_wait(path: Path, waited: float, limit: float) -> None:
    print(f"waiting: the clinic program is writing to {path} ({waited:.0f} s of {limit:.0f} s)",
          file=sys.stderr, flush=True)


def schema_sql() -> str:
    """The schema of a clinic database file (exporter/schema.sql)."""
    return resources.files("exporter").joinpath("schema.sql").read_text(encoding="utf-8")


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only; SQLite refuses every write on this connection."""
    path = Path(path)
    if not path.is_file():
        raise ClinicDbError(
            f"clinic database {path} does not exist or is not a file",
            "check the path, or make a demo one with `chartseal demo-data PATH`",
        )
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        # autocommit mode: the read transaction is opened explicitly in read_clinic
        return sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise ClinicDbError(f"cannot open clinic database {path}: {exc}",
                            "check the file's permissions") from exc


def columns(conn: sqlite3.Connection, path: Path) -> dict[str, set[str]]:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        found = {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in COLUMNS
                 if t in tables}
    except sqlite3.DatabaseError as exc:
        if _is_busy(exc):
            raise  # the caller waits for the clinic program
        raise ClinicDbError(f"{path} is not a readable SQLite database: {exc}",
                            "point chartseal at the clinic program's database file") from exc
    for table, needed in REQUIRED.items():
        if table not in found:
            raise ClinicDbError(f"{path} has no table '{table}'; it is not a clinic database",
                                "run `chartseal schema` to see the tables chartseal reads")
        missing = [c for c in needed if c not in found[table]]
        if missing:
            raise ClinicDbError(f"table '{table}' in {path} lacks column(s) {', '.join(missing)}",
                                "run `chartseal schema` to see the required columns")
    found["health"].add("rowid")
    return found


def fetch(conn: sqlite3.Connection, table: str, have: set[str], where: str = "1",
          params: Sequence[Any] = ()) -> list[Row]:
    """The rows of ``table`` (those matching ``where``), the known columns in order."""
    cols = ", ".join(f'"{c}"' if c in have else "NULL" for c in COLUMNS[table])
    # by row id only: a plain table scan; grouping by patient in Python keeps this order
    order = COLUMNS[table][0]
    sql = f'SELECT {cols} FROM "{table}" WHERE {where} ORDER BY "{order}"'
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc):
            raise
    # Some text is not UTF-8: refetch this table decoding leniently; the bad values come back
    # as BadText (a str, so digests stay the same) and the cleaners report them.
    conn.text_factory = f.decode_text
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.text_factory = str


def digest(parts: tuple[Row, list[Row], list[Row], list[Row], list[Row]]) -> str:
    """Hash of every column the reader knows, of the patient row and all its related rows."""
    msg = _DIGEST_LABEL + repr(parts).encode("utf-8", "surrogatepass")
    # BLAKE2b-128, byte for byte crypto.hash_(16, msg) (a test checks it); hashlib because
    # this runs once per patient on every read and the digest never leaves the clinic
    return hashlib.blake2b(msg, digest_size=16).hexdigest()


def cards(sink: f.Sink, rows: list[Row], known: Callable[[Row], str | None] | None = None) -> dict[int, str]:
    """Normalized card per usable patient row id; empty and duplicate cards are reported.
    ``known(row)`` is the card as normalized before, when the row's card is unchanged."""
    by_card: dict[str, list[int]] = {}
    seen: set[int] = set()
    for row in rows:
        # Related rows point at the id, and it keys everything kept of the patient: a table
        # made without INTEGER PRIMARY KEY can hold any value, or one value twice.
        if type(row[0]) is not int or row[0] in seen:
            what = "used by another row" if type(row[0]) is int else "not a whole number"
            sink.add(f"row {row[0]!r}", "id", f"patient id {what}; patient skipped", SKIPPED)
            continue
        seen.add(row[0])
        card = known(row) if known is not None else None
        if card is None:
            card = normalize_card(f.text(sink, f"row {row[0]}", "card", row[1]))
        if not card:
            sink.add(f"row {row[0]}", "card", "empty card number; patient skipped", SKIPPED)
            continue
        by_card.setdefault(card, []).append(row[0])
    cards: dict[int, str] = {}
    for card, ids in by_card.items():
        if len(ids) > 1:
            rows_text = ", ".join(str(i) for i in ids)
            sink.add(card, "card", f"card number used by rows {rows_text}; all of them skipped",
                     SKIPPED)
        else:
            cards[ids[0]] = card
    return cards


def _shared(text: str) -> str:
    """One copy of a value that many rows repeat (a procedure, a reason, a time of day): the
    service keeps every patient between reads, and a clinic repeats these thousands of times."""
    return sys.intern(text) if type(text) is str and len(text) <= 64 else text


def _health(sink: f.Sink, who: str, rows: list[Row]) -> tuple[Health, ...]:
    out = []
    for row in rows:
        kind = f.text(sink, who, "health.kind", row[2]).strip().lower()
        if kind not in HEALTH_KINDS:
            sink.add(who, "health.kind", f"{kind!r} is not one of {', '.join(HEALTH_KINDS)}; "
                     "entry skipped")
            continue
        out.append(Health(_shared(kind), _shared(f.text(sink, who, "health.name", row[3])),
                          _shared(f.text(sink, who, "health.detail", row[4]))))
    return tuple(out)


def _deals(sink: f.Sink, who: str, rows: list[Row]) -> tuple[Deal, ...]:
    out = []
    for row in rows:
        skip = f"deal {row[0]}"
        ident = f.row_id(sink, who, "deals.id", row[0], skip)
        sums = [f.amount(sink, who, f"deals.{c}", row[i], skip) for i, c in
                ((3, "total"), (4, "deduction"), (5, "tax"), (6, "paid"))] if ident is not None else [None]
        if None in sums:
            continue
        total, deduction, tax, paid = (s or 0.0 for s in sums)
        out.append(Deal(ident, _shared(f.text(sink, who, "deals.title", row[2])), total, deduction,
                        tax, paid, f.day(sink, who, "deals.start_date", row[7]),
                        f.flag(sink, who, "deals.expired", row[8])))
    return tuple(out)


def _visits(sink: f.Sink, who: str, rows: list[Row]) -> tuple[Visit, ...]:
    out = []
    for row in rows:
        skip = f"visit {row[0]}"
        ident = f.row_id(sink, who, "visits.id", row[0], skip)
        when = f.day(sink, who, "visits.date", row[2], skip) if ident is not None else None
        paid = f.amount(sink, who, "visits.paid", row[3], skip) if when else None
        if when is None or paid is None:
            continue
        out.append(Visit(ident, when, paid, _shared(f.text(sink, who, "visits.action", row[4])),
                         f.text(sink, who, "visits.notes", row[5]),
                         f.day(sink, who, "visits.next_date", row[6]),
                         f.integer(sink, who, "visits.next_duration_min", row[7])))
    out.sort(key=_VISIT_ORDER)
    return tuple(out)


def _appointments(sink: f.Sink, who: str, rows: list[Row]) -> tuple[Appointment, ...]:
    out = []
    for row in rows:
        skip = f"appointment {row[0]}"
        ident = f.row_id(sink, who, "appointments.id", row[0], skip)
        when = f.day(sink, who, "appointments.date", row[2], skip) if ident is not None else None
        if when is None:
            continue
        out.append(Appointment(ident, when, _shared(f.clock(sink, who, "appointments.time", row[3])),
                               f.integer(sink, who, "appointments.duration_min", row[4]),
                               _shared(f.text(sink, who, "appointments.reason", row[5]))))
    out.sort(key=_APPOINTMENT_ORDER)
    return tuple(out)


def _last_change(sink: f.Sink, who: str, row: Row, related: dict[str, list[Row]]) -> str:
    """The latest ``modified_at`` of the patient row and all its related rows, as stored:
    the record's "last update" moves when a visit, deal, health entry or appointment does."""
    best: tuple[str, str] | None = f.stamp(sink, who, "modified_at", row[_MODIFIED])
    for table in RELATED:
        for rel in related[table]:
            if rel[-1] is not None:  # modified_at is every table's last column
                found = f.stamp(sink, who, f"{table}.modified_at", rel[-1])
                if found is not None and (best is None or found[0] > best[0]):
                    best = found
    return best[1] if best else ""


def _patient(sink: f.Sink, row: Row, card: str, related: dict[str, list[Row]], digest: str) -> Patient:
    txt = {c: f.text(sink, card, c, row[i]) for i, c in _PATIENT_TEXT}
    return Patient(
        # names and occupations repeat across a clinic (10,000 demo patients: 1,300 first
        # names, 1,200 surnames): one copy each, see _shared
        id=row[0], card=card, first_name=_shared(txt["first_name"].strip()),
        surname=_shared(txt["surname"].strip()), birth_date=f.day(sink, card, "birth_date", row[4]),
        gender=f.gender(sink, card, "gender", row[5]), mobile=txt["mobile"].strip(),
        phone=txt["phone"].strip(),
        other={k: _shared(txt[k]) if k == "occupation" else txt[k] for k in OTHER_FIELDS if txt[k].strip()},
        modified_at=_last_change(sink, card, row, related),
        health=_health(sink, card, related["health"]),
        deals=_deals(sink, card, related["deals"]),
        visits=_visits(sink, card, related["visits"]),
        appointments=_appointments(sink, card, related["appointments"]),
        digest=digest,
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    # A read allocates a few hundred thousand acyclic objects (rows, records); without this
    # the cyclic collector walks them again and again and costs a fifth of the read.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


Keep = Callable[[int, str, Raw], None]


def read_clinic(path: Path, state: Any = None, keep: Keep | None = None,
                busy_wait: float = DEFAULT_BUSY_WAIT) -> ClinicData:
    """Every usable patient of the clinic database at ``path``, with the problems found.

    ``state`` (an ``exporter.clinic_delta.ReadState``) is what the previous read of this file
    left, in a process that reads it again and again: only the patients with a changed row
    are read whole and built again, the others come back as the last read built them. It is
    updated for the next read. ``keep(row id, digest, rows)`` is called for each patient
    read whole (exporter.last_good keeps the rows of those the export publishes).
    """
    from .clinic_read import read

    with gc_paused():
        return read(Path(path), state, keep, busy_wait)


def build(sink: f.Sink, row: Row, card: str, related: dict[str, list[Row]], digest: str) -> Patient | None:
    """The patient of one row, or None (reported) when building it fails in a way the
    cleaners did not foresee: that one patient is skipped, never the whole read."""
    start = len(sink.problems)
    try:
        return _patient(sink, row, card, related, digest)
    except Exception as exc:  # noqa: BLE001 - any defect of one row must stay with that row
        del sink.problems[start:]
        sink.add(card, "row", f"cannot be read: {type(exc).__name__}: {exc}", SKIPPED)
        return None


def in_snapshot(path: Path, busy_wait: float, work: Callable[[sqlite3.Connection], Any]) -> Any:
    """``work(conn)`` in one read transaction; while the clinic program holds its write lock,
    wait (a progress line each second) up to ``busy_wait`` seconds, then say so. A busy
    database is never reported as a bad one: the hint to point elsewhere or remove it would
    take every patient in it off the site."""
    started = time.monotonic()
    while True:
        conn = connect_readonly(path)
        conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_STEP * 1000)}")
        try:
            conn.execute("BEGIN")  # one snapshot for all tables, even with a writer in WAL mode
            found = work(conn)
            conn.execute("ROLLBACK")
            return found
        except sqlite3.DatabaseError as exc:
            if not _is_busy(exc):
                raise ClinicDbError(f"cannot read clinic database {path}: {exc}",
                                    "check that the file is the clinic program's database") from exc
            waited = time.monotonic() - started
            if waited >= busy_wait:
                raise ClinicDbBusy(f"the clinic program is writing to {path}; try again",
                                   f"waited {waited:.0f} s; run the command again in a moment, or "
                                   "wait longer with: chartseal config set db_busy_wait_seconds N"
                                   ) from exc
            _busy_wait(path, waited, busy_wait)
        finally:
            conn.close()


def patient_from_rows(raw: Raw, digest: str) -> tuple[Patient, list[Problem]]:
    """Build a patient again from rows kept earlier (exporter.last_good), with the digest
    they had then; raises if it fails."""
    sink = f.Sink()
    row = raw[0]
    card = normalize_card(f.text(sink, f"row {row[0]}", "card", row[1]))
    if not card:
        raise ValueError("the kept rows have no card number")
    related = dict(zip(RELATED, (list(r) for r in raw[1:])))
    return _patient(sink, row, card, related, digest), sink.problems


def check_clinic_file(path: Path) -> None:
    """Raise ClinicDbError (with a hint) unless ``path`` is a readable clinic database."""
    conn = connect_readonly(Path(path))
    try:
        columns(conn, Path(path))
    finally:
        conn.close()


def list_patient_ids(path: Path) -> list[int]:
    """Row ids of all patients, cheaply (no related tables, no validation)."""
    conn = connect_readonly(Path(path))
    try:
        columns(conn, Path(path))
        return [r[0] for r in conn.execute("SELECT id FROM patients ORDER BY id")]
    except sqlite3.DatabaseError as exc:
        raise ClinicDbError(f"cannot read clinic database {path}: {exc}",
                            "check that the file is the clinic program's database") from exc
    finally:
        conn.close()


def create_clinic(conn: sqlite3.Connection) -> None:
    """Create the clinic tables in ``conn`` (demo data and tests; never the real clinic)."""
    conn.executescript(schema_sql())
