"""The clinic database reader against real SQLite files: mapping, bad input, digests, locking."""
from __future__ import annotations

import hashlib
import sqlite3
from datetime import date

import pytest

from exporter import clinic_db
from exporter.clinic_db import ClinicDbError, read_clinic
from exporter.records import Appointment, Deal, Health, Visit


@pytest.fixture
def db(tmp_path):
    """A fresh clinic database with the schema; returns (path, writable connection)."""
    path = tmp_path / "clinic.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # tests commit after every row; skip the fsyncs
    clinic_db.create_clinic(conn)
    yield path, conn
    conn.close()


def add_patient(conn, pid, card, **cols):
    cols = {"id": pid, "card": card, "first_name": f"First{pid}", "surname": f"Last{pid}", **cols}
    names = ", ".join(cols)
    conn.execute(f"INSERT INTO patients ({names}) VALUES ({', '.join('?' * len(cols))})",
                 list(cols.values()))
    conn.commit()


def insert(conn, table, **cols):
    names = ", ".join(cols)
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})",
                 list(cols.values()))
    conn.commit()


def by_card(data):
    return {p.card: p for p in data.patients}


def problems_of(data, who):
    return [p for p in data.problems if p.patient == who]


# -- mapping -----------------------------------------------------------------------------


def test_full_patient_round_trip(db):
    path, conn = db
    add_patient(conn, 7, " ab 12\t", first_name=" Layla ", surname="Haddad",
                birth_date="1980-05-17", gender="F", mobile="+961 3 123 456", phone="01 222",
                address="Beirut", email="", occupation=None, notes="Anxious patient",
                modified_at="2024-03-01T10:00:00")
    insert(conn, "health", patient_id=7, kind="Allergy", name="Penicillin", detail="rash")
    insert(conn, "health", patient_id=7, kind="medication", name="Metformin", detail=None)
    insert(conn, "deals", id=3, patient_id=7, title="Implant 36", total=1200, deduction=100,
           tax=55.5, paid=400, start_date="2024-01-10", expired=0)
    insert(conn, "visits", id=11, patient_id=7, date="2024-02-02", paid=50, action="Scaling",
           notes="ok", next_date="2024-08-02", next_duration_min=30)
    insert(conn, "visits", id=10, patient_id=7, date="2024-01-10", paid=400.0, action="Implant")
    insert(conn, "appointments", id=5, patient_id=7, date="2024-09-01", time="9:05",
           duration_min=45, reason="Check-up")

    data = read_clinic(path)
    assert data.problems == []
    (p,) = data.patients
    assert (p.id, p.card, p.first_name, p.surname) == (7, "AB12", "Layla", "Haddad")
    assert p.full_name == "Layla Haddad"
    assert p.birth_date == date(1980, 5, 17) and p.gender == "F"
    assert (p.mobile, p.phone) == ("+961 3 123 456", "01 222")
    assert p.other == {"address": "Beirut", "notes": "Anxious patient"}
    assert p.modified_at == "2024-03-01T10:00:00"
    assert p.health == (Health("allergy", "Penicillin", "rash"),
                        Health("medication", "Metformin", ""))
    assert p.deals == (Deal(3, "Implant 36", 1200.0, 100.0, 55.5, 400.0, date(2024, 1, 10),
                            False),)
    assert p.deals[0].remaining == 755.5
    assert p.visits == (Visit(10, date(2024, 1, 10), 400.0, "Implant", "", None, None),
                        Visit(11, date(2024, 2, 2), 50.0, "Scaling", "ok", date(2024, 8, 2), 30))
    assert p.appointments == (Appointment(5, date(2024, 9, 1), "09:05", 45, "Check-up"),)
    assert len(p.digest) == 32 and int(p.digest, 16) >= 0


def test_name_only_patient_and_numbers_as_text(db):
    path, conn = db
    conn.execute("INSERT INTO patients (id, card, first_name, mobile) VALUES (1, 123456, 'Sam', "
                 "96170123456)")
    conn.commit()
    (p,) = read_clinic(path).patients
    assert (p.card, p.first_name, p.surname, p.mobile) == ("123456", "Sam", "", "96170123456")
    assert p.birth_date is None and p.gender == "" and p.other == {}
    assert p.modified_at == "" and p.visits == () and p.deals == ()


def test_list_patient_ids(db):
    path, conn = db
    for pid in (3, 1, 2):
        add_patient(conn, pid, f"C{pid}")
    assert clinic_db.list_patient_ids(path) == [1, 2, 3]


def test_orphan_related_rows_ignored(db):
    path, conn = db
    add_patient(conn, 1, "A")
    insert(conn, "visits", id=1, patient_id=99, date="2024-01-01", paid=10)
    data = read_clinic(path)
    assert [p.card for p in data.patients] == ["A"] and data.patients[0].visits == ()


# -- bad input -----------------------------------------------------------------------------


def test_null_text_reads_as_empty(db):
    path, conn = db
    add_patient(conn, 1, "A", first_name=None, surname=None)
    insert(conn, "visits", id=1, patient_id=1, date="2024-01-01", action=None)
    data = read_clinic(path)
    p = by_card(data)["A"]
    assert (p.first_name, p.surname, p.visits[0].action, p.visits[0].paid) == ("", "", "", 0.0)
    assert data.problems == []


def test_empty_card_skipped_others_kept(db):
    path, conn = db
    add_patient(conn, 1, "  ")
    add_patient(conn, 2, "B")
    data = read_clinic(path)
    assert list(by_card(data)) == ["B"]
    assert [(p.patient, p.field) for p in data.problems] == [("row 1", "card")]


def test_duplicate_cards_both_skipped(db):
    path, conn = db
    add_patient(conn, 1, "x 1")
    add_patient(conn, 2, "B")
    add_patient(conn, 3, "X1")
    data = read_clinic(path)
    assert list(by_card(data)) == ["B"]
    (prob,) = data.problems
    assert (prob.patient, prob.field) == ("X1", "card")
    assert "1, 3" in prob.message and "skipped" in prob.message


@pytest.mark.parametrize("bad", ["2023-02-30", "garbage", "17/05/1980", "2023-13-01", 20230101])
def test_impossible_birth_date_dropped(db, bad):
    path, conn = db
    add_patient(conn, 1, "A", birth_date=bad)
    add_patient(conn, 2, "B", birth_date="2001-02-03")
    data = read_clinic(path)
    assert by_card(data)["A"].birth_date is None
    assert by_card(data)["B"].birth_date == date(2001, 2, 3)
    (prob,) = data.problems
    assert (prob.patient, prob.field) == ("A", "birth_date")
    assert str(bad) in prob.message


def test_bad_related_dates(db):
    path, conn = db
    add_patient(conn, 1, "A")
    insert(conn, "visits", id=1, patient_id=1, date="2023-02-30", paid=10)
    insert(conn, "visits", id=2, patient_id=1, date="2023-02-28", paid=10, next_date="soon")
    insert(conn, "visits", id=3, patient_id=1, date="", paid=10)
    insert(conn, "appointments", id=4, patient_id=1, date="tomorrow")
    insert(conn, "appointments", id=5, patient_id=1, date="2024-05-05", time="25:99")
    insert(conn, "deals", id=6, patient_id=1, total=1, start_date="2024-02-31")
    data = read_clinic(path)
    p = by_card(data)["A"]
    assert [v.id for v in p.visits] == [2] and p.visits[0].next_date is None
    assert [(a.id, a.time) for a in p.appointments] == [(5, "")]
    assert p.deals[0].start_date is None
    fields = sorted(prob.field for prob in problems_of(data, "A"))
    assert fields == ["appointments.date", "appointments.time", "deals.start_date",
                      "visits.date", "visits.date", "visits.next_date"]
    assert any("visit 1 skipped" in prob.message for prob in data.problems)


def test_non_numeric_amounts_skip_the_row(db):
    path, conn = db
    add_patient(conn, 1, "A")
    add_patient(conn, 2, "B")
    insert(conn, "deals", id=1, patient_id=1, title="bad", total="twelve")
    insert(conn, "deals", id=2, patient_id=1, title="ok", total="12.50", paid=2)
    insert(conn, "visits", id=3, patient_id=1, date="2024-01-01", paid="lots")
    insert(conn, "visits", id=4, patient_id=2, date="2024-01-01", paid=5)
    data = read_clinic(path)
    a = by_card(data)["A"]
    assert [(d.id, d.total) for d in a.deals] == [(2, 12.5)] and a.visits == ()
    assert by_card(data)["B"].visits[0].paid == 5.0
    assert sorted(p.field for p in data.problems) == ["deals.total", "visits.paid"]
    assert all(p.patient == "A" for p in data.problems)


def test_other_bad_fields(db):
    path, conn = db
    add_patient(conn, 1, "A", gender="X")
    insert(conn, "health", patient_id=1, kind="surgery", name="Appendix")
    insert(conn, "deals", id=1, patient_id=1, total=1, expired=7)
    insert(conn, "visits", id=2, patient_id=1, date="2024-01-01", next_duration_min="half hour")
    data = read_clinic(path)
    p = by_card(data)["A"]
    assert p.gender == "" and p.health == () and p.deals[0].expired is False
    assert p.visits[0].next_duration_min is None
    assert sorted(x.field for x in data.problems) == [
        "deals.expired", "gender", "health.kind", "visits.next_duration_min"]


def test_huge_text_capped(db):
    path, conn = db
    add_patient(conn, 1, "A", notes="n" * 25_000, surname="S" * 20_000)
    add_patient(conn, 2, "B")
    data = read_clinic(path)
    p = by_card(data)["A"]
    assert p.other["notes"] == "n" * 20_000 and len(p.surname) == 20_000
    (prob,) = data.problems
    assert (prob.patient, prob.field) == ("A", "notes") and "25000" in prob.message
    assert "B" in by_card(data)


def test_non_utf8_bytes_replaced(db):
    path, conn = db
    add_patient(conn, 1, "A")
    add_patient(conn, 2, "B")
    conn.execute("UPDATE patients SET surname = CAST(X'4861FF64' AS TEXT) WHERE id = 1")
    insert(conn, "visits", id=1, patient_id=2, date="2024-01-01", paid=1)
    conn.execute("UPDATE visits SET action = CAST(X'C328' AS TEXT) WHERE id = 1")
    conn.commit()
    data = read_clinic(path)
    assert by_card(data)["A"].surname == "Ha\ufffdd"
    assert by_card(data)["B"].visits[0].action == "\ufffd("
    assert by_card(data)["B"].first_name == "First2"
    assert sorted((p.patient, p.field) for p in data.problems) == [
        ("A", "surname"), ("B", "visits.action")]


def test_unknown_columns_ignored_and_optional_columns_missing(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE patients (id INTEGER PRIMARY KEY, card TEXT, first_name TEXT,
                               shoe_size INTEGER);
        CREATE TABLE health (patient_id INTEGER, kind TEXT, name TEXT);
        CREATE TABLE deals (id INTEGER PRIMARY KEY, patient_id INTEGER, total REAL);
        CREATE TABLE visits (id INTEGER PRIMARY KEY, patient_id INTEGER, date TEXT, colour TEXT);
        CREATE TABLE appointments (id INTEGER PRIMARY KEY, patient_id INTEGER, date TEXT);
        CREATE TABLE unrelated (x);
        INSERT INTO patients VALUES (1, 'A', 'Ann', 44);
        INSERT INTO health VALUES (1, 'condition', 'Asthma');
        INSERT INTO deals VALUES (1, 1, 300);
        INSERT INTO visits VALUES (1, 1, '2024-01-01', 'red');
        INSERT INTO appointments VALUES (1, 1, '2024-02-01');
    """)
    conn.close()
    data = read_clinic(path)
    assert data.problems == []
    (p,) = data.patients
    assert (p.first_name, p.surname, p.mobile) == ("Ann", "", "")
    assert p.health == (Health("condition", "Asthma", ""),)
    assert p.deals == (Deal(1, "", 300.0, 0.0, 0.0, 0.0, None, False),)
    assert p.visits == (Visit(1, date(2024, 1, 1), 0.0, "", "", None, None),)
    assert p.appointments == (Appointment(1, date(2024, 2, 1), "", None, ""),)


# -- files that are not clinic databases ------------------------------------------------------


def _error(path):
    with pytest.raises(ClinicDbError) as info:
        read_clinic(path)
    text = str(info.value)
    assert info.value.hint  # every such error says what to do
    return text


def test_missing_file(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()  # read-only open must not create it


def test_directory_and_not_a_database(tmp_path):
    assert "not a file" in _error(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is a spreadsheet, not a database" * 100)
    assert "not a readable SQLite database" in _error(junk)


def test_missing_table_and_column(tmp_path):
    path = tmp_path / "partial.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE patients (id INTEGER PRIMARY KEY, card TEXT)")
    conn.commit()
    assert "no table 'health'" in _error(path)
    conn.executescript("""
        CREATE TABLE health (patient_id, kind, name); CREATE TABLE deals (id, patient_id);
        CREATE TABLE visits (id, patient_id); CREATE TABLE appointments (id, patient_id, date);
    """)
    conn.close()
    assert "table 'visits'" in _error(path) and "date" in _error(path)


# -- digests ---------------------------------------------------------------------------------


def _two_patients(conn):
    add_patient(conn, 1, "A", modified_at="2024-01-01T00:00:00")
    add_patient(conn, 2, "B")
    insert(conn, "health", id=1, patient_id=1, kind="allergy", name="Latex")
    insert(conn, "deals", id=1, patient_id=1, title="Crown", total=500)
    insert(conn, "visits", id=1, patient_id=1, date="2024-01-01", paid=50, action="Filling")
    insert(conn, "appointments", id=1, patient_id=1, date="2024-06-01", time="10:00")
    insert(conn, "visits", id=2, patient_id=2, date="2024-01-01", paid=50)


def _digests(path):
    return {p.card: p.digest for p in read_clinic(path).patients}


@pytest.mark.parametrize("change", [
    "UPDATE visits SET notes = 'x' WHERE id = 1",
    "UPDATE visits SET paid = 50.01 WHERE id = 1",
    "DELETE FROM deals WHERE id = 1",
    "DELETE FROM appointments WHERE id = 1",
    "UPDATE appointments SET time = '10:30' WHERE id = 1",
    "DELETE FROM health WHERE id = 1",
    "INSERT INTO visits (id, patient_id, date) VALUES (9, 1, '2024-02-02')",
    "UPDATE patients SET mobile = '1' WHERE id = 1",
    "UPDATE patients SET modified_at = '2024-01-02T00:00:00' WHERE id = 1",
])
def test_digest_changes_with_any_related_row(db, change):
    path, conn = db
    _two_patients(conn)
    before = _digests(path)
    assert before == _digests(path)  # stable across reads
    conn.execute(change)
    conn.commit()
    after = _digests(path)
    assert after["A"] != before["A"]
    assert after["B"] == before["B"]


def test_digest_unchanged_by_unrelated_edits(db):
    path, conn = db
    _two_patients(conn)
    before = _digests(path)
    conn.execute("UPDATE visits SET paid = 75 WHERE id = 2")
    conn.execute("INSERT INTO server_notes (patient_id, card, text) VALUES (1, 'A', 'hello')")
    # a non-UTF-8 value elsewhere switches the fetch to bytes; A's digest must not move
    conn.execute("UPDATE patients SET notes = CAST(X'FF' AS TEXT) WHERE id = 2")
    conn.commit()
    after = _digests(path)
    assert after["A"] == before["A"] and after["B"] != before["B"]


def test_digest_is_blake2b_128(db):
    path, conn = db
    add_patient(conn, 1, "A")
    (p,) = read_clinic(path).patients
    row = (1, "A", "First1", "Last1") + (None,) * 9
    msg = b"chartseal/v1/patient-digest\0" + repr((row, [], [], [], [])).encode()
    assert p.digest == hashlib.blake2b(msg, digest_size=16).hexdigest()


# -- read-only and concurrency ---------------------------------------------------------------


def test_readonly_connection_cannot_write(db):
    path, conn = db
    add_patient(conn, 1, "A")
    before = path.read_bytes()
    ro = clinic_db.connect_readonly(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute("INSERT INTO patients (id, card) VALUES (2, 'B')")
    ro.close()
    read_clinic(path)
    assert path.read_bytes() == before


def test_wal_writer_holding_a_transaction(db):
    path, conn = db
    conn.execute("PRAGMA journal_mode=WAL")
    add_patient(conn, 1, "A")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO patients (id, card) VALUES (2, 'B')")
    # the writer holds the write lock with an uncommitted row: the reader sees the snapshot
    assert [p.card for p in read_clinic(path).patients] == ["A"]
    writer.execute("COMMIT")
    assert [p.card for p in read_clinic(path).patients] == ["A", "B"]
    writer.close()


def test_digest_matches_crypto_hash(db):
    from exporter import crypto

    path, conn = db
    add_patient(conn, 1, "A")
    (p,) = read_clinic(path).patients
    row = (1, "A", "First1", "Last1") + (None,) * 9
    msg = crypto.label("chartseal/v1/patient-digest") + repr((row, [], [], [], [])).encode()
    assert p.digest == crypto.hash_(16, msg).hex()


def test_blob_in_a_text_column(db):
    path, conn = db
    add_patient(conn, 1, "A", surname=b"Haddad", notes=b"\xff\xfe")
    data = read_clinic(path)
    p = by_card(data)["A"]
    assert p.surname == "Haddad" and p.other["notes"] == "\ufffd\ufffd"
    assert [(x.patient, x.field) for x in data.problems] == [("A", "notes")]


WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO patients (id, card) VALUES (2, 'B')")
conn.execute("UPDATE patients SET surname = 'Changed' WHERE id = 1")
print("holding", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
print("committed", flush=True)
"""


def test_wal_writer_in_another_process(db):
    import subprocess
    import sys

    path, conn = db
    conn.execute("PRAGMA journal_mode=WAL")
    add_patient(conn, 1, "A")
    conn.close()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        data = read_clinic(path)
        assert [(p.card, p.surname) for p in data.patients] == [("A", "Last1")]
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "committed"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    data = read_clinic(path)
    assert [(p.card, p.surname) for p in data.patients] == [("A", "Changed"), ("B", "")]


def test_wal_database_with_no_open_connection(db):
    path, conn = db
    conn.execute("PRAGMA journal_mode=WAL")
    add_patient(conn, 1, "A")
    conn.close()  # the last close removes -wal and -shm; a read-only open must still work
    assert [p.card for p in read_clinic(path).patients] == ["A"]
    assert clinic_db.list_patient_ids(path) == [1]


@pytest.mark.parametrize("raw, expected", [
    ("2024-01-02T10:00:00", date(2024, 1, 2)),
    ("2024-01-02 10:00", date(2024, 1, 2)),
    (" 2024-01-02 ", date(2024, 1, 2)),
    ("2024-1-2", None),
    ("٢٠٢٤-٠١-٠٢", None),
    ("2024-01-02\n", date(2024, 1, 2)),
    ("2024-01-02x", None),
])
def test_date_forms(db, raw, expected):
    path, conn = db
    add_patient(conn, 1, "A", birth_date=raw)
    data = read_clinic(path)
    assert data.patients[0].birth_date == expected
    assert len(data.problems) == (expected is None)


@pytest.mark.parametrize("raw, expected", [
    ("9:05", "09:05"), ("09:05:30", "09:05"), ("23:59", "23:59"), ("24:00", ""), ("9h", ""),
    ("", ""), (None, ""),
])
def test_time_forms(db, raw, expected):
    path, conn = db
    add_patient(conn, 1, "A")
    insert(conn, "appointments", id=1, patient_id=1, date="2024-01-01", time=raw)
    data = read_clinic(path)
    assert data.patients[0].appointments[0].time == expected
    assert len(data.problems) == (raw not in ("", None) and expected == "")
