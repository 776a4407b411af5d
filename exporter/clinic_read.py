"""One read of a clinic database: everything, or only what changed (exporter.clinic_delta).

Both ways end in :func:`_assemble`, the one place where rows become patients and problems,
so a read by difference returns exactly what a full read of the same file would.
"""
from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left
from pathlib import Path
from typing import Any, Callable

from . import clinic_cards as c
from . import clinic_delta as d
from . import clinic_fields as f
from .clinic_db import RELATED, Keep, Raw, Row, build, cards, columns, digest, fetch, in_snapshot
from .clinic_rows import read_rows
from .records import ClinicData



class _Rows:
    """What one read fetched: patient rows (whole, or ``(id, card)`` for a patient not read
    again) and, per patient read whole, its related rows by table."""

    def __init__(self, patients: list[Row], related: Callable[[Any], dict[str, list[Row]] | None]) -> None:
        self.patients = patients
        self.related = related
        self.links: dict[str, Any] = {}      # a full read's, see clinic_delta.ReadState
        self.unstamped: dict[str, dict[int, int]] = {}


def read(path: Path, state: d.ReadState | None, keep: Keep | None, busy_wait: float) -> ClinicData:
    # The patients are built inside the read transaction: a full read fetches their related
    # rows a chunk at a time as it goes (clinic_rows.read_rows).
    keep = _own_errors(keep)
    try:
        if state is None:  # a one-off read: everything, nothing kept
            return in_snapshot(path, busy_wait, lambda conn: _assemble(
                _full(conn, columns(conn, path), False), f.Sink(), None, {}, keep)[0])
        ident, began = d.identity(path), d.wall_now()

        def work(conn: sqlite3.Connection) -> tuple[ClinicData, Callable[[], None]]:
            rows, sink, found, update = _either(conn, path, state, ident)
            if isinstance(found, c.Regroup):
                data, commit = _assemble_changed(rows, found, state, keep)
                return data, lambda: update(commit)
            data, entries = _assemble(rows, sink, found, state.patients, keep)
            return data, lambda: update(data, entries)

        data, update = in_snapshot(path, busy_wait, work)
    except _StateError as exc:
        raise exc.args[0] from None
    update()  # the read state changes only once the read is whole
    return _seen(state, began, data)


class _StateError(Exception):
    """An error of ``keep`` (chartseal's own state), carried out of the clinic file's read
    transaction so it is not reported as the clinic file's."""


def _own_errors(keep: Keep | None) -> Keep | None:
    if keep is None:
        return None

    def call(pid: int, digest: str, raw: Raw) -> None:
        try:
            keep(pid, digest, raw)
        except sqlite3.Error as exc:
            raise _StateError(exc) from exc
    return call


def _seen(state: d.ReadState, began: Any, data: ClinicData) -> ClinicData:
    state.seen_at = began
    return data


def _full(conn: sqlite3.Connection, have: dict[str, set[str]], keep_state: bool) -> _Rows:
    patients, related = read_rows(conn, have)
    out = _Rows(patients, related)
    if keep_state:  # what a read by difference needs, in SQL order without whole rows
        out.unstamped["patients"] = d.unstamped_hashes(patients)
        for table in RELATED:
            out.links[table] = d.table_links(conn, table)
            out.unstamped[table] = d.unstamped_hashes(fetch(conn, table, have[table], "modified_at IS NULL"))
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
    rows = _full(conn, have, marks is not None)
    links = rows.links
    eligible = marks is not None and all(v is not None for v in links.values())
    sink, usable, index = f.Sink(), None, None
    if eligible:  # unique whole-number ids: keep the cards for reads by difference
        usable, index, norm = c.index_cards(sink, rows.patients)

    def update(data: ClinicData, entries: dict[int, d.Entry]) -> None:
        if index is not None:
            c.finish(index, data.patients, data.skipped, entries, norm)
        state.cards = index
        state.marks = marks if eligible else None
        state.links = links if eligible else {}
        state.unstamped = rows.unstamped if eligible else {}
        state.file, state.schema, state.patients = ident, schema, entries
        state.full_at, state.last = state.now(), "full"
        state.why_full = why if eligible else (why_not or "a patient id that is not a whole number")
        state.rows_read = len(rows.patients) + sum(len(v[0]) for v in links.values() if v)

    return rows, sink, usable, update


def _delta(conn: sqlite3.Connection, state: d.ReadState, have: dict[str, set[str]],
           marks: dict[str, d.Mark]) -> tuple | str:
    """The rows of the changed patients, or why everything must be read after all. Python
    work per changed row only: the cards of the others are as the last read left them."""
    if not isinstance(state.cards, c.CardIndex):
        return "no cards kept from the last read"
    delta = d.changes(conn, state, lambda c_, t, w, p: fetch(c_, t, have[t], w, p), marks)
    if delta is None:
        return "a row was added without a recent modified_at"
    known = state.patients
    group = c.Regroup(state.cards, known, delta.patient_rows, delta.deleted)
    wanted = {pid for pid in delta.candidates
              if pid not in delta.deleted and (pid in known or pid in delta.patient_rows)}
    # a usable row without a patient (newly usable, or its building failed) is built again
    wanted |= {pid for pid in group.touched | state.cards.failed
               if group.usable(pid) is not None and known.get(pid, (None, None))[1] is None}
    if len(wanted) > d.MAX_DELTA:
        return f"{len(wanted)} patients changed"
    rows_read = delta.rows_read
    ids = sorted(wanted)
    found = dict(delta.patient_rows)
    missing = [pid for pid in ids if pid not in found]
    for part in _chunks(missing):
        for row in fetch(conn, "patients", have["patients"], f"id IN ({','.join('?' * len(part))})", part):
            found[row[0]] = row
            rows_read += 1
    related: dict[int, dict[str, list[Row]]] = {pid: {t: [] for t in RELATED} for pid in ids}
    for table in RELATED:
        for part in _chunks(ids):
            for row in fetch(conn, table, have[table], f"patient_id IN ({','.join('?' * len(part))})", part):
                related[row[1]][table].append(row)
                rows_read += 1
    rows = _Rows(list(found.values()), related.get)

    def update(commit: Callable[[], None]) -> None:
        commit()
        state.marks, state.links = marks, delta.links
        state.unstamped = delta.unstamped
        state.last, state.why_full, state.rows_read = "delta", "", rows_read

    return rows, f.Sink(), group, update


def _known_entry(prev: d.Entry | None, row: Row, card: str, related: dict[str, list[Row]],
                 keep: Keep | None) -> tuple[Any, tuple]:
    """A row read again: the last read's patient if its rows are the same, else built anew
    (None when building fails), and its problems."""
    raw: Raw = (row, related["health"], related["deals"], related["visits"], related["appointments"])
    hashed = digest(raw)
    if prev is not None and prev[1] is not None and prev[1].digest == hashed and prev[1].card == card:
        patient, problems = prev[1], prev[2]
    else:
        sink = f.Sink()
        patient = build(sink, row, card, related, hashed)
        problems = tuple(sink.problems) or ()
    if patient is not None and keep is not None:
        keep(row[0], patient.digest, raw)
    return patient, problems


def _assemble_changed(rows: _Rows, group: c.Regroup, state: d.ReadState,
                      keep: Keep | None) -> tuple[ClinicData, Callable[[], None]]:
    """What _assemble would make of every row, from the last read's and the changed rows'
    (all sparse but the patients listed, copied whole); ``commit`` keeps it for the next."""
    index, old = group.index, state.patients
    entries: dict[int, d.Entry | None] = {}
    built, skipped, failed = dict(index.built_problems), set(index.skipped), set(index.failed)
    odd, ids, listed = dict(index.odd), array("q", index.ids), list(index.listed)
    by_id = {row[0]: row for row in rows.patients}
    for pid in sorted(group.touched | set(by_id)):
        prev = old.get(pid)
        built.pop(pid, None), skipped.discard(pid), failed.discard(pid), odd.pop(pid, None)
        patient = None
        if pid in group.deleted:
            entries[pid] = None
        else:
            row = by_id.get(pid) or (pid, d.stored_card(prev))  # type: ignore[arg-type]
            card = group.usable(pid)
            related = rows.related(pid)
            if card is None:
                problems: tuple = ()
            elif related is None:  # not read again: as the last read built it
                patient, problems = prev[1], prev[2]  # type: ignore[index]
            else:
                patient, problems = _known_entry(prev, row, card, related, keep)
            if problems:
                built[pid] = problems
            if patient is None:
                skipped.add(pid)
                odd[pid] = group.card(pid)
                if card is not None:
                    failed.add(pid)
            entries[pid] = (row[1] if patient is None else d.entry_card(row[1], patient), patient, problems)
        i = bisect_left(ids, pid)
        if i < len(ids) and ids[i] == pid:
            if patient is None:
                del ids[i], listed[i]
            else:
                listed[i] = patient
        elif patient is not None:
            ids.insert(i, pid)
            listed.insert(i, patient)
    dups, card_problems = group.new_dups(), group.new_card_problems()
    data = ClinicData(patients=list(listed), problems=c.problems_of(card_problems, dups, built),
                      skipped=sorted(skipped))

    def commit() -> None:
        group.apply_owners()
        index.dups, index.card_problems, index.built_problems = dups, card_problems, built
        index.skipped, index.failed, index.odd, index.ids, index.listed = skipped, failed, odd, ids, listed
        for pid, entry in entries.items():
            if entry is None:
                del old[pid]
            else:
                old[pid] = entry

    return data, commit


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
                if built is None:  # its problem kept for clinic_cards.finish
                    skipped.append(pid)
                    entries[pid] = (row[1], None, tuple(sink.problems[start:]))
                    continue
                # most patients have none: one shared empty tuple, not a list each
                patient, problems = built, tuple(sink.problems[start:]) or ()
            if keep is not None:
                keep(pid, patient.digest, raw)
        entries[pid] = (d.entry_card(row[1], patient), patient, problems)
        out.append(patient)
    return ClinicData(patients=out, problems=sink.problems, skipped=skipped), entries
