"""The accounts' views kept across exports (exporter/live_views.py): random edits exported
with one memo publish what a fresh export publishes; an edit digests only its months and
shards; idle warm-up renders the days an export kept from the cache (issue 15)."""
from __future__ import annotations

import random
import time
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import WEAK, files_on_disk, keys, make_clinic_db, plan_map, secret, shard_rows
from siteread import Site

from exporter import access, indexes, index_shards, keystore, live_views, render
from exporter.clinic_db import read_clinic
from exporter.home import Database, create_home, load_home
from exporter.indexes import DbView, search_key, sort_key
from exporter.memo import ExportMemo
from exporter.site import export_site
from exporter.site_objects import _templates_version

TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module", autouse=True)
def _shards_of_256_rows():
    """Several shards out of a few hundred patients: writers' shards of 256 rows here."""
    with shard_rows(256):
        yield
DOCTORS = {"dr.all": "all-password-1", "dr.some": "some-password-1", "dr.none": "none-password-1"}


def _day(rng: random.Random) -> str:
    """A day in one of five months around TODAY."""
    return (TODAY + timedelta(days=rng.randrange(-90, 60))).isoformat()


def make_home(tmp_path: Path, n: int, seed: int = 1) -> object:
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        # Some birthdays right after TODAY, so moving the date changes ages shown.
        born = (TODAY + timedelta(days=i % 3)).replace(year=1950 + i % 60).isoformat()
        rows.append(dict(id=i + 1, card=f"{1000 + i}", first_name=f"First{i % 7}", surname=f"Sur{(n - i):05d}",
                         birth_date=born, mobile=f"079{i:07d}", modified_at="2026-11-01T10:00:00"))
    for v in range(2 * n):
        rows.append(dict(_table="visits", id=v + 1, patient_id=rng.randrange(n) + 1, date=_day(rng),
                         paid=rng.randrange(100), action="Check-up", modified_at="2026-11-01T10:00:00"))
    for a in range(n // 2):
        rows.append(dict(_table="appointments", id=a + 1, patient_id=rng.randrange(n) + 1, date=_day(rng),
                         time=f"{9 + a % 8:02d}:30", duration_min=30, reason="Review",
                         modified_at="2026-11-01T10:00:00"))
    db = make_clinic_db(tmp_path / "main.sqlite", rows)
    h = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    for name, password in DOCTORS.items():
        access.create_account(conn, name, password, weak_ok=True)
    access.share(conn, "main", "dr.all", [])
    access.share(conn, "main", "dr.some", [f"{1000 + i}" for i in range(0, n, 5)])
    conn.close()
    h.databases["main"] = Database("main", db)
    h.save()
    return load_home(h.root)


class Editor:
    """Random edits of the clinic database and the keystore, stamped as a clinic program does."""

    def __init__(self, home, rng: random.Random) -> None:
        self.home, self.rng, self.clock, self.today = home, rng, 0, TODAY
        self.db = home.databases["main"].path

    def stamp(self) -> str:
        self.clock += 1
        return f"2026-11-27T{self.clock // 3600:02d}:{self.clock // 60 % 60:02d}:{self.clock % 60:02d}"

    def sql(self, statement: str, args: tuple = ()) -> None:
        conn = sqlite3.connect(self.db)
        with conn:
            conn.execute(statement, args)
        conn.close()

    def one(self, query: str) -> tuple:
        conn = sqlite3.connect(self.db)
        rows = conn.execute(query).fetchall()
        conn.close()
        return self.rng.choice(rows) if rows else None

    KINDS = ["visit moved", "visit added", "visit deleted", "visit paid", "appointment moved", "renamed",
             "card changed", "new patient", "deleted patient", "share given", "share taken", "page off",
             "patient password", "date moves", "nothing"]

    def plan(self, steps: int) -> list[str]:
        """Every kind of edit once, in a random order, then random ones."""
        kinds = self.rng.sample(self.KINDS, len(self.KINDS))
        return kinds + [self.rng.choice(self.KINDS) for _ in range(steps - len(kinds))]

    def step(self, kind: str) -> str:
        getattr(self, "_" + kind.replace(" ", "_"))()
        return kind

    def _visit_moved(self) -> None:
        (vid,) = self.one("SELECT id FROM visits")
        self.sql("UPDATE visits SET date = ?, modified_at = ? WHERE id = ?", (_day(self.rng), self.stamp(), vid))

    def _visit_added(self) -> None:
        (pid,) = self.one("SELECT id FROM patients")
        self.sql("INSERT INTO visits (patient_id, date, paid, action, modified_at) VALUES (?, ?, 7, 'Exam', ?)",
                 (pid, _day(self.rng), self.stamp()))

    def _visit_deleted(self) -> None:
        (vid,) = self.one("SELECT id FROM visits")
        self.sql("DELETE FROM visits WHERE id = ?", (vid,))

    def _visit_paid(self) -> None:
        (vid,) = self.one("SELECT id FROM visits")
        self.sql("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = ?", (self.stamp(), vid))

    def _appointment_moved(self) -> None:
        (aid,) = self.one("SELECT id FROM appointments")
        self.sql("UPDATE appointments SET date = ?, modified_at = ? WHERE id = ?", (_day(self.rng), self.stamp(), aid))

    def _renamed(self) -> None:
        (pid,) = self.one("SELECT id FROM patients")
        self.sql("UPDATE patients SET surname = ?, modified_at = ? WHERE id = ?",
                 (self.rng.choice(["Aaron", "Zubair", "Haddad"]) + str(self.clock), self.stamp(), pid))

    def _card_changed(self) -> None:
        (pid,) = self.one("SELECT id FROM patients")
        self.sql("UPDATE patients SET card = ?, modified_at = ? WHERE id = ?", (f"9{pid:05d}{self.clock}", self.stamp(), pid))

    def _new_patient(self) -> None:
        self.sql("INSERT INTO patients (card, first_name, surname, birth_date, modified_at) "
                 "VALUES (?, 'Nour', ?, '1990-05-05', ?)", (f"7{self.clock:05d}", f"New{self.clock}", self.stamp()))
        (pid,) = self.one("SELECT MAX(id) FROM patients")
        self.sql("INSERT INTO visits (patient_id, date, paid, action, modified_at) VALUES (?, ?, 9, 'Exam', ?)",
                 (pid, _day(self.rng), self.stamp()))

    def _deleted_patient(self) -> None:
        (pid,) = self.one("SELECT id FROM patients")
        for table in ("visits", "appointments"):
            self.sql(f"DELETE FROM {table} WHERE patient_id = ?", (pid,))
        self.sql("DELETE FROM patients WHERE id = ?", (pid,))

    def _keys(self):
        return keys(self.home)

    def _card(self) -> str:
        return self.one("SELECT card FROM patients")[0]

    def _share_given(self) -> None:
        conn = self._keys()
        until = self.today.isoformat() if self.rng.random() < 0.3 else ""  # ends when the date moves
        access.share(conn, "main", self.rng.choice(["dr.some", "dr.none"]), [self._card()], until)
        conn.close()

    def _share_taken(self) -> None:
        conn = self._keys()
        row = conn.execute("SELECT account, card FROM shares WHERE card != '' ORDER BY random() LIMIT 1").fetchone()
        if row:
            access.unshare(conn, "main", row[0], [row[1]], access.known_cards(conn))
        conn.close()

    def _page_off(self) -> None:
        conn = self._keys()
        card = self._card()
        if conn.execute("SELECT 1 FROM patients WHERE card = ?", (card,)).fetchone():
            access.set_patient_page(conn, card, False, "main")
        conn.close()

    def _patient_password(self) -> None:
        conn = self._keys()
        card = self._card()
        if conn.execute("SELECT 1 FROM patients WHERE card = ?", (card,)).fetchone():
            access.set_patient_password(conn, card, None, "main", weak_ok=True)
        conn.close()

    def _date_moves(self) -> None:
        self.today += timedelta(days=1)

    def _nothing(self) -> None:
        pass


def assert_accounts_match_a_fresh_rendering(home, today: date) -> None:
    """Every account's rows and diary months hold what a fresh DbView renders of its cards."""
    patients = read_clinic(home.databases["main"].path).patients
    conn = keys(home)
    rids = {r["card"]: r["rid"] for r in conn.execute("SELECT card, rid FROM patients WHERE db = 'main'")}
    known = {"main": {p.card for p in patients}}
    visible = {name: {c for _, c in access.visible_cards(conn, name, known, today)}
               for name in ("admin", *DOCTORS)}
    conn.close()
    site, login = Site(home.site_dir, home.clinic_id), secret(home, "login_password")
    for name, password in {"admin": secret(home, "admin_password"), **DOCTORS}.items():
        door_id, _, index = site.account(login, name, password)
        shown = [p for p in patients if p.card in visible[name]]
        if not shown:
            assert index["databases"] == [], name
            continue
        (db,) = index["databases"]
        ordered = sorted(shown, key=lambda p: (sort_key(p), rids[p.card]))
        assert [r["card"] for r in db["rows"]] == [p.card for p in ordered], name
        assert [r["html"] for r in db["rows"]] == [render.list_row(p, render.age(p.birth_date, today))
                                                   for p in ordered], name
        assert [r["search"] for r in db["rows"]] == [search_key(p) for p in ordered], name
        view = DbView("main", shown, {p.id: rids[p.card] for p in shown}, today, "en", _templates_version())
        assert sorted(db["diary"]) == sorted(view.month_index), name
        for month in view.month_index:
            assert site.diary(door_id, db, month) == view.month_shard(month), (name, month)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_edits_exported_with_one_memo_publish_what_a_fresh_export_publishes(tmp_path, seed):
    home = make_home(tmp_path, 258, seed)  # 258 rows: deletions cross back to one shard
    memo, editor = ExportMemo(), Editor(home, random.Random(seed))
    export_site(home, today=TODAY, memo=memo)
    kinds: list[str] = []
    for kind in editor.plan(22):
        kinds.append(editor.step(kind))
        result = export_site(home, today=editor.today, memo=memo)
        assert not [p for p in result.problems if p.outcome == "skipped"], kinds
        assert_accounts_match_a_fresh_rendering(home, editor.today)
        before = plan_map(home)
        fresh = export_site(home, today=editor.today)  # no memo: everything computed again
        assert (fresh.sealed, fresh.removed) == (0, 0), kinds
        assert plan_map(home) == before and files_on_disk(home) == set(before)
    assert set(kinds) == set(Editor.KINDS)
    assert export_site(home, today=editor.today).sealed == 0


def counting(monkeypatch) -> tuple[list[str], list[int]]:
    """Record the months digested and the index shards whose inputs are digested."""
    months: list[str] = []
    shards: list[int] = []
    for module in (indexes, live_views, index_shards):
        real = module.input_digest

        def count(*args, real=real):
            if len(args) == 5 and args[0] == "main" and isinstance(args[1], str):
                months.append(args[1])  # (db, month, version, lang, parts)
            elif len(args) == 7 and args[2] == "main" and isinstance(args[3], int):
                shards.append(args[3])  # (door_id, ik, db, shard, version, lang, digests)
            return real(*args)
        monkeypatch.setattr(module, "input_digest", count)
    return months, shards


def test_a_visit_edit_digests_its_months_and_one_shard_per_account(tmp_path, monkeypatch):
    home = make_home(tmp_path, 600)  # 4 shards for admin and dr.all
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    export_site(home, today=TODAY, memo=memo)
    editor = Editor(home, random.Random(5))
    editor.sql("UPDATE visits SET date = '2026-09-03', paid = 3, modified_at = ? WHERE id = 7", (editor.stamp(),))
    months, shards = counting(monkeypatch)
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert 1 <= len(months) <= 2 and "2026-09" in months, months
    seers = 3 if editor.one("SELECT card FROM patients WHERE id = (SELECT patient_id FROM visits "
                            "WHERE id = 7)")[0] in {f"{1000 + i}" for i in range(0, 600, 5)} else 2
    assert len(shards) == seers, shards  # admin, dr.all (and dr.some when shared)
    monkeypatch.undo()
    assert_accounts_match_a_fresh_rendering(home, TODAY)
    assert export_site(home, today=TODAY).sealed == 0


def test_a_no_op_export_digests_no_month_and_no_shard(tmp_path, monkeypatch):
    home = make_home(tmp_path, 300)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    months, shards = counting(monkeypatch)
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    assert (months, shards) == ([], [])


def days_counting(monkeypatch) -> list[date]:
    calls: list[date] = []
    real = render.diary_day_fragment
    monkeypatch.setattr(render, "diary_day_fragment", lambda day, *a, **kw: calls.append(day) or real(day, *a, **kw))
    return calls


def test_idle_warm_up_renders_the_days_of_kept_months_so_an_edit_renders_its_day(tmp_path, monkeypatch):
    home = make_home(tmp_path, 120)
    export_site(home, today=TODAY)  # a one-off export sealed every month
    memo = ExportMemo()  # the service starts: every diary shard is kept from the cache
    calls = days_counting(monkeypatch)
    assert export_site(home, today=TODAY, memo=memo).sealed == 0 and calls == []
    steps = 0
    while live_views.warm_up(memo, budget=0):
        steps += 1
    assert steps > 0 and len(calls) == steps  # a day per step with no time to spare
    assert not live_views.warm_up(memo)  # every day of every view is rendered once
    calls.clear()
    editor = Editor(home, random.Random(3))
    editor.sql("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = 11", (editor.stamp(),))
    (day,) = editor.one("SELECT date FROM visits WHERE id = 11")
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert {d.isoformat() for d in calls} == {day}  # one day, per view that shows it
    assert_accounts_match_a_fresh_rendering(home, TODAY)
    assert export_site(home, today=TODAY).sealed == 0


def test_without_the_warm_up_the_first_edit_renders_its_whole_month(tmp_path, monkeypatch):
    """What the warm-up is for: the test above fails on the days this one renders."""
    home = make_home(tmp_path, 120)
    export_site(home, today=TODAY)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    calls = days_counting(monkeypatch)
    editor = Editor(home, random.Random(3))
    editor.sql("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = 11", (editor.stamp(),))
    export_site(home, today=TODAY, memo=memo)
    assert len(set(calls)) > 1


def test_a_failed_export_leaves_no_view_behind(tmp_path, monkeypatch):
    home = make_home(tmp_path, 50)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    assert memo.views
    editor = Editor(home, random.Random(4))
    editor.sql("UPDATE visits SET paid = 99, modified_at = ? WHERE id = 3", (editor.stamp(),))

    def boom(*_a, **_kw):
        raise OSError("disk full")
    monkeypatch.setattr("exporter.site_objects._general_door", boom)
    with pytest.raises(Exception):
        export_site(home, today=TODAY, memo=memo)
    assert memo.views == {} and not live_views.warm_up(memo)
    monkeypatch.undo()
    export_site(home, today=TODAY, memo=memo)
    assert_accounts_match_a_fresh_rendering(home, TODAY)
    assert export_site(home, today=TODAY).sealed == 0


def test_the_service_renders_days_ahead_while_idle_and_not_while_a_change_waits(tmp_path, monkeypatch):
    from publisher.service import Service

    home = make_home(tmp_path, 60)
    export_site(home, today=TODAY)
    service = Service(home.root)
    service.memo = ExportMemo()
    export_site(home, today=TODAY, memo=service.memo)
    calls = days_counting(monkeypatch)
    service.wake.set()  # a change is pending: the export comes first
    service._warm_up(time.time() + 60)
    assert calls == []
    service.wake.clear()
    service._warm_up(time.time() + 60)
    assert calls and not live_views.warm_up(service.memo)

    def broken(_memo):
        raise KeyError("a bug")
    monkeypatch.setattr(live_views, "warm_up", broken)
    service._warm_up(time.time() + 60)  # logged; the service goes on, the views are let go
    assert service.memo.views == {}


def test_an_export_between_two_warm_up_steps_publishes_what_a_fresh_export_does(tmp_path, monkeypatch):
    home = make_home(tmp_path, 120)
    export_site(home, today=TODAY)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    assert live_views.warm_up(memo, budget=0)  # a month half rendered ahead
    editor = Editor(home, random.Random(6))
    for kind in ("visit moved", "renamed", "visit added"):
        editor.step(kind)
        export_site(home, today=TODAY, memo=memo)
        assert live_views.warm_up(memo, budget=0)
    while live_views.warm_up(memo, budget=0):
        pass
    calls = days_counting(monkeypatch)
    editor.sql("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = 11", (editor.stamp(),))
    export_site(home, today=TODAY, memo=memo)
    assert len(set(calls)) == 1
    assert_accounts_match_a_fresh_rendering(home, TODAY)
    assert export_site(home, today=TODAY).sealed == 0


def test_month_rows_and_digests_match_grouping_every_row(tmp_path):
    """What a kept view holds per patient (its months and their digests, flat) and the rows it
    picks again for one month are what grouping every row gives, across year ends and for
    patients with appointments only or visits only."""
    from exporter.demo_data import write_demo_clinic

    path = tmp_path / "c.sqlite"
    write_demo_clinic(path, patients=150, seed=9, start=date(2026, 1, 3))
    patients = read_clinic(path).patients
    assert any(v.date.month == 12 for p in patients for v in p.visits)
    checked = 0
    for p in patients:
        rid = f"r{p.id}"
        grouped = indexes._months(p, rid, True)
        flat = indexes.month_digests(p, rid)
        assert flat == tuple(x for name, _, _, d in grouped for x in (name, d))
        for name, vs, aps, _ in grouped:
            assert indexes.month_rows(p, name) == (vs, aps)
            checked += 1
        assert indexes.month_rows(p, "1999-12") == ((), ())
    assert checked > 150


def test_a_view_keeps_the_json_of_a_few_shards_rows_only(tmp_path, monkeypatch):
    """Row JSON is kept least recently used first out, up to ENTRIES_KEPT rows: a row
    rendered again after it left is the same text, and the rows of the shard sealed last
    stay."""
    monkeypatch.setattr(live_views, "ENTRIES_KEPT", 5)
    view = live_views.LiveView("main", frozenset(), "en", "v", ExportMemo(), "")
    rendered = []
    monkeypatch.setattr(DbView, "row_entry", lambda self, p, years, rid, bundle, ck, digest:
                        rendered.append(digest) or f"json {digest}")
    for d in "abcdefg":
        assert view.row_entry(None, None, "r", "b", b"k", d) == f"json {d}"
    assert list(view.entries) == list("cdefg") and rendered == list("abcdefg")
    assert view.row_entry(None, None, "r", "b", b"k", "d") == "json d"  # kept: not rendered again
    assert rendered == list("abcdefg") and list(view.entries) == list("cefgd")
    assert view.row_entry(None, None, "r", "b", b"k", "a") == "json a"  # let go: rendered again
    assert rendered[-1] == "a" and list(view.entries) == list("efgda")
