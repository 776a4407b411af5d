"""Reading only what changed (exporter.clinic_delta): the same result as a full read, while
fetching only the changed patients' rows; a full read whenever a read by difference could
be wrong, and on a timer."""
from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.clinic_db import read_clinic
from exporter.clinic_delta import ReadState
from exporter.demo_data import write_demo_clinic

PATIENTS = 40


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "clinic.sqlite"
    # Every row stamped, all in the past, as a clinic program that stamps its edits leaves it.
    write_demo_clinic(path, patients=PATIENTS, seed=3, start=date(2026, 11, 20))
    return path


def now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def run(path: Path, *statements: str, params=()) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql in statements:
            conn.execute(sql, params if "?" in sql else ())
    conn.close()


def same_as_full_read(path: Path, state: ReadState):
    data = read_clinic(path, state)
    full = read_clinic(path)
    assert data.patients == full.patients
    assert data.problems == full.problems
    assert data.skipped == full.skipped
    return data


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fresh(path: Path) -> tuple[ReadState, Clock]:
    clock = Clock()
    state = ReadState(clock=clock)
    read_clinic(path, state)
    assert state.last == "full" and state.marks is not None
    return state, clock


def visit_of(path: Path, pid: int) -> int:
    return sqlite3.connect(path).execute("SELECT min(id) FROM visits WHERE patient_id = ?", (pid,)).fetchone()[0]


def test_a_stamped_edit_is_read_without_reading_every_row(db):
    state, _ = fresh(db)
    full_rows = state.rows_read
    assert full_rows > 300
    vid = visit_of(db, 7)
    run(db, f"UPDATE visits SET paid = 977, modified_at = '{now()}' WHERE id = {vid}")
    data = same_as_full_read(db, state)
    assert state.last == "delta"
    assert state.rows_read < 30  # the stamped row, then patient 7's rows only
    assert any(v.paid == 977 for p in data.patients if p.id == 7 for v in p.visits)


def test_unchanged_patients_are_the_same_objects(db):
    state, _ = fresh(db)
    first = {p.id: p for p in read_clinic(db, state).patients}
    run(db, f"UPDATE patients SET address = 'New', modified_at = '{now()}' WHERE id = 5")
    second = {p.id: p for p in read_clinic(db, state).patients}
    assert state.last == "delta"
    assert second[5] is not first[5] and second[5].other["address"] == "New"
    assert all(second[i] is first[i] for i in first if i != 5)


def test_a_deleted_row_is_seen_by_its_row_ids(db):
    state, _ = fresh(db)
    vid = visit_of(db, 9)
    before = {p.id: p for p in read_clinic(db).patients}[9]
    run(db, f"DELETE FROM visits WHERE id = {vid}")
    data = same_as_full_read(db, state)
    assert state.last == "delta"
    after = {p.id: p for p in data.patients}[9]
    assert len(after.visits) == len(before.visits) - 1
    assert state.rows_read < 600  # row ids of one table, not every row of every table


def test_a_deleted_patient_and_an_inserted_patient(db):
    state, _ = fresh(db)
    run(db, "DELETE FROM visits WHERE patient_id = 4", "DELETE FROM appointments WHERE patient_id = 4",
        "DELETE FROM deals WHERE patient_id = 4", "DELETE FROM health WHERE patient_id = 4",
        "DELETE FROM patients WHERE id = 4")
    data = same_as_full_read(db, state)
    assert state.last == "delta" and 4 not in {p.id for p in data.patients}
    stamp = now()
    run(db, f"INSERT INTO patients (id, card, first_name, surname, modified_at) "
            f"VALUES (500, '777001', 'Nour', 'Bek', '{stamp}')",
        f"INSERT INTO visits (patient_id, date, paid, action, modified_at) "
        f"VALUES (500, '2026-11-19', 5, 'Exam', '{stamp}')")
    data = same_as_full_read(db, state)
    assert state.last == "delta"
    (new,) = [p for p in data.patients if p.id == 500]
    assert new.card == "777001" and len(new.visits) == 1


def test_a_row_moved_to_another_patient_changes_both(db):
    state, _ = fresh(db)
    vid = visit_of(db, 3)
    run(db, f"UPDATE visits SET patient_id = 11, modified_at = '{now()}' WHERE id = {vid}")
    same_as_full_read(db, state)
    assert state.last == "delta"


def test_a_card_made_unique_again_brings_the_other_patient_back(db):
    state, _ = fresh(db)
    card2 = sqlite3.connect(db).execute("SELECT card FROM patients WHERE id = 2").fetchone()[0]
    run(db, f"UPDATE patients SET card = ?, modified_at = '{now()}' WHERE id = 1", params=(card2,))
    data = same_as_full_read(db, state)
    assert {1, 2} <= set(data.skipped)
    run(db, f"UPDATE patients SET card = 'X1', modified_at = '{now()}' WHERE id = 1")
    data = same_as_full_read(db, state)
    assert state.last == "delta" and {1, 2} <= {p.id for p in data.patients}


def test_an_unstamped_edit_is_caught_by_the_periodic_full_read(db):
    state, clock = fresh(db)
    vid = visit_of(db, 6)
    run(db, f"UPDATE visits SET paid = 555 WHERE id = {vid}")  # modified_at not moved
    data = read_clinic(db, state)
    assert state.last == "delta"
    assert not any(v.paid == 555 for p in data.patients for v in p.visits)  # not seen yet
    clock.t += state.full_every - 1
    read_clinic(db, state)
    assert state.last == "delta"
    clock.t += 1
    data = same_as_full_read(db, state)
    assert state.last == "full" and state.why_full == "periodic full read"
    assert any(v.paid == 555 for p in data.patients for v in p.visits)


def test_full_read_interval_zero_reads_everything_each_time(db):
    state, _ = fresh(db)
    state.full_every = 0
    read_clinic(db, state)
    assert state.last == "full"


@pytest.mark.parametrize("change, why", [
    ("ALTER TABLE patients ADD COLUMN nickname TEXT", "schema"),
    ("VACUUM", "schema"),
    ("UPDATE visits SET modified_at = x'00' WHERE id = 3", "not text"),
    ("UPDATE visits SET modified_at = 'yesterday' WHERE id = 3", "not a timestamp"),
])
def test_changes_a_read_by_difference_cannot_trust_make_a_full_read(db, change, why):
    state, _ = fresh(db)
    run(db, change)
    same_as_full_read(db, state)
    assert state.last == "full" and why in state.why_full


@pytest.mark.parametrize("change", [
    "UPDATE visits SET modified_at = NULL WHERE id = 3",
    "INSERT INTO visits (patient_id, date, paid) VALUES (3, '2026-11-02', 7)",
    "UPDATE patients SET surname = 'Unstamped' WHERE id = (SELECT min(id) FROM patients WHERE modified_at IS NULL)",
    # stamped at last, with an old time: the since clause does not find it, the hashes do
    "UPDATE visits SET paid = 8, modified_at = '2020-01-01T00:00:00' WHERE patient_id = 5",
])
def test_rows_without_modified_at_are_read_each_time_and_compared(db, change):
    run(db, "UPDATE patients SET modified_at = NULL WHERE id IN (2, 3)",
        "UPDATE visits SET modified_at = NULL WHERE patient_id = 5")
    state, _ = fresh(db)
    read_clinic(db, state)
    assert state.last == "delta" and state.rows_read < 40  # the unstamped rows, unchanged
    run(db, change)
    same_as_full_read(db, state)
    assert state.last == "delta"


def test_a_latest_stamp_that_goes_back_makes_a_full_read(db):
    state, _ = fresh(db)
    top = sqlite3.connect(db).execute("SELECT id FROM visits ORDER BY modified_at DESC LIMIT 1").fetchone()[0]
    run(db, f"UPDATE visits SET paid = 1, modified_at = '2020-01-01T00:00:00' WHERE id = {top}")
    same_as_full_read(db, state)
    assert state.last == "full" and "went back" in state.why_full


def test_a_replaced_file_makes_a_full_read(db, tmp_path):
    state, _ = fresh(db)
    other = tmp_path / "other.sqlite"
    shutil.copy(db, other)
    run(other, "UPDATE visits SET paid = 4242 WHERE id = 1")  # unstamped: only a full read sees it
    os.replace(other, db)
    data = same_as_full_read(db, state)
    assert state.last == "full" and "replaced" in state.why_full
    assert any(v.paid == 4242 for p in data.patients for v in p.visits)


def test_an_unstamped_insert_makes_a_full_read(db):
    state, _ = fresh(db)
    run(db, "INSERT INTO visits (patient_id, date, paid, action, modified_at) "
            "VALUES (8, '2026-11-19', 5, 'Exam', '2020-01-01T00:00:00')")
    same_as_full_read(db, state)
    assert state.last == "full" and "without a recent" in state.why_full


def test_a_database_whose_related_rows_are_unstamped_sees_every_edit(clinic_db):
    state = ReadState()
    read_clinic(clinic_db, state)
    run(clinic_db, "UPDATE visits SET paid = 31 WHERE id = 2")  # the sample's visits carry no stamp
    data = same_as_full_read(clinic_db, state)
    assert state.last == "delta" and any(v.paid == 31 for p in data.patients for v in p.visits)


def test_a_database_without_modified_at_is_always_read_whole(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE patients (id INTEGER PRIMARY KEY, card TEXT NOT NULL, first_name TEXT);
        CREATE TABLE health (patient_id INTEGER, kind TEXT, name TEXT);
        CREATE TABLE deals (id INTEGER PRIMARY KEY, patient_id INTEGER);
        CREATE TABLE visits (id INTEGER PRIMARY KEY, patient_id INTEGER, date TEXT);
        CREATE TABLE appointments (id INTEGER PRIMARY KEY, patient_id INTEGER, date TEXT);
        INSERT INTO patients VALUES (1, 'A', 'Amal');
    """)
    conn.close()
    state = ReadState()
    for _ in range(2):
        read_clinic(path, state)
        assert state.last == "full" and "no modified_at" in state.why_full


# Random edit sequences: after each, the read by difference equals a full read.
EDIT = st.sampled_from(["null_stamp", "update_visit", "move_visit", "delete_visit", "insert_visit", "update_patient",
                        "duplicate_card", "delete_patient", "insert_patient", "update_deal",
                        "delete_health", "bad_date", "unstamped", "empty_card", "unique_card",
                        "shared_card", "bad_card", "integer_card", "insert_duplicate", "reinsert_patient"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(EDIT, st.integers(1, PATIENTS + 5)), min_size=1, max_size=12))
def test_random_edit_sequences_read_as_a_full_read_does(tmp_path_factory, edits):
    path = tmp_path_factory.mktemp("delta") / "clinic.sqlite"
    write_demo_clinic(path, patients=PATIENTS, seed=5, start=date(2026, 11, 20))
    clock = Clock()
    state = ReadState(clock=clock)
    last = read_clinic(path, state)
    unstamped = False
    for kind, n in edits:
        stamp = now()
        vid = visit_of(path, n) or n
        sql = {
            "update_visit": f"UPDATE visits SET paid = {n}, modified_at = '{stamp}' WHERE id = {vid}",
            "move_visit": f"UPDATE visits SET patient_id = {n % PATIENTS + 1}, modified_at = '{stamp}' WHERE id = {vid}",
            "delete_visit": f"DELETE FROM visits WHERE id = {vid}",
            "insert_visit": f"INSERT INTO visits (patient_id, date, paid, modified_at) VALUES ({n}, '2026-11-01', 3, '{stamp}')",
            "update_patient": f"UPDATE patients SET surname = 'S{n}', modified_at = '{stamp}' WHERE id = {n}",
            "duplicate_card": f"UPDATE patients SET card = coalesce((SELECT card FROM patients WHERE id = {n % PATIENTS + 1}), 'D'), "
                              f"modified_at = '{stamp}' WHERE id = {n}",
            "delete_patient": f"DELETE FROM patients WHERE id = {n}",
            "insert_patient": f"INSERT OR IGNORE INTO patients (id, card, first_name, modified_at) "
                              f"VALUES ({n + 1000}, 'N{n}', 'New', '{stamp}')",
            "update_deal": f"UPDATE deals SET paid = {n}, modified_at = '{stamp}' WHERE patient_id = {n}",
            "delete_health": f"DELETE FROM health WHERE patient_id = {n}",
            "bad_date": f"UPDATE visits SET date = '2026-02-30', modified_at = '{stamp}' WHERE id = {vid}",
            "unstamped": f"UPDATE visits SET action = 'U{n}' WHERE id = {vid}",
            "null_stamp": f"UPDATE visits SET action = 'N{n}', modified_at = NULL WHERE id = {vid}",
            # cards: emptied, made unique again, shared by many rows, not clean text
            "empty_card": f"UPDATE patients SET card = ' ', modified_at = '{stamp}' WHERE id = {n}",
            "unique_card": f"UPDATE patients SET card = 'u {n}', modified_at = '{stamp}' WHERE id = {n}",
            "shared_card": f"UPDATE patients SET card = 'Shared', modified_at = '{stamp}' WHERE id = {n}",
            "bad_card": f"UPDATE patients SET card = X'41ff{n:02x}', modified_at = '{stamp}' WHERE id = {n}",
            "integer_card": f"UPDATE patients SET card = {n}, modified_at = '{stamp}' WHERE id = {n}",
            "insert_duplicate": f"INSERT OR IGNORE INTO patients (id, card, surname, modified_at) VALUES "
                                f"({n + 2000}, coalesce((SELECT card FROM patients WHERE id = {n}), 'D'), 'Dup', '{stamp}')",
            "reinsert_patient": f"INSERT OR REPLACE INTO patients (id, card, first_name, modified_at) "
                                f"VALUES ({n}, 'R{n % 3}', 'Again', '{stamp}')",
        }[kind]
        run(path, sql)
        unstamped |= kind == "unstamped"
        if unstamped:  # only the timer's full read is bound to see it
            clock.t += state.full_every
            unstamped = False
        before = {p.id: p for p in last.patients}
        last = same_as_full_read(path, state)
        # a patient the edit did not change is the very object the last read returned
        assert all(p is before[p.id] for p in last.patients if before.get(p.id) == p)


def test_the_service_export_reads_by_difference_and_a_one_off_export_reads_everything(home, clinic_db):
    from exporter.memo import ExportMemo
    from exporter.site import export_site

    memo = ExportMemo()
    export_site(home, memo=memo)
    (state,) = memo.reads.values()
    assert state.last == "full"
    run(clinic_db, f"UPDATE patients SET surname = 'Stamped', modified_at = '{now()}' WHERE id = 1")
    assert export_site(home, memo=memo).sealed > 0
    assert state.last == "delta"
    home.config["full_read_interval"] = 0  # `chartseal config set full_read_interval 0`
    export_site(home, memo=memo)
    assert state.last == "full"
    one_off = ExportMemo(remember=False)
    export_site(home, memo=one_off)
    assert one_off.reads == {}


def test_a_failed_export_makes_the_next_read_a_full_one(home, clinic_db, monkeypatch):
    from exporter import site
    from exporter.memo import ExportMemo

    memo = ExportMemo()
    site.export_site(home, memo=memo)
    assert memo.reads

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(site, "_export_read", broken)
    with pytest.raises(OSError):
        site.export_site(home, memo=memo)
    # The patients read in that export were staged for last_good.sqlite by it alone.
    assert memo.reads == {}
