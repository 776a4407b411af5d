"""A full read's rows (exporter.clinic_read): every patient row, and each patient's related
rows fetched a range of patients at a time where an index on ``patient_id`` makes that cheap
(docs/CLINIC_DB.md, "How the reader reads")."""
from __future__ import annotations

import sqlite3
from typing import Any, Callable

from .clinic_db import RELATED, Row, fetch

# Patients whose related rows a full read fetches at once, where the table has an index on
# patient_id: a large clinic's rows are never all held together, which left the service's
# heap in fragments (half its arenas empty after a 50,000-patient read).
READ_CHUNK = 1000


def read_rows(conn: sqlite3.Connection, have: dict[str, set[str]]) -> tuple[list[Row], Callable[[Any], dict[str, list[Row]]]]:
    """Every patient row, and ``related(pid)``: that patient's related rows by table. Call
    ``related`` inside the same read transaction, once per patient id, in row order (each
    patient's rows are let go once given)."""
    patients = fetch(conn, "patients", have["patients"])
    ids = [row[0] for row in patients]
    chunked = all(type(i) is int for i in ids) and all(a <= b for a, b in zip(ids, ids[1:]))
    return patients, _Related(conn, have, ids if chunked else None)


class _Related:
    """Related rows by patient, fetched a chunk of patients at a time by a patient_id range
    where an index makes that cheap, else a whole table at once."""

    def __init__(self, conn: sqlite3.Connection, have: dict[str, set[str]], ids: list[int] | None) -> None:
        self.conn, self.have, self.ids = conn, have, ids
        self.whole: dict[str, dict[Any, list[Row]]] = {}
        self.chunked = [t for t in RELATED if ids is not None and _by_patient(conn, t, have[t])]
        self.groups: dict[str, dict[Any, list[Row]]] = {t: {} for t in self.chunked}
        self.high: int | None = None  # the last patient id of the chunk loaded
        self.at = 0  # where the next chunk starts in ``ids``
        for table in RELATED:
            if table not in self.chunked:
                self.whole[table] = _grouped(fetch(conn, table, have[table]))

    def __call__(self, pid: Any) -> dict[str, list[Row]]:
        if self.chunked and (self.high is None or pid > self.high):
            self._load(pid)
        return {t: (self.groups if t in self.groups else self.whole)[t].pop(pid, _NONE) for t in RELATED}

    def _load(self, pid: int) -> None:
        ids = self.ids
        assert ids is not None
        while self.at < len(ids) and ids[self.at] < pid:
            self.at += 1
        low, end = pid, min(self.at + READ_CHUNK, len(ids))
        self.high = high = ids[end - 1] if end > self.at else pid
        self.at = end
        for table in self.chunked:
            self.groups[table] = _grouped(fetch(self.conn, table, self.have[table],
                                                '"patient_id" >= ? AND "patient_id" <= ?', (low, high)))


_NONE: list[Row] = []


def _grouped(rows: list[Row]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = {}
    for row in rows:
        groups.setdefault(row[1], []).append(row)
    return groups


def _by_patient(conn: sqlite3.Connection, table: str, have: set[str]) -> bool:
    """Whether ``table`` has an index led by patient_id (a range of patients is then cheap)."""
    if "patient_id" not in have:
        return False
    for row in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
        name, partial = row[1], row[4] if len(row) > 4 else 0
        if partial:
            continue
        first = conn.execute(f'PRAGMA index_info("{name}")').fetchone()
        if first is not None and isinstance(first[2], str) and first[2].lower() == "patient_id":
            return True
    return False
