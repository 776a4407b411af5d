"""An edit costs what it changes (issue 15): in the service only the changed patients are
sealed again and the writer carries the rest of the last plan forward, and what is published
is exactly what an export without the memo publishes."""
from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import timedelta

import pytest

from conftest import files_on_disk, keys, make_clinic_db, plan_map
from exporter import access, plan, render, writer as writer_mod
from exporter.home import Database, load_home
from exporter.memo import ExportMemo
from exporter.site import export_site
from exporter.writer import ObjectWriter
from test_memo import EDITS, TODAY, assert_site_matches_a_fresh_rendering, edit


def _patients(n: int) -> list[dict]:
    rows: list[dict] = []
    for i in range(1, n + 1):
        rows.append(dict(id=i, card=str(2000 + i), first_name=f"Name{i}", surname=f"Sur{i % 7}",
                         birth_date=f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}", gender="MF"[i % 2],
                         modified_at="2026-11-01T10:00:00"))
        rows.append(dict(_table="visits", id=i, patient_id=i, date=f"2026-{1 + i % 11:02d}-1{i % 10}",
                         paid=i, action="Exam"))
        if i % 3 == 0:
            rows.append(dict(_table="appointments", id=i, patient_id=i, date="2026-11-27", time="09:00",
                             duration_min=30, reason="Checkup"))
    return rows


def _cache_rows(home) -> dict:
    conn = home.connect_state()
    try:
        return {r[0]: r[1:] for r in conn.execute("SELECT key, inputs, name, digest, size FROM sealed_cache")}
    finally:
        conn.close()


def _assert_same_as_a_fresh_export(home, tmp_path, result, step) -> None:
    """An export without a memo, on a copy of the home, finds nothing to seal, remove or
    rewrite: every object the memo's export left is the one its inputs call for."""
    copy = tmp_path / f"fresh-{step}"
    shutil.copytree(home.root, copy)
    other = load_home(copy)
    before, cache = plan_map(other), _cache_rows(other)
    fresh = export_site(other, today=home_today[0])
    assert (fresh.sealed, fresh.removed) == (0, 0), step
    assert plan_map(other) == before, step
    assert _cache_rows(other) == cache, step
    assert sorted(map(str, fresh.problems)) == sorted(map(str, result.problems)), step
    on_disk = files_on_disk(other)
    assert on_disk == set(before), step
    for name, obj in before.items():
        assert plan.digest((other.site_dir / name).read_bytes()) == obj.digest, (step, name)
    shutil.rmtree(copy)


home_today = [TODAY]


class _Clinic:
    """Random edits of the clinic database and of the keystore, one at a time."""

    def __init__(self, home, db, rng: random.Random) -> None:
        self.home, self.db, self.rng = home, db, rng
        self.next_id, self.stamp = 1000, 0

    def _sql(self, *statements) -> None:
        conn = sqlite3.connect(self.db)
        with conn:
            for sql, args in statements:
                conn.execute(sql, args)
        conn.close()

    def _ids(self, table: str) -> list[int]:
        conn = sqlite3.connect(self.db)
        try:
            return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
        finally:
            conn.close()

    def _now(self) -> str:
        self.stamp += 1
        return f"2026-11-26T{self.stamp // 60 % 24:02d}:{self.stamp % 60:02d}:00"

    def _month(self) -> str:
        return f"2026-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"

    def step(self) -> str:
        rng = self.rng
        kind = rng.choice(["add patient", "delete patient", "rename", "add visit", "move visit",
                           "delete visit", "appointment", "password", "page", "visibility", "day",
                           "visit paid", "visit paid", "rename"])
        patients, visits = self._ids("patients"), self._ids("visits")
        pid, vid = rng.choice(patients), rng.choice(visits) if visits else None
        if kind == "add patient":
            self.next_id += 1
            n = self.next_id
            self._sql(("INSERT INTO patients (id, card, first_name, surname, modified_at) VALUES (?, ?, ?, ?, ?)",
                       (n, str(5000 + n), f"New{n}", "Added", self._now())),
                      ("INSERT INTO visits (id, patient_id, date, paid, action) VALUES (?, ?, ?, 5, 'Exam')",
                       (n, n, self._month())))
        elif kind == "delete patient" and len(patients) > 3:
            self._sql(*[(f"DELETE FROM {t} WHERE patient_id = ?", (pid,))
                        for t in ("visits", "appointments", "health", "deals")],
                      ("DELETE FROM patients WHERE id = ?", (pid,)))
        elif kind == "rename":
            self._sql(("UPDATE patients SET surname = ?, modified_at = ? WHERE id = ?",
                       (rng.choice(["Aaron", "Zulu", "Moss", "Haddad"]), self._now(), pid)))
        elif kind == "add visit":
            self.next_id += 1
            self._sql(("INSERT INTO visits (id, patient_id, date, paid, action) VALUES (?, ?, ?, 7, 'Scaling')",
                       (self.next_id, pid, self._month())))
        elif kind == "move visit" and vid:
            self._sql(("UPDATE visits SET date = ? WHERE id = ?", (self._month(), vid)))
        elif kind == "delete visit" and vid:
            self._sql(("DELETE FROM visits WHERE id = ?", (vid,)))
        elif kind == "visit paid" and vid:
            self._sql(("UPDATE visits SET paid = paid + 1 WHERE id = ?", (vid,)))
        elif kind == "appointment":
            self.next_id += 1
            day = home_today[0] + timedelta(days=rng.randint(0, 3))
            self._sql(("INSERT INTO appointments (id, patient_id, date, time, duration_min, reason) "
                       "VALUES (?, ?, ?, '11:00', 30, 'Check')", (self.next_id, pid, day.isoformat())))
        elif kind in ("password", "page", "visibility"):
            self._keystore(kind, pid)
        elif kind == "day":
            home_today[0] += timedelta(days=1)
        return kind

    def _card(self, pid: int) -> str:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute("SELECT card FROM patients WHERE id = ?", (pid,)).fetchone()[0]
        finally:
            conn.close()

    def _keystore(self, kind: str, pid: int) -> None:
        card = self._card(pid)
        conn = keys(self.home)
        try:
            if card not in access.known_cards(conn).get("main", set()):
                return  # not exported yet: the keystore does not know it
            if kind == "password":
                access.set_patient_password(conn, card, None, db="main", weak_ok=True)
            elif kind == "page":
                on = conn.execute("SELECT page_enabled FROM patients WHERE card = ?", (card,)).fetchone()[0]
                access.set_patient_page(conn, card, not on, db="main")
            elif conn.execute("SELECT 1 FROM shares WHERE card = ?", (card,)).fetchone():
                access.unshare(conn, "main", "dr.sami", [card], access.known_cards(conn))
            else:
                access.share(conn, "main", "dr.sami", [card])
        finally:
            conn.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_through_the_memo_publish_what_a_fresh_export_does(home, tmp_path, seed, monkeypatch):
    db = make_clinic_db(tmp_path / "many.sqlite", _patients(24))
    home.databases["main"] = Database("main", db)
    home.save()
    home = load_home(home.root)
    conn = keys(home)
    access.create_account(conn, "dr.sami", "sami-password-1", weak_ok=True)
    conn.close()
    home_today[0] = TODAY
    carried = []
    real = ObjectWriter.carry
    monkeypatch.setattr(ObjectWriter, "carry", lambda self, *a: (carried.append(1), real(self, *a))[1])
    memo, clinic = ExportMemo(), _Clinic(home, db, random.Random(seed))
    export_site(home, today=home_today[0], memo=memo)
    for step in range(16):
        what = clinic.step()
        result = export_site(home, today=home_today[0], memo=memo)
        _assert_same_as_a_fresh_export(home, tmp_path, result, f"{step}: {what}")
    assert len(carried) >= 5  # most steps were carried forward, not walked
    assert export_site(home, today=home_today[0]).sealed == 0


def test_a_carried_export_commits_the_plan_a_full_export_does(home, clinic_db, monkeypatch):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    for what in ("visit paid", "new patient", "deleted patient", "renamed to the top of the list"):
        edit(clinic_db, EDITS[what])
        assert export_site(home, today=TODAY, memo=memo).sealed > 0
        assert memo.carry is not None
    carried = plan_map(home)  # names, digests, sizes, kinds, groups and refs
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    computed = []
    real = ObjectWriter.flush
    monkeypatch.setattr(ObjectWriter, "flush", lambda self: (computed.append(dict(self.objects)), real(self))[1])
    full = export_site(home, today=TODAY)  # no memo: every object placed one by one
    assert full.sealed == 0 and computed == [carried] and plan_map(home) == carried


def test_one_edit_walks_one_patient_and_lists_no_folder(home, clinic_db, monkeypatch):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    shown, listed = [], []
    real_today, real_list = render.patient_today, writer_mod._list_files
    monkeypatch.setattr(render, "patient_today", lambda p, d: (shown.append(p.card), real_today(p, d))[1])
    monkeypatch.setattr(writer_mod, "_list_files", lambda root: (listed.append(root), real_list(root))[1])
    edit(clinic_db, EDITS["visit paid"])  # patient 1003
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert set(shown) <= {"1003"} and listed == []
    shown.clear()
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    assert "1003" not in shown and listed == []
    # A new day moves ages and upcoming appointments: every patient is walked, the folder listed.
    assert export_site(home, today=TODAY + timedelta(days=1), memo=memo).sealed >= 0
    assert {"1001", "1002", "1003"} <= set(shown) and len(listed) == 1


def test_one_edit_writes_only_its_rows_of_the_plan_and_cache(home, clinic_db):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    statements: list[str] = []
    real = home.connect_state

    def traced():
        conn = real()
        conn.set_trace_callback(statements.append)
        return conn
    home.connect_state = traced
    edit(clinic_db, EDITS["deal paid"])  # patient 1001: bundle, door, entry, index, diary
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    writes = [s for s in statements if s.startswith(("INSERT OR REPLACE INTO plan", "DELETE FROM plan",
                                                     "INSERT OR REPLACE INTO sealed_cache",
                                                     "DELETE FROM sealed_cache"))]
    # No statement reads the whole plan or cache back, and the rows written are the changed ones.
    assert not [s for s in statements if s.startswith(("SELECT key, inputs", "SELECT name, digest"))]
    assert 0 < len(writes) < 40, writes


def _export_on_a_full_disk(home, memo, monkeypatch, today) -> None:
    """One export with the memo that fails as on a full disk, before its plan is committed."""
    def broken(self):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ObjectWriter, "flush", broken)
    with pytest.raises(OSError):
        export_site(home, today=today, memo=memo)
    monkeypatch.undo()


def test_a_failed_export_leaves_the_next_one_to_walk_and_list(home, clinic_db, monkeypatch):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    edit(clinic_db, EDITS["visit paid"])

    _export_on_a_full_disk(home, memo, monkeypatch, TODAY)
    assert memo.carry is None and memo.state is None  # the carried export took them over
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    before = plan_map(home)
    assert export_site(home, today=TODAY).sealed == 0 and plan_map(home) == before
    assert files_on_disk(home) == set(before)


def test_a_file_the_uploader_drops_is_sealed_again_once_the_memo_relists(home, clinic_db):
    from publisher.errors import SiteObjectError
    from publisher.uploader import read_checked

    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    bundle = next(o for o in plan_map(home).values() if o.kind == plan.IMMUTABLE and o.group not in ("clinic", "app"))
    (home.site_dir / bundle.name).write_bytes(b"damaged")
    with pytest.raises(SiteObjectError):
        read_checked(home.site_dir, bundle)  # drops the damaged file, as an upload does
    assert not (home.site_dir / bundle.name).exists()
    memo.relist()  # what the service does when an upload reports a damaged file
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    before = plan_map(home)
    assert bundle.name not in before and files_on_disk(home) == set(before)
    assert export_site(home, today=TODAY).sealed == 0 and plan_map(home) == before


def test_after_a_failed_walk_the_next_export_still_replays(home, clinic_db, monkeypatch):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    edit(clinic_db, EDITS["visit paid"])

    _export_on_a_full_disk(home, memo, monkeypatch, TODAY + timedelta(days=1))  # a new day: walked
    assert memo.carry is not None and memo.state is None
    calls = []
    real = ObjectWriter.replay_many
    monkeypatch.setattr(ObjectWriter, "replay_many", lambda self, t: (calls.append(len(t)), real(self, t))[1])
    assert export_site(home, today=TODAY + timedelta(days=1), memo=memo).sealed > 0
    assert sum(calls) >= 1  # the unchanged patient (1001) was replayed, not sealed on its own
    before = plan_map(home)
    assert export_site(home, today=TODAY + timedelta(days=1)).sealed == 0 and plan_map(home) == before
