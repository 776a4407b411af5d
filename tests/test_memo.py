"""The export memo (what the service keeps between exports) never changes what is exported.

Each test exports with a memo, edits the clinic database, exports again with the same memo,
and checks the site against what is rendered from scratch, then that an export without a
memo finds nothing to do.
"""
from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from conftest import files_on_disk, keys, make_clinic_db, plan_map, secret
from exporter import access, render
from exporter.cache import Entry
from exporter.clinic_db import read_clinic
from exporter.clinic_delta import ReadState
from exporter.home import Database
from exporter.indexes import DbView, search_key, sort_key
from exporter.memo import ExportMemo
from exporter.site import export_site
from exporter.site_objects import _templates_version
from exporter.writer import ObjectWriter, steps
from siteread import Site

TODAY = date(2026, 11, 26)

EDITS = {
    "visit paid": ["UPDATE visits SET paid = 31 WHERE id = 2"],
    "visit added": ["INSERT INTO visits (id, patient_id, date, paid, action) "
                    "VALUES (9, 2, '2026-10-20', 10, 'X-ray')"],
    "appointment moved": ["UPDATE appointments SET date = '2026-12-01' WHERE id = 1"],
    "deal paid": ["UPDATE deals SET paid = 200 WHERE id = 1"],
    "health removed": ["DELETE FROM health"],
    # The sample's patient rows are stamped, so an edit moves the stamp as a clinic program
    # does: the service reads only rows whose modified_at moved (tests/test_clinic_delta.py).
    "renamed to the top of the list": ["UPDATE patients SET surname = 'Aaron', "
                                       "modified_at = '2026-11-26T10:00:00' WHERE id = 3"],
    "birth date (age)": ["UPDATE patients SET birth_date = '2001-01-01', "
                         "modified_at = '2026-11-26T10:01:00' WHERE id = 2"],
    "new patient": ["INSERT INTO patients (id, card, first_name, surname) VALUES (4, '1004', 'Nour', 'Bek')",
                    "INSERT INTO visits (id, patient_id, date, paid, action) "
                    "VALUES (10, 4, '2026-11-26', 5, 'Exam')"],
    "deleted patient": ["DELETE FROM appointments WHERE patient_id = 2",
                        "DELETE FROM patients WHERE id = 2"],
    "impossible date": ["UPDATE visits SET date = '2026-02-30' WHERE id = 1"],
}


def edit(db, statements):
    conn = sqlite3.connect(db)
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


def assert_site_matches_a_fresh_rendering(home, clinic_db):
    """The admin index, every diary shard and every bundle hold what is rendered from scratch."""
    patients = read_clinic(clinic_db).patients
    conn = keys(home)
    rids = {r["card"]: r["rid"] for r in conn.execute("SELECT card, rid FROM patients")}
    conn.close()
    view = DbView("main", patients, {p.id: rids[p.card] for p in patients}, TODAY, "en",
                  _templates_version())
    site = Site(home.site_dir, home.clinic_id)
    door_id, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    (db,) = index["databases"]
    ordered = sorted(patients, key=lambda p: (sort_key(p), rids[p.card]))
    assert [r["card"] for r in db["rows"]] == [p.card for p in ordered]
    assert [r["search"] for r in db["rows"]] == [search_key(p) for p in ordered]
    assert [r["html"] for r in db["rows"]] == [render.list_row(p, render.age(p.birth_date, TODAY)) for p in ordered]
    assert [r["sort"] for r in db["rows"]] == [list(sort_key(p)[:2]) for p in ordered]
    assert sorted(db["diary"]) == sorted(view.month_index)
    for month in view.month_index:
        assert site.diary(door_id, db, month) == view.month_shard(month), month
    general = secret(home, "general_password")
    for p in patients:
        assert site.patient(p.card, general)["html"] == render.patient_fragment(p.patient_view(), TODAY, "en"), p.card


@pytest.mark.parametrize("what", sorted(EDITS))
def test_an_edit_exported_with_the_memo_is_exported_exactly(home, clinic_db, what):
    memo = ExportMemo()
    first = export_site(home, today=TODAY, memo=memo)
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    edit(clinic_db, EDITS[what])
    result = export_site(home, today=TODAY, memo=memo)
    assert result.sealed > 0
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    before = plan_map(home)
    fresh = export_site(home, today=TODAY)  # no memo: everything computed again
    assert fresh.sealed == 0 and fresh.removed == 0
    assert plan_map(home) == before
    assert sorted(map(str, fresh.problems)) == sorted(map(str, result.problems))
    assert len(first.problems) <= len(result.problems) or what != "impossible date"
    assert files_on_disk(home) == set(before)


def test_problems_of_unchanged_patients_are_reported_every_time(home, clinic_db):
    edit(clinic_db, EDITS["impossible date"])
    memo = ExportMemo()
    first = export_site(home, today=TODAY, memo=memo)
    edit(clinic_db, EDITS["deal paid"])  # another patient... and then the same patient
    second = export_site(home, today=TODAY, memo=memo)
    assert [str(p) for p in first.problems] == [str(p) for p in second.problems]
    assert any("visits.date" in str(p) for p in second.problems)


def test_an_export_by_another_process_between_two_is_noticed(home, clinic_db):
    """The memo's copy of the plan is used only while no other export has committed."""
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    edit(clinic_db, EDITS["visit paid"])
    export_site(home, today=TODAY)  # the CLI, without the service's memo
    edit(clinic_db, EDITS["renamed to the top of the list"])
    export_site(home, today=TODAY, memo=memo)
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    before = plan_map(home)
    assert export_site(home, today=TODAY).sealed == 0
    assert plan_map(home) == before
    assert files_on_disk(home) == set(before)


def test_key_rotation_and_new_shares_are_seen_through_the_memo(home, clinic_db):
    memo = ExportMemo()
    conn = keys(home)
    access.create_account(conn, "dr.sami", "sami-password-1", weak_ok=True)
    access.share(conn, "main", "dr.sami", ["1001", "1003"])
    conn.close()
    export_site(home, today=TODAY, memo=memo)
    login = secret(home, "login_password")
    _, _, index = Site(home.site_dir, home.clinic_id).account(login, "dr.sami", "sami-password-1")
    assert sorted(p["card"] for p in index["databases"][0]["rows"]) == ["1001", "1003"]
    conn = keys(home)
    access.unshare(conn, "main", "dr.sami", ["1003"], access.known_cards(conn))  # rotates 1003's content key
    conn.close()
    result = export_site(home, today=TODAY, memo=memo)
    assert result.sealed > 0
    _, _, index = Site(home.site_dir, home.clinic_id).account(login, "dr.sami", "sami-password-1")
    assert [p["card"] for p in index["databases"][0]["rows"]] == ["1001"]
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    assert export_site(home, today=TODAY).sealed == 0


def test_two_databases_with_one_card_keep_reporting_the_collision(home, tmp_path):
    home.databases["zbranch"] = Database("zbranch", make_clinic_db(tmp_path / "branch.sqlite", [
        dict(id=1, card="1001", first_name="Other", surname="Person")]))
    memo = ExportMemo()
    for _ in range(3):
        result = export_site(home, today=TODAY, memo=memo)
        assert any(p.patient == "zbranch/1001" and p.field == "card" for p in result.problems)
    assert "Haddad" in Site(home.site_dir, home.clinic_id).patient("1001", secret(home, "general_password"))["html"]


def test_the_reader_reuses_unchanged_patients_and_rebuilds_changed_ones(clinic_db):
    reuse = ReadState()
    first = {p.card: p for p in read_clinic(clinic_db, reuse).patients}
    edit(clinic_db, EDITS["visit paid"])  # patient 3
    second = {p.card: p for p in read_clinic(clinic_db, reuse).patients}
    assert second["1001"] is first["1001"] and second["1002"] is first["1002"]
    assert second["1003"] is not first["1003"]
    assert second["1003"].digest != first["1003"].digest
    assert second["1003"] == read_clinic(clinic_db).patients[2]
    edit(clinic_db, EDITS["deleted patient"])
    assert sorted(p.card for p in read_clinic(clinic_db, reuse).patients) == ["1001", "1003"]
    assert sorted(reuse.patients) == [1, 3]  # a deleted patient is not kept


def test_replay_is_all_or_nothing(home, tmp_path):
    from exporter.cache import SealedCache

    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "a.bin").write_bytes(b"a")
    conn = home.connect_state()
    cache = SealedCache(conn)
    writer = ObjectWriter(site_dir, cache)
    writer.start_trace()
    writer.sealed_object("k:a", "in-a", "c", lambda: b"A", "g")
    writer.door("c/door/x.json", "in-x", lambda: b"X", "g", ())
    trace = writer.end_trace()
    assert [key for key, _, _ in steps(trace)] == ["k:a", "c/door/x.json"]
    with conn:
        cache.commit()
    # A new export: the same objects are kept by replaying the trace...
    again = ObjectWriter(site_dir, SealedCache(conn))
    assert again.replay(trace) and again.kept == 2 and set(again.objects) == {o.name for _, _, o in steps(trace)}
    # ...but not when one object is gone from the folder, and then nothing is added.
    (site_dir / "c/door/x.json").unlink()
    gone = ObjectWriter(site_dir, SealedCache(conn))
    assert not gone.replay(trace) and gone.objects == {} and gone.kept == 0
    # ...nor when the cache holds other inputs for a key.
    stale = (trace[0], Entry("other", *trace[1][1:]), trace[2])
    assert not ObjectWriter(site_dir, SealedCache(conn)).replay(stale)
    conn.close()


def test_the_memo_keeps_one_exports_worth_of_values():
    memo = ExportMemo()
    rows = memo.table("row")
    assert rows.get("a", lambda: 1) == 1
    assert rows.get("a", lambda: 2) == 1  # computed once per export
    memo.end_export()
    assert memo.table("row").get("a", lambda: 3) == 1  # the previous export's value
    memo.end_export()
    memo.end_export()  # an export that did not ask the table at all keeps it whole
    assert memo.table("row").get("a", lambda: 4) == 1
    memo.end_export()
    memo.table("row").get("b", lambda: 5)
    memo.end_export()  # an export that asked the table but not for "a" drops it
    assert memo.table("row").get("a", lambda: 6) == 6


def test_a_one_off_export_lets_record_details_go_and_still_exports_exactly(home, clinic_db):
    """Without a memo, records are slimmed once sealed; the list and diary must not notice."""
    edit(clinic_db, ["UPDATE visits SET notes = 'a long note', next_date = '2026-12-01' WHERE id = 2"])
    export_site(home, today=TODAY)
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    site = Site(home.site_dir, home.clinic_id)
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    row = next(p for p in index["databases"][0]["rows"] if p["card"] == "1003")
    assert "a long note" in site.open_record(row)["html"]  # a visit note: the doctors' view


def test_a_month_digests_the_same_with_and_without_a_memo(clinic_db):
    """The service keeps each month part's digest; a one-off export computes it when asked."""
    edit(clinic_db, EDITS["visit added"] + EDITS["appointment moved"])
    patients = read_clinic(clinic_db).patients
    rids = {p.id: f"{p.id:032x}" for p in patients}
    kept, computed = (DbView("main", patients, rids, TODAY, "en", "v", ExportMemo(remember))
                      for remember in (True, False))
    assert len(kept.month_index) >= 3
    for month in kept.month_index:
        assert kept.month_digest(month) == computed.month_digest(month), month
    assert len({kept.month_digest(m) for m in kept.month_index}) == len(kept.month_index)


def test_a_database_removed_from_the_home_leaves_the_memo(home, tmp_path):
    home.databases["zbranch"] = Database("zbranch", make_clinic_db(tmp_path / "branch.sqlite", [
        dict(id=1, card="2001", first_name="Other", surname="Person")]))
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    assert len(memo.reads) == 2
    del home.databases["zbranch"]
    export_site(home, today=TODAY, memo=memo)
    assert list(memo.reads) == [str(home.databases["main"].path)]


def test_a_no_op_export_keeps_the_rendered_list_rows(home, clinic_db, monkeypatch):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    assert export_site(home, today=TODAY, memo=memo).sealed == 0  # no index sealed again
    calls = []
    real = render.list_row
    monkeypatch.setattr(render, "list_row", lambda p, years: calls.append(p.card) or real(p, years))
    edit(clinic_db, EDITS["visit paid"])  # patient 3
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert calls == ["1003"]  # the other rows were kept through the no-op export
    assert_site_matches_a_fresh_rendering(home, clinic_db)
