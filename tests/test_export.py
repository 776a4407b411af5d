"""The exporter end to end on real SQLite files: open, tamper, incremental, no plaintext."""
from __future__ import annotations

import re
import sqlite3
from datetime import date

import pytest

from conftest import keys, make_clinic_db, plan_map, secret
from exporter import access, crypto, keystore, plan
from exporter.site import export_site
from siteread import NoDoor, Site

TODAY = date(2026, 11, 26)


def export(home):
    return export_site(home, today=TODAY)


def site(home) -> Site:
    return Site(home.site_dir, home.clinic_id)


def test_patient_opens_with_own_and_general_password(home):
    export(home)
    conn = keys(home)
    pw = access.patient_password(conn, "1001")
    conn.close()
    own = site(home).patient("1001", pw)
    general = site(home).patient(" 10 01 ", secret(home, "general_password"))
    assert own["card"] == general["card"] == "1001"
    assert "Haddad" in own["html"] and "Penicillin" in own["html"]
    with pytest.raises(NoDoor):
        site(home).patient("1001", pw + "x")
    with pytest.raises(NoDoor):
        site(home).patient("9999", secret(home, "general_password"))


def test_hostile_name_is_escaped_in_every_view(home):
    export(home)
    record = site(home).patient("1002", secret(home, "general_password"))
    assert "<img src=x" not in record["html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in record["html"]
    _, _, index = site(home).account(secret(home, "login_password"), "admin",
                                     secret(home, "admin_password"))
    for row in index["databases"][0]["rows"]:
        assert "<img src=x" not in row["html"]
    assert any("&lt;img src=x onerror=alert(1)&gt;" in row["html"] for row in index["databases"][0]["rows"])


def test_admin_index_lists_everyone_and_diary_totals(home):
    export(home)
    door_id, payload, index = site(home).account(secret(home, "login_password"), "ADMIN ",
                                                 secret(home, "admin_password"))
    assert payload["user"] == "admin"
    db = index["databases"][0]
    assert sorted(p["card"] for p in db["rows"]) == ["1001", "1002", "1003"]
    assert db["count"] == 3 and [x["n"] for x in db["shards"]] == [3]  # one shard below 257 rows
    day = site(home).diary(door_id, db, "2026-11")["days"]["2026-11-26"]
    assert (day["paid"], day["visits"], day["appointments"]) == (75.5, 2, 1)
    # Every bundle the index names opens with the key it carries.
    for entry in db["rows"]:
        assert site(home).open_record(entry)["rid"] == entry["rid"]


def test_account_sees_only_what_is_shared(home):
    conn = keys(home)
    access.create_account(conn, "dr.omar", "omar-password-1", weak_ok=True)
    access.share(conn, "main", "dr.omar", ["1003"])
    conn.close()
    export(home)
    _, _, index = site(home).account(secret(home, "login_password"), "dr.omar", "omar-password-1")
    assert [p["card"] for p in index["databases"][0]["rows"]] == ["1003"]
    with pytest.raises(NoDoor):
        site(home).account(secret(home, "login_password"), "dr.omar", "wrong")
    with pytest.raises(NoDoor):
        site(home).account("wrong-login", "dr.omar", "omar-password-1")


def test_account_without_password(home):
    conn = keys(home)
    access.create_account(conn, "reception", "", weak_ok=True)
    access.share(conn, "main", "reception", [])
    conn.close()
    export(home)
    _, _, index = site(home).account(secret(home, "login_password"), "reception", "")
    assert len(index["databases"][0]["rows"]) == 3


def test_noop_reexport_seals_nothing(home):
    export(home)
    before = plan_map(home)
    result = export(home)
    assert result.sealed == 0 and result.derived == 0
    assert plan_map(home) == before


def test_one_visit_changes_only_that_patients_objects(home, clinic_db):
    export(home)
    before = plan_map(home)
    conn = sqlite3.connect(clinic_db)
    conn.execute("UPDATE visits SET paid = 30 WHERE patient_id = 3")
    conn.commit()
    conn.close()
    result = export(home)
    after = plan_map(home)
    changed = {n for n in after if n not in before or before[n].digest != after[n].digest}
    rids = {o.group for n, o in after.items() if n in changed and o.group not in ("clinic", "app")}
    kc = keys(home)
    rid3 = kc.execute("SELECT rid FROM patients WHERE card = '1003'").fetchone()[0]
    kc.close()
    assert rids == {rid3}
    # bundle + patient door + general entry + the admin's index shard holding the patient,
    # index root and door + one diary shard, and site.json with the new publish counter
    assert len(changed) == 8, sorted(changed)
    assert result.derived == 0
    door_id, _, index = site(home).account(secret(home, "login_password"), "admin",
                                           secret(home, "admin_password"))
    day = site(home).diary(door_id, index["databases"][0], "2026-11")["days"]["2026-11-26"]
    assert day["paid"] == 80


def test_deleted_patient_leaves_the_plan(home, clinic_db):
    export(home)
    conn = sqlite3.connect(clinic_db)
    conn.execute("DELETE FROM appointments WHERE patient_id = 2")
    conn.execute("DELETE FROM patients WHERE id = 2")
    conn.commit()
    conn.close()
    export(home)
    _, _, index = site(home).account(secret(home, "login_password"), "admin",
                                     secret(home, "admin_password"))
    assert sorted(p["card"] for p in index["databases"][0]["rows"]) == ["1001", "1003"]
    with pytest.raises(NoDoor):
        site(home).patient("1002", secret(home, "general_password"))
    names = set(plan_map(home))
    on_disk = {str(p.relative_to(home.site_dir)) for p in home.site_dir.rglob("*") if p.is_file()}
    assert on_disk == names


def test_unshare_rotates_the_content_key(home):
    conn = keys(home)
    access.create_account(conn, "temp", "temp-password-1", weak_ok=True)
    access.share(conn, "main", "temp", ["1001"])
    conn.close()
    export(home)
    _, _, index = site(home).account(secret(home, "login_password"), "temp", "temp-password-1")
    old = index["databases"][0]["rows"][0]
    conn = keys(home)
    assert access.unshare(conn, "main", "temp", [], access.known_cards(conn)) == 1
    conn.close()
    export(home)
    new = site(home).patient("1001", secret(home, "general_password"))
    with pytest.raises(crypto.CryptoError):
        # The old key cannot open what is published now.
        site(home).open_record({**old, "bundle": _bundle_of(home, "1001")})
    assert new["card"] == "1001"
    # The account still exists but sees nothing now.
    _, _, index = site(home).account(secret(home, "login_password"), "temp", "temp-password-1")
    assert index["databases"] == []


def _bundle_of(home, card):
    _, _, index = site(home).account(secret(home, "login_password"), "admin",
                                     secret(home, "admin_password"))
    return next(p["bundle"] for p in index["databases"][0]["rows"] if p["card"] == card)


@pytest.mark.parametrize("until", ["2026-11-25", "2026-11-01"])
def test_expired_share_is_revoked_on_next_export(home, until):
    export(home)  # the record has keys before the share ends
    conn = keys(home)
    access.create_account(conn, "visitor", "visitor-pass-1", weak_ok=True)
    access.share(conn, "main", "visitor", ["1003"], until=until)
    conn.close()
    result = export(home)
    assert result.rotated == 1
    conn = keys(home)
    assert access.list_shares(conn) == []
    conn.close()


def test_patient_password_change_derives_one_door(home):
    export(home)
    conn = keys(home)
    new = access.set_patient_password(conn, "1001", "a-much-better-password", weak_ok=True)
    conn.close()
    result = export(home)
    assert result.derived == 1
    assert site(home).patient("1001", new)["card"] == "1001"


def test_general_password_change_needs_one_derivation(home):
    export(home)
    old = secret(home, "general_password")
    conn = keys(home)
    old_entry = crypto.entry_id(keystore.get_secret(conn, "lk"), "1003")
    access.set_clinic_password(conn, "general", "new-general-password", weak_ok=True)
    # The old entry is remembered, so notes written through it can still be attributed.
    assert conn.execute("SELECT kind FROM retired_doors WHERE door_id = ?",
                        (old_entry,)).fetchone()[0] == "general"
    conn.close()
    result = export(home)
    assert result.derived == 1
    assert site(home).patient("1003", "new-general-password")["card"] == "1003"
    with pytest.raises(NoDoor):
        site(home).patient("1003", old)


def test_tampered_and_moved_objects_are_refused(home):
    export(home)
    s = site(home)
    # Patient 3 has no clinic notes: the patient page opens the doctors' bundle (FORMAT.md 6.1).
    b1, b3 = _bundle_of(home, "1001"), _bundle_of(home, "1003")
    path = home.site_dir / f"c/{home.clinic_id}/{b3}"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(crypto.CryptoError):
        s.patient("1003", secret(home, "general_password"))
    # Patient 1's bundle put in patient 3's place fails: rid and key are bound.
    path.write_bytes((home.site_dir / f"c/{home.clinic_id}/{b1}").read_bytes())
    with pytest.raises(crypto.CryptoError):
        s.patient("1003", secret(home, "general_password"))


def test_no_plaintext_in_the_published_tree(home):
    conn = keys(home)
    access.create_account(conn, "dr.secretname", "pw-of-dr-secret", weak_ok=True)
    access.share(conn, "main", "dr.secretname", [])
    pwds = [r[0] for r in conn.execute("SELECT password FROM patients")]
    conn.close()
    export(home)
    needles = ["Amal", "Haddad", "0791234567", "065551234", "Rainbow", "Penicillin", "Filling",
               "سامي", "الخطيب", "1001", "1002", "1003", "dr.secretname", "pw-of-dr-secret",
               "src=x onerror", secret(home, "login_password"), secret(home, "admin_password"),
               secret(home, "general_password"), *pwds]
    for path in home.site_dir.rglob("*"):
        if not path.is_file():
            continue
        # The clinic ID (10 random digits) is public and names are hex digests: a short
        # card number like "1001" can turn up inside either by chance, not by a leak.
        data = path.read_bytes().replace(home.clinic_id.encode(), b"")
        name = str(path.relative_to(home.site_dir))
        hashed = re.sub(r"[0-9a-f]{32}", "", name.replace(home.clinic_id, ""))
        for needle in needles:
            raw = needle.encode()
            if raw in (b"1001", b"1002", b"1003") and path.suffix in (".js", ".css", ".svg", ".html"):
                continue  # digits occur in code; records never go there
            if raw in (b"1001", b"1002", b"1003") and path.suffix == ".bin":
                continue  # 4 digits occur by chance in ciphertext; FORMAT.md 6 seals them
            assert raw not in data, f"{needle!r} found in {name}"
            assert needle not in hashed


def test_duplicate_cards_are_reported_and_the_rest_exported(tmp_path, home):
    rows = [
        dict(id=1, card="77", first_name="A", surname="One"),
        dict(id=2, card="77", first_name="B", surname="Two"),
        dict(id=3, card="78", first_name="C", surname="Three", birth_date="2023-02-30"),
    ]
    db = make_clinic_db(tmp_path / "dups.sqlite", rows)
    home.databases["main"].path = db
    result = export(home)
    text = " ".join(str(p) for p in result.problems)
    assert "77" in text and "birth" in text
    assert site(home).patient("78", secret(home, "general_password"))["card"] == "78"


def test_missing_database_is_reported_and_keeps_what_was_published(home, clinic_db):
    export(home)
    before = plan_map(home)
    clinic_db.rename(clinic_db.with_suffix(".moved"))
    result = export(home)
    (problem,) = result.problems
    assert problem.db == "main" and problem.field == "database" and problem.outcome == "kept"
    assert "does not exist" in problem.message and "3 patients stay" in problem.message
    assert plan_map(home) == before  # every object kept as it was: nothing to upload


def test_auto_export_keeps_a_switched_off_database_as_last_published(home, clinic_db):
    home.databases["main"].auto_update = False
    home.save()
    export(home)  # manual: snapshots the database
    conn = sqlite3.connect(clinic_db)
    conn.execute("UPDATE patients SET surname = 'Changed' WHERE id = 1")
    conn.commit()
    conn.close()
    export_site(home, today=TODAY, auto=True)
    assert "Haddad" in site(home).patient("1001", secret(home, "general_password"))["html"]
    export(home)  # a manual export publishes it
    assert "Changed" in site(home).patient("1001", secret(home, "general_password"))["html"]


def test_a_change_the_diary_does_not_show_reseals_no_diary_shard(home, clinic_db):
    export(home)
    before = plan_map(home)
    conn = sqlite3.connect(clinic_db)
    conn.execute("UPDATE patients SET phone = '060000000' WHERE id = 1")  # 1001 has visits
    conn.commit()
    conn.close()
    result = export(home)
    after = plan_map(home)
    changed = {n for n in after if n not in before or before[n].digest != after[n].digest}
    # both bundles (1001 has a visit note: the patient's view is its own bundle, FORMAT.md
    # 6.1), patient door, entry, index shard, index root, account door, site.json: the diary
    # month is kept.
    assert len(changed) == 8, sorted(changed)
    assert result.sealed == 8  # site.json is written too
    assert export(home).sealed == 0  # and the next export needs nothing at all


def test_one_card_in_two_databases(home, tmp_path):
    """The patient page finds a record by card alone: the first database keeps the card."""
    from exporter.home import Database

    home.databases["zbranch"] = Database("zbranch", make_clinic_db(tmp_path / "branch.sqlite", [
        dict(id=1, card="1001", first_name="Other", surname="Person")]))
    result = export(home)
    assert any(p.patient == "zbranch/1001" and p.field == "card" for p in result.problems)
    assert "Haddad" in site(home).patient("1001", secret(home, "general_password"))["html"]
    # Every file the plan names holds the bytes the plan says, and the admin sees both.
    for name, obj in plan_map(home).items():
        assert plan.digest((home.site_dir / name).read_bytes()) == obj.digest, name
    _, _, index = site(home).account(secret(home, "login_password"), "admin",
                                     secret(home, "admin_password"))
    assert [d["id"] for d in index["databases"]] == ["main", "zbranch"]
    assert export(home).sealed == 0


def test_an_appointment_that_has_passed_leaves_the_record_the_next_day(home):
    """The record shows upcoming appointments: it is sealed again when one has passed."""
    general = secret(home, "general_password")
    export_site(home, today=date(2026, 11, 25))
    assert "Checkup" in site(home).patient("1002", general)["html"]
    result = export_site(home, today=date(2026, 11, 27))
    assert "Checkup" not in site(home).patient("1002", general)["html"]
    assert result.sealed > 0
    # Only records whose age or upcoming appointments changed are sealed again.
    assert export_site(home, today=date(2026, 11, 28)).sealed == 0


def test_a_shard_text_written_from_kept_rows_is_its_canonical_json(tmp_path):
    """Index shard rows are kept per patient as JSON texts and joined; the shard's text must
    be exactly the canonical JSON of its value, whatever the names hold."""
    from exporter import render
    from exporter.clinic_db import read_clinic
    from exporter.indexes import DbView, row_digest, search_key, shard_text, sort_key

    odd = ['"quoted" \\ back', "tab\there\nnew line", "</script><b>", "emoji 🦷 and \u2028 sep",
           "سامي الخطيب", "\x01control"]
    rows = [dict(id=i + 1, card=f"C{i}", first_name=name, surname=name[::-1], mobile="+1 555")
            for i, name in enumerate(odd)]
    patients = read_clinic(make_clinic_db(tmp_path / "odd.sqlite", rows)).patients
    view = DbView("main", patients, {p.id: f"{p.id:032x}" for p in patients}, TODAY, "en", "v")
    ck = bytes(range(32))
    members = [(p, render.age(p.birth_date, TODAY), f"{p.id:032x}", "obj/" + "a" * 32 + ".bin", ck) for p in patients]
    text = shard_text("mä\"in", 7, (view.row_entry(*m, row_digest(*m, "v")) for m in members))
    value = {"v": 2, "db": "mä\"in", "shard": 7, "rows": [
        {"rid": rid, "card": p.card, "bundle": bundle, "ck": crypto.b64e(ck), "search": search_key(p),
         "sort": list(sort_key(p)[:2]), "html": render.list_row(p, years)} for p, years, rid, bundle, _ in members]}
    assert text.encode() == crypto.canonical_json(value)
    key = crypto.random_key()
    assert crypto.open_body(key, crypto.seal_body_text(key, [text[:7], text[7:].encode()], b"ad"), b"ad") == value


def test_a_writer_puts_up_to_1024_rows_in_a_shard_on_average():
    # FORMAT.md 6.2: the writer's choice of S; a 50,000-patient list is 64 requests, not 256
    assert crypto.SHARD_ROWS == 1024
    assert [crypto.shard_count(n) for n in (1024, 1025, 10_000, 50_000)] == [1, 2, 16, 64]
