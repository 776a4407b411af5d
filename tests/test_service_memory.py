"""What the service keeps in memory: one copy of repeated values in the patients it holds,
and the allocator settings of its process (publisher.service_memory)."""
from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exporter import clinic_db
from exporter import clinic_fields as f
from exporter.clinic_db import read_clinic
from exporter.clinic_delta import ReadState
from publisher import service, service_memory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "clinic.db"
    conn = sqlite3.connect(path)
    clinic_db.create_clinic(conn)
    for pid in (1, 2):
        conn.execute("INSERT INTO patients (id, card, first_name, surname, occupation) "
                     "VALUES (?, ?, 'Layla', 'Haddad', 'Teacher')", (pid, f"C{pid}"))
        # amounts as a clinic program stores them: each row its own value
        conn.execute("INSERT INTO visits (id, patient_id, date, paid) VALUES (?, ?, '2024-01-02', ?)",
                     (pid, pid, 40.0 + pid - pid))
        conn.execute("INSERT INTO deals (id, patient_id, title, total) VALUES (?, ?, 'Implant', 1200.5)",
                     (pid, pid))
    conn.commit()
    conn.close()
    return path


def test_repeated_values_are_kept_once(db):
    one, two = read_clinic(db).patients
    assert one.first_name == two.first_name == "Layla" and one.first_name is two.first_name
    assert one.surname is two.surname and one.other["occupation"] is two.other["occupation"]
    assert one.visits[0].paid == 40.0 and one.visits[0].paid is two.visits[0].paid
    assert one.deals[0].total is two.deals[0].total


def test_a_negative_zero_amount_keeps_its_sign():
    assert math.copysign(1.0, f.amount(f.Sink(), "C1", "visits.paid", 0.0, "visit 1")) == 1.0
    negative = f.amount(f.Sink(), "C1", "visits.paid", -0.0, "visit 1")
    assert negative == 0.0 and math.copysign(1.0, negative) == -1.0  # not the shared 0.0
    assert math.copysign(1.0, f.shared_amount(0.0)) == 1.0


def test_shared_amounts_are_capped(monkeypatch):
    monkeypatch.setattr(f, "_AMOUNTS", {})
    monkeypatch.setattr(f, "_AMOUNTS_CAP", 3)
    for k in range(10):
        assert f.shared_amount(float(k) + 0.5) == k + 0.5
    assert len(f._AMOUNTS) == 3
    late = float("1e300") * 1.0
    assert f.shared_amount(late) is late  # past the cap: the value itself


def test_sharing_keeps_unchanged_patients_the_same_objects(db):
    """The read layer's contract: a patient whose rows did not change is the very object
    the last read returned, whatever is shared inside it."""
    state = ReadState()
    first = {p.id: p for p in read_clinic(db, state).patients}
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE visits SET paid = 41, modified_at = '2030-01-01T00:00:00' WHERE id = 2")
    conn.close()
    second = {p.id: p for p in read_clinic(db, state).patients}
    assert second[1] is first[1] and second[2] is not first[2]
    assert second[2].visits[0].paid == 41.0


# -- the allocator ------------------------------------------------------------------------

HEAPS = textwrap.dedent("""
    import ctypes, os, sys, tempfile, threading
    sys.path.insert(0, {root!r})
    from publisher import service_memory
    if sys.argv[1] == "tuned":
        assert service_memory.tune_allocator()
    ready = threading.Barrier(9)
    def work():
        block = bytearray(100_000)  # a malloc in this thread: glibc gives it an arena
        ready.wait()
        ready.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    ready.wait()
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    path = tempfile.mktemp()
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print(open(path).read().count("<heap nr="))
    os.unlink(path)
    ready.wait()
    for t in threads:
        t.join()
""")


def heaps(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", HEAPS.format(root=str(ROOT)), mode],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(service_memory._glibc() is None, reason="glibc only")
def test_threads_share_two_heaps_once_tuned():
    assert heaps("plain") > service_memory.ARENA_MAX  # what glibc does by default
    assert heaps("tuned") <= service_memory.ARENA_MAX


def test_the_service_tunes_its_allocator_before_any_thread(monkeypatch, tmp_path):
    import threading

    seen = []
    monkeypatch.setattr(service, "tune_allocator", lambda: seen.append(threading.active_count()))
    with pytest.raises(Exception):
        service.run_service(tmp_path / "no home")  # fails at load_home, after the tuning
    assert seen == [threading.active_count()]


def test_elsewhere_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(service_memory.sys, "platform", "darwin")
    assert service_memory.tune_allocator() is False
    service_memory.give_back_memory()  # no C library call, no error


def test_the_read_state_keeps_a_card_as_stored_only_when_it_is_not_the_card(db):
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO patients (id, card, first_name) VALUES (3, ' c 3 ', 'Sami')")
    conn.close()
    state = ReadState()
    first = {p.id: p for p in read_clinic(db, state).patients}
    assert state.patients[1][0] is None and state.patients[3][0] == " c 3 "
    conn = sqlite3.connect(db)
    with conn:  # a read by difference: the unchanged rows are rebuilt from the entries
        conn.execute("UPDATE patients SET surname = 'Nasser', modified_at = '2030-01-01T00:00:00' WHERE id = 1")
    conn.close()
    second = {p.id: p for p in read_clinic(db, state).patients}
    assert state.last == "delta"
    assert second[2] is first[2] and second[3] is first[3] and second[1].surname == "Nasser"
    assert [p.card for p in second.values()] == [p.card for p in first.values()]
