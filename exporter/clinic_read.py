"""One read of a clinic database: everything, or only what changed (exporter.clinic_delta).

Both ways end in :func:`_assemble`, the one place where rows become patients and problems,
so a read by difference returns exactly what a full read of the same file would.
"""
from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any, Callable

from . import clinic_delta as d
from . import clinic_fields as f
from .clinic_db import RELATED, Keep, Raw, Row, build, cards, columns, digest, fetch, in_snapshot, read_rows
from .records import ClinicData

_EMPTY: list[Row] = []


class _Rows:
    """What one read fetched: patient rows (whole, or ``(id, card)`` for a patient not read
    again) and, per patient read whole, its related rows by table."""

    def __init__(self, patients: list[Row], related: Callable[[Any], dict[str, list[Row]] | None]) -> None:
        self.patients = patients
        self.related = related
        self.links: dict[str, Any] = {}      # a full read's, see clinic_delta.ReadState
        self.unstamped: dict[str, dict[int, int]] = {}


def read(path: Path, state: d.ReadState | None, keep: Keep | None, busy_wait: float) -> ClinicData:
    if state is None:  # a one-off read: everything, nothing kept
        rows = in_snapshot(path, busy_wait, lambda conn: _full(conn, columns(conn, path), False))
        return _assemble(rows, f.Sink(), None, {}, keep)[0]
    ident, began = d.identity(path), d.wall_now()
    rows, sink, found, update = in_snapshot(path, busy_wait, lambda conn: _either(conn, path, state, ident))
    data, entries = _assemble(rows, sink, found, state.patients, keep)
    update(entries)
    state.seen_at = began
    return data


def _full(conn: sqlite3.Connection, have: dict[str, set[str]], keep_state: bool) -> _Rows:
    links: dict[str, Any] = {}
    unstamped: dict[str, dict[int, int]] = {}

    def seen(table: str, rows: list[Row]) -> None:
        unstamped[table] = d.unstamped_hashes(rows)
        if table != "patients":
            links[table] = d.make_links((row[0], row[1]) for row in rows)

    patients, grouped = read_rows(conn, have, seen if keep_state else None)
    # popped: each patient's raw rows are freed as soon as it is built
    out = _Rows(patients, lambda pid: {t: grouped[t].pop(pid, _EMPTY) for t in RELATED})
    out.links, out.unstamped = links, unstamped
    return out


def _either(conn: sqlite3.Connection, path: Path, state: d.ReadState, ident: Any) -> tuple:
    """Inside the read transaction: the rows a read by difference needs, or all of them."""
    have = columns(conn, path)
    schema = conn.execute("PRAGMA schema_version").fetchone()[0]
    why_not = d.eligible(conn, have)
    marks = None
    if not why_not:
        marks, why_not = d.marks(conn)
    why = d.why_full(state, ident, schema, marks, why_not)
    if not why:
        found = _delta(conn, state, have, marks)  # type: ignore[arg-type]
        if isinstance(found, tuple):
            return found
        why = found
    rows = _full(conn, have, True)
    links = rows.links

    def update(entries: dict[int, d.Entry]) -> None:
        eligible = marks is not None and all(v is not None for v in links.values())
        state.marks = marks if eligible else None
        state.links = links if eligible else {}
        state.unstamped = rows.unstamped if eligible else {}
        state.file, state.schema, state.patients = ident, schema, entries
        state.full_at, state.last = state.now(), "full"
        state.why_full = why if eligible else (why_not or "a patient id that is not a whole number")
        state.rows_read = len(rows.patients) + sum(len(v[0]) for v in links.values() if v)

    return rows, f.Sink(), None, update


def _delta(conn: sqlite3.Connection, state: d.ReadState, have: dict[str, set[str]],
           marks: dict[str, d.Mark]) -> tuple | str:
    """The rows of the changed patients, or why everything must be read after all."""
    delta = d.changes(conn, state, lambda c, t, w, p: fetch(c, t, have[t], w, p), marks)
    if delta is None:
        return "a row was added without a recent modified_at"
    # Every patient row, as the last read saw it unless it changed; the card of each decides
    # which are usable (a card can become unique again when another row changed).
    order = {pid: (pid, d.stored_card(e)) for pid, e in state.patients.items() if pid not in delta.deleted}
    order.update(delta.patient_rows)
    sink = f.Sink()
    usable = cards(sink, [order[k] for k in sorted(order)], functools.partial(_known_card, state.patients))
    wanted = {pid for pid in delta.candidates if pid in order}
    wanted |= {pid for pid in usable if state.patients.get(pid, (None, None))[1] is None}
    if len(wanted) > d.MAX_DELTA:
        return f"{len(wanted)} patients changed"
    rows_read = delta.rows_read
    ids = sorted(wanted)
    missing = [pid for pid in ids if pid not in delta.patient_rows]
    for part in _chunks(missing):
        for row in fetch(conn, "patients", have["patients"], f"id IN ({','.join('?' * len(part))})", part):
            order[row[0]] = row
            rows_read += 1
    related: dict[int, dict[str, list[Row]]] = {pid: {t: [] for t in RELATED} for pid in ids}
    for table in RELATED:
        for part in _chunks(ids):
            for row in fetch(conn, table, have[table], f"patient_id IN ({','.join('?' * len(part))})", part):
                related[row[1]][table].append(row)
                rows_read += 1
    rows = _Rows([order[k] for k in sorted(order)], related.get)

    def update(entries: dict[int, d.Entry]) -> None:
        state.marks, state.links, state.patients = marks, delta.links, entries
        state.unstamped = delta.unstamped
        state.last, state.why_full, state.rows_read = "delta", "", rows_read

    return rows, sink, usable, update


def _known_card(entries: dict[int, d.Entry], row: Row) -> str | None:
    """The card the last read normalized for this row, if the row's card is the very same
    plain text (text that was not clean UTF-8 or too long is checked again: it is reported)."""
    entry = entries.get(row[0])
    if entry is None or entry[1] is None or d.stored_card(entry) is not row[1]:
        return None
    return entry[1].card if type(row[1]) is str and len(row[1]) <= 64 else None


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + d.CHUNK] for i in range(0, len(ids), d.CHUNK)]


def _assemble(rows: _Rows, sink: f.Sink, usable: dict[int, str] | None, old: dict[int, d.Entry],
              keep: Keep | None) -> tuple[ClinicData, dict[int, d.Entry]]:
    """Patients, problems and skipped rows, in row id order, exactly as a full read makes
    them; a patient whose rows are as the last read saw them is not built again."""
    if usable is None:
        usable = cards(sink, rows.patients)
    out, skipped, entries = [], [], {}
    taken: set[Any] = set()
    for row in rows.patients:
        pid = row[0]
        card = usable.get(pid)
        if card is None or pid in taken:  # a second row with one id was reported by cards()
            if pid not in taken:
                skipped.append(pid)
                entries[pid] = (row[1], None, ())
            continue
        taken.add(pid)
        related = rows.related(pid)
        prev = old.get(pid)
        if related is None:  # not read again: as the last read built it
            assert prev is not None and prev[1] is not None
            patient, problems = prev[1], prev[2]
            sink.problems += problems
        else:
            raw: Raw = (row, related["health"], related["deals"], related["visits"], related["appointments"])
            hashed = digest(raw)
            if prev is not None and prev[1] is not None and prev[1].digest == hashed and prev[1].card == card:
                patient, problems = prev[1], prev[2]
                sink.problems += problems
            else:
                start = len(sink.problems)
                built = build(sink, row, card, related, hashed)
                if built is None:
                    skipped.append(pid)
                    entries[pid] = (row[1], None, ())
                    continue
                # most patients have none: one shared empty tuple, not a list each
                patient, problems = built, tuple(sink.problems[start:]) or ()
            if keep is not None:
                keep(pid, patient.digest, raw)
        entries[pid] = (d.entry_card(row[1], patient), patient, problems)
        out.append(patient)
    return ClinicData(patients=out, problems=sink.problems, skipped=skipped), entries
