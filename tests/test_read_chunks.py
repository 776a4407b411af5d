"""A full read fetches related rows a chunk of patients at a time where a table has an index
on patient_id (exporter.clinic_rows.read_rows): the patients, problems and read state must be
exactly those of a read that fetches each table whole."""
from __future__ import annotations

import shutil
import sqlite3
from datetime import date

import pytest

from exporter import clinic_rows
from exporter.clinic_db import ClinicDbError, read_clinic
from exporter.clinic_delta import ReadState
from exporter.demo_data import write_demo_clinic

INDEXES = ("health_patient", "deals_patient", "visits_patient", "appointments_patient", "deals_two")


@pytest.fixture
def clinic(tmp_path):
    """A demo clinic with awkward related rows: orphans, a patient id stored as REAL, one as
    text, rows of a patient whose card is a duplicate, and gaps in the patient ids."""
    path = tmp_path / "clinic.sqlite"
    write_demo_clinic(path, patients=120, seed=5, start=date(2026, 3, 1))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM patients WHERE id IN (10, 11, 12, 40)")  # gaps; their rows orphaned
        conn.execute("UPDATE visits SET patient_id = 99999 WHERE id = (SELECT min(id) FROM visits)")
        conn.execute("INSERT INTO visits (patient_id, date, paid, action) VALUES (7.0, '2026-01-02', 5, 'real id')")
        conn.execute("INSERT INTO visits (patient_id, date, paid, action) VALUES ('eight', '2026-01-03', 6, 'text id')")
        conn.execute("INSERT INTO deals (patient_id, title, total) VALUES (7.5, 'between ids', 1)")
        card = conn.execute("SELECT card FROM patients WHERE id = 20").fetchone()[0]
        conn.execute("UPDATE patients SET card = ? WHERE id = 21", (card,))  # 20, 21: duplicates
    conn.close()
    return path


def _whole(tmp_path, path):
    """The same clinic without the patient_id indexes: every table is fetched whole."""
    copy = tmp_path / "whole.sqlite"
    shutil.copy(path, copy)
    conn = sqlite3.connect(copy)
    with conn:
        for name in INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.close()
    return copy


def _ranges(monkeypatch):
    """Record each range query the read makes, by table."""
    seen: list[str] = []
    fetch = clinic_rows.fetch

    def spy(conn, table, have, where="1", params=()):
        if "patient_id" in where:
            seen.append(table)
        return fetch(conn, table, have, where, params)
    monkeypatch.setattr(clinic_rows, "fetch", spy)
    return seen


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_chunked_read_is_the_whole_tables_read(tmp_path, clinic, monkeypatch, chunk):
    monkeypatch.setattr(clinic_rows, "READ_CHUNK", chunk)
    seen = _ranges(monkeypatch)
    chunked = read_clinic(clinic)
    patients = len(chunked.patients) + len(chunked.skipped)
    # every related table went by ranges, one query per chunk of patients at most
    assert set(seen) == {"health", "deals", "visits", "appointments"}
    assert len(seen) <= 4 * (-(-patients // chunk))
    seen.clear()
    whole = read_clinic(_whole(tmp_path, clinic))
    assert seen == []
    assert chunked.patients == whole.patients
    assert [str(p) for p in chunked.problems] == [str(p) for p in whole.problems]
    assert chunked.skipped == whole.skipped
    by_id = {p.id: p for p in chunked.patients}
    assert "real id" in {v.action for v in by_id[7].visits}  # 7.0 is patient 7's, as before
    assert "text id" not in {v.action for p in chunked.patients for v in p.visits}


def test_some_tables_indexed_some_not(tmp_path, clinic, monkeypatch):
    monkeypatch.setattr(clinic_rows, "READ_CHUNK", 9)
    conn = sqlite3.connect(clinic)
    with conn:
        conn.execute("DROP INDEX visits_patient")
        conn.execute("CREATE INDEX visits_partial ON visits(patient_id) WHERE paid > 0")  # not usable
        conn.execute("DROP INDEX deals_patient")
        conn.execute("CREATE INDEX deals_two ON deals(patient_id, id)")  # led by patient_id: usable
    conn.close()
    seen = _ranges(monkeypatch)
    mixed = read_clinic(clinic)
    assert set(seen) == {"health", "deals", "appointments"}
    whole = read_clinic(_whole(tmp_path, clinic))
    assert mixed.patients == whole.patients and mixed.skipped == whole.skipped


def test_service_read_state_is_the_same(tmp_path, clinic, monkeypatch):
    """What a full read leaves for reads by difference (links, unstamped rows) does not
    depend on how the rows were fetched; and an edit then reads by difference."""
    monkeypatch.setattr(clinic_rows, "READ_CHUNK", 5)
    conn = sqlite3.connect(clinic)
    with conn:
        conn.execute("UPDATE visits SET modified_at = NULL WHERE id % 9 = 0")
        conn.execute("UPDATE visits SET patient_id = 7 WHERE patient_id = 7.0")  # all ids whole numbers
        conn.execute("DELETE FROM visits WHERE typeof(patient_id) != 'integer'")
        conn.execute("DELETE FROM deals WHERE typeof(patient_id) != 'integer'")
    conn.close()
    chunked, whole = ReadState(), ReadState()
    a = read_clinic(clinic, chunked)
    b = read_clinic(_whole(tmp_path, clinic), whole)
    assert a.patients == b.patients and chunked.last == whole.last == "full"
    assert chunked.links == whole.links and chunked.unstamped == whole.unstamped
    assert chunked.unstamped["visits"]  # the unstamped rows were found
    conn = sqlite3.connect(clinic)
    with conn:
        conn.execute("UPDATE visits SET paid = paid + 1, modified_at = '2099-01-01T00:00:00' "
                      "WHERE id = (SELECT min(id) FROM visits WHERE patient_id = 30)")
    conn.close()
    again = read_clinic(clinic, chunked)
    assert chunked.last == "delta"
    changed = [p for p, q in zip(again.patients, a.patients) if p is not q]
    assert [p.id for p in changed] == [30]


def test_a_failing_keep_is_not_reported_as_the_clinic_file(clinic):
    """keep() writes chartseal's own state: its error comes out as itself, not as "cannot
    read clinic database", and it is not retried as a busy clinic file would be."""
    calls = []

    def keep(pid, digest, raw):
        calls.append(pid)
        raise sqlite3.OperationalError("database or disk is full")

    for state in (None, ReadState()):
        calls.clear()
        with pytest.raises(sqlite3.OperationalError, match="disk is full") as info:
            read_clinic(clinic, state, keep)
        assert not isinstance(info.value, ClinicDbError) and len(calls) == 1
