"""A read by difference does Python work for the changed patient rows only (exporter.clinic_cards):
the cards, problems, skipped rows and patients of the others are carried from the last read,
and the result is still exactly a full read's."""
from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager
from datetime import date

import pytest

from exporter import clinic_cards, clinic_db
from exporter.clinic_db import read_clinic
from exporter.clinic_delta import ReadState
from exporter.demo_data import write_demo_clinic

from test_clinic_delta import Clock, now, run, same_as_full_read

PATIENTS = 60


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "clinic.sqlite"
    write_demo_clinic(path, patients=PATIENTS, seed=11, start=date(2026, 11, 20))
    return path


@pytest.fixture
def state(db):
    state = ReadState(clock=Clock())
    read_clinic(db, state)
    assert state.last == "full" and state.cards is not None
    return state


def card(path, pid: int) -> str:
    return sqlite3.connect(path).execute("SELECT card FROM patients WHERE id = ?", (pid,)).fetchone()[0]


@contextmanager
def counting_cards(monkeypatch):
    """The rows whose card a read normalizes; the full read's clinic_db.cards must not run."""
    seen: list[int] = []
    real = clinic_cards.card_of

    def card_of(sink, row):
        seen.append(row[0])
        return real(sink, row)

    def no_full_cards(*args, **kwargs):
        raise AssertionError("a read by difference checked every row's card")

    with monkeypatch.context() as m:
        m.setattr(clinic_cards, "card_of", card_of)
        m.setattr("exporter.clinic_read.cards", no_full_cards)
        m.setattr(clinic_db, "cards", no_full_cards)
        yield seen


def delta_read(path, state, monkeypatch):
    """A read by difference, checked to touch the changed rows' cards only, then compared
    with a full read; the rows whose cards it checked."""
    with counting_cards(monkeypatch) as seen:
        data = read_clinic(path, state)
    full = read_clinic(path)
    assert state.last == "delta"
    assert (data.patients, data.problems, data.skipped) == (full.patients, full.problems, full.skipped)
    return data, seen


def test_a_delta_read_checks_the_cards_of_the_changed_rows_only(db, state, monkeypatch):
    stamp = now()
    run(db, f"UPDATE patients SET surname = 'Changed', modified_at = '{stamp}' WHERE id = 9",
        f"UPDATE visits SET paid = 5, modified_at = '{stamp}' WHERE patient_id = 12")
    _, seen = delta_read(db, state, monkeypatch)
    assert seen == [9]  # patient 12's visit changed, not its card


def test_cards_made_duplicate_empty_bad_and_unique_again_read_by_difference(db, state, monkeypatch):
    steps = [
        (f"UPDATE patients SET card = ?, modified_at = '{now()}' WHERE id IN (3, 30)", card(db, 4)),
        (f"UPDATE patients SET card = ' ', modified_at = '{now()}' WHERE id = 5", None),
        (f"UPDATE patients SET card = ?, modified_at = '{now()}' WHERE id = 6", b"A\xff6"),
        (f"UPDATE patients SET card = 'FRESH 3', modified_at = '{now()}' WHERE id = 3", None),
        (f"DELETE FROM patients WHERE id = 30", None),
        (f"INSERT INTO patients (id, card, surname, modified_at) VALUES (900, ?, 'New', '{now()}')", card(db, 4)),
        (f"UPDATE patients SET card = 'fresh3', modified_at = '{now()}' WHERE id = 4", None),
        (f"UPDATE patients SET card = 'C5', modified_at = '{now()}' WHERE id IN (5, 6)", None),
    ]
    previous = read_clinic(db)
    for sql, param in steps:
        run(db, sql, params=(param,) if param is not None else ())
        data, seen = delta_read(db, state, monkeypatch)
        # rows stamped in the last minutes are fetched again (clinic_delta.LAG), no others
        assert set(seen) <= {3, 4, 5, 6, 30, 900}, sql
        assert data.problems != previous.problems or data.skipped != previous.skipped, sql
        previous = data
    # rows 3 and 4 share 'FRESH3', 900 has 4's old card alone, 5 and 6 share 'C5'
    assert {3, 4, 5, 6} <= set(data.skipped) and 900 not in data.skipped


def test_a_patient_that_fails_to_build_is_read_again_until_it_builds(db, state, monkeypatch):
    real = clinic_db._patient

    def fragile(sink, row, card, related, digest):
        if row[0] == 8:
            raise RuntimeError("unforeseen")
        return real(sink, row, card, related, digest)

    monkeypatch.setattr(clinic_db, "_patient", fragile)
    run(db, f"UPDATE patients SET surname = 'X', modified_at = '{now()}' WHERE id = 8")
    data = same_as_full_read(db, state)
    assert state.last == "delta" and 8 in data.skipped
    assert any("unforeseen" in p.message for p in data.problems)
    run(db, f"UPDATE visits SET paid = 1, modified_at = '{now()}' WHERE patient_id = 20")
    same_as_full_read(db, state)  # 8 stays skipped, its problem in place
    monkeypatch.setattr(clinic_db, "_patient", real)
    run(db, f"UPDATE visits SET paid = 2, modified_at = '{now()}' WHERE patient_id = 21")
    data = same_as_full_read(db, state)
    assert state.last == "delta" and 8 not in data.skipped


def test_what_a_caller_does_to_the_patients_list_does_not_reach_the_next_read(db, state):
    run(db, f"UPDATE patients SET surname = 'Y', modified_at = '{now()}' WHERE id = 2")
    data = read_clinic(db, state)
    data.patients.clear()
    data.skipped.append(12345)
    run(db, f"UPDATE patients SET surname = 'Z', modified_at = '{now()}' WHERE id = 2")
    same_as_full_read(db, state)
    assert state.last == "delta"


def test_a_full_read_without_unique_ids_keeps_no_cards(tmp_path):
    path = tmp_path / "loose.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(re.sub(r"id(\s+)INTEGER PRIMARY KEY", r"id\1INTEGER", clinic_db.schema_sql()))
    conn.execute("INSERT INTO patients (id, card, modified_at) VALUES (1, 'A', '2026-01-01'), (1, 'B', '2026-01-01')")
    conn.commit()
    conn.close()
    state = ReadState()
    data = read_clinic(path, state)
    assert state.cards is None and state.last == "full"
    assert data.problems == read_clinic(path).problems


# Per export, what the service's edit costs outside the read: last_good.sqlite and doors.

def raw(pid: int, surname: str) -> tuple:
    return ((pid, f"C{pid}", "A", surname), [], [], [], [])


def test_staging_a_few_patients_looks_up_their_digests_only(tmp_path):
    from exporter import last_good

    store = last_good.LastGood(tmp_path / "last_good.sqlite")
    for pid in range(1, 301):
        store.stage("main", pid, f"d{pid}", raw(pid, "S"))
    store.commit({"main": range(1, 301)}, [], [])
    store.close()
    store = last_good.LastGood(tmp_path / "last_good.sqlite")
    store.stage("main", 7, "d7", raw(7, "S"))        # as kept: nothing to write
    store.stage("main", 8, "new", raw(8, "T"))       # changed
    store.stage("main", 999, "d999", raw(999, "N"))  # not kept yet
    assert store._digests == {} and store.staged == 2
    for pid in range(1, last_good.LOOKUPS + 1):  # a full read's worth: all digests at once
        store.stage("main", pid, f"d{pid}", raw(pid, "S"))
    assert len(store._digests["main"]) == 300 and store.staged == 2
    store.commit({"main": [*range(1, 301), 999]}, [], [])
    assert store.get("main", 8)[0] == "new" and store.get("main", 999)[0] == "d999"
    assert store.get("main", 7)[0] == "d7"
    store.close()


def test_doors_look_at_the_pages_only_when_a_door_is_missing(home):
    from exporter import doors, keystore
    from exporter.site import export_site

    export_site(home)
    keys = keystore.connect(home.keys_path)
    try:
        class Untouchable:
            def __iter__(self):
                raise AssertionError("the pages were walked though no door is missing")

        assert doors.derive_missing(keys, home.clinic_id, home.kdf, Untouchable()) == 0
        cards = [r[0] for r in keys.execute("SELECT card FROM patients ORDER BY card DESC LIMIT 2")]
        with keys:
            keys.execute("UPDATE patients SET door_id = NULL, door_key = NULL WHERE card IN (?, ?)", cards)
        assert doors.derive_missing(keys, home.clinic_id, home.kdf, [("main", cards[0])]) == 1
        lacking = [r[0] for r in keys.execute("SELECT card FROM patients WHERE door_id IS NULL")]
        assert lacking == [cards[1]]  # a patient without a page gets no door
    finally:
        keys.close()


def test_kept_row_ids_carry_over_between_exports_unless_another_process_wrote(tmp_path):
    from exporter import last_good

    path = tmp_path / "last_good.sqlite"
    store = last_good.LastGood(path)
    for pid in (1, 2, 3):
        store.stage("main", pid, f"d{pid}", raw(pid, "S"))
    store.commit({"main": [1, 2, 3]}, [], [])
    store.close()
    store = last_good.LastGood(path)
    assert store._known == {"main": {1, 2, 3}}  # not read again
    store.stage("main", 4, "d4", raw(4, "S"))
    store.commit({"main": [1, 3, 4]}, [], [("main", 9)])
    store.close()
    assert last_good.LastGood(path).pids("main") == [1, 3, 4]
    other = sqlite3.connect(path)  # another process keeps a row in between
    with other:
        other.execute("INSERT INTO good VALUES ('main', 50, 'd', '[]'), ('old', 1, 'd', '[]')")
    other.close()
    store = last_good.LastGood(path)
    assert store._known is None
    store.commit({"main": [1, 3, 4]}, [], [])  # nothing staged, yet row 50 and 'old' go
    store.close()
    store = last_good.LastGood(path)
    assert store.pids("main") == [1, 3, 4] and store.pids("old") == []
    assert store._known == {"main": {1, 3, 4}}
    store.close()
