"""Site format 2 end to end (FORMAT.md 4, 5.4, 6): one size for every door, coarse body
buckets, the publish counter and floor, and the rollback checks a reader makes."""
from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest

from conftest import WEAK, keys, plan_map
from exporter import access, crypto, keystore
from exporter.demo import setup_demo
from exporter.site import export_site
from siteread import Site

TODAY = date(2026, 11, 26)


def export(home):
    return export_site(home, today=TODAY)


def site_json(home) -> dict:
    return json.loads((home.site_dir / "c" / home.clinic_id / "site.json").read_text())


def door_files(home) -> dict:
    folder = home.site_dir / "c" / home.clinic_id / "door"
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def door_payload(home, card: str) -> dict:
    conn = keys(home)
    door_id, key = conn.execute("SELECT door_id, door_key FROM patients WHERE card = ?", (card,)).fetchone()
    conn.close()
    return crypto.open_door(bytes(key), home.clinic_id, door_id, door_files(home)[f"{door_id}.json"])


# -- sizes --------------------------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path):
    return setup_demo(tmp_path / "demo", 40, WEAK)


def test_every_door_file_of_a_demo_clinic_has_one_size(demo):
    export(demo)
    sizes = {len(data) for data in door_files(demo).values()}
    # 40 + 5 patient doors, 45 entries, 3 account doors, the general door
    assert len(door_files(demo)) == 94
    assert len(sizes) == 1, sizes


def test_indexes_for_3_and_40_patients_have_one_size(demo):
    export(demo)
    conn = keystore.connect(demo.keys_path)
    three = [r[0] for r in conn.execute("SELECT card FROM patients WHERE db = 'main' ORDER BY card LIMIT 3")]
    access.create_account(conn, "dr.three", "three-pw", weak_ok=True)
    access.share(conn, "main", "dr.three", three)
    login = keystore.get_text(conn, "login_password")
    amal_pw = conn.execute("SELECT password FROM accounts WHERE name = 'dr.amal'").fetchone()[0]
    conn.close()
    export(demo)
    s = Site(demo.site_dir, demo.clinic_id)
    sizes = {}
    for user, pw, n in (("dr.three", "three-pw", 3), ("dr.amal", amal_pw, 40)):
        _, payload, index = s.account(login, user, pw)
        assert len(index["databases"][0]["rows"]) == n
        sizes[user] = len(s.read(payload["index"]))
        [shard] = index["databases"][0]["shards"]  # one shard below 257 rows
        sizes[f"{user} shard"] = len(s.read(shard["obj"]))
    assert set(sizes.values()) == {16384 + 40}, sizes


# -- the publish counter and the floor ----------------------------------------------------------


def test_counter_moves_only_when_something_is_written(home):
    export(home)
    first = site_json(home)
    assert (first["seq"], first["floor"]) == (1, 1)
    assert export(home).sealed == 0
    assert site_json(home) == first  # a no-op export changes no byte
    conn = sqlite3.connect(home.databases["main"].path)
    conn.execute("UPDATE patients SET address = 'elsewhere' WHERE card = '1001'")
    conn.commit()
    conn.close()
    export(home)
    second = site_json(home)
    assert (second["seq"], second["floor"]) == (2, 1)
    assert door_payload(home, "1001")["seq"] == 2  # the edited record's door
    assert door_payload(home, "1003")["seq"] == 1  # the others are not rewritten
    crypto.check_site(second, door_payload(home, "1003"))


@pytest.mark.parametrize("revoke", ["unshare", "page off", "password", "delete account", "general"])
def test_taking_access_away_raises_the_floor_and_rewraps_every_door(home, revoke):
    conn = keys(home)
    access.create_account(conn, "dr.x", "x-pw", weak_ok=True)
    access.share(conn, "main", "dr.x", ["1001", "1002"])
    conn.close()
    export(home)
    old_doors = door_files(home)
    old_site = site_json(home)
    conn = keys(home)
    if revoke == "unshare":
        access.unshare(conn, "main", "dr.x", ["1002"], access.known_cards(conn))
    elif revoke == "page off":
        access.set_patient_page(conn, "1002", False)
    elif revoke == "password":
        access.set_patient_password(conn, "1002", None)
    elif revoke == "delete account":
        access.delete_account(conn, "dr.x", access.known_cards(conn))
    else:
        access.set_clinic_password(conn, "general", "a new general password", weak_ok=True)
    conn.close()
    result = export(home)
    new = site_json(home)
    assert new["seq"] == new["floor"] == old_site["seq"] + 1
    assert result.derived <= 1  # a re-wrap: no key derivation for the doors that stay
    for name, data in door_files(home).items():
        if name in old_doors:
            assert data != old_doors[name], name
    # Every door still published opens and is at the new floor; the old ones are stale.
    payload = door_payload(home, "1001")
    assert payload["seq"] == new["floor"]
    crypto.check_site(new, payload)
    old_payload = crypto.open_door(*_door_key(home, "1001"), old_doors[_door_name(home, "1001")])
    with pytest.raises(crypto.StaleError):
        crypto.check_site(new, old_payload)
    # The publisher holds the new site.json back until every re-wrapped door is up.
    refs = plan_map(home)[f"c/{home.clinic_id}/site.json"].refs
    assert set(refs) == {f"c/{home.clinic_id}/door/{n}" for n in door_files(home)}
    assert export(home).sealed == 0  # the raise is done once


def _door_key(home, card):
    conn = keys(home)
    door_id, key = conn.execute("SELECT door_id, door_key FROM patients WHERE card = ?", (card,)).fetchone()
    conn.close()
    return bytes(key), home.clinic_id, door_id


def _door_name(home, card):
    return f"{_door_key(home, card)[2]}.json"


def test_an_old_door_put_back_after_a_revocation_is_refused_by_the_reader(home):
    """The Python reader (tests/siteread.py) makes the browser's checks of FORMAT.md 5.4."""
    export(home)
    name = _door_name(home, "1001")
    old = door_files(home)[name]
    conn = keys(home)
    access.rotate(conn, {("main", "1003")})
    conn.commit()
    conn.close()
    export(home)
    folder = home.site_dir / "c" / home.clinic_id / "door"
    pw = access.patient_password(keys(home), "1001")
    assert Site(home.site_dir, home.clinic_id).patient("1001", pw)["card"] == "1001"
    (folder / name).write_bytes(old)
    with pytest.raises(crypto.StaleError):
        Site(home.site_dir, home.clinic_id).patient("1001", pw)


def test_site_json_tampered_or_signed_by_another_key_is_refused(home):
    export(home)
    path = home.site_dir / "c" / home.clinic_id / "site.json"
    pw = access.patient_password(keys(home), "1001")
    good = path.read_bytes()
    site = json.loads(good)
    path.write_text(json.dumps({**site, "notes_url": "https://elsewhere.example/v1/notes"}))
    with pytest.raises(crypto.CryptoError, match="signature"):
        Site(home.site_dir, home.clinic_id).patient("1001", pw)
    _, other_sk = crypto.sign_keypair()
    path.write_bytes(crypto.canonical_json(crypto.sign_site(other_sk, site)))
    with pytest.raises(crypto.CryptoError, match="signature"):
        Site(home.site_dir, home.clinic_id).patient("1001", pw)
    path.write_bytes(good)
    assert Site(home.site_dir, home.clinic_id).patient("1001", pw)["card"] == "1001"


def test_a_site_sealed_under_another_format_is_sealed_again_once(home, monkeypatch):
    monkeypatch.setattr(crypto, "FORMAT", "chartseal-site/1")
    export(home)
    before = plan_map(home)
    monkeypatch.undo()
    export(home)
    after = plan_map(home)
    clinic = f"c/{home.clinic_id}/"
    # every object of the clinic is sealed again; only the app (assets, pages) may be kept
    kept = {n for n in after if n in before and after[n].digest == before[n].digest}
    assert kept and not {n for n in kept if n.startswith(clinic)}
    names = {p.name for p in (home.site_dir / "c" / home.clinic_id / "door").iterdir()}
    assert all(crypto.open_door(*_door_key(home, c), door_files(home)[_door_name(home, c)])
               for c in ("1001", "1002", "1003"))
    assert len(names) == 3 + 3 + 2  # doors and entries of 3 patients, admin, general
    assert export(home).sealed == 0


def test_a_card_too_long_for_a_door_is_reported_and_the_rest_published(home):
    conn = sqlite3.connect(home.databases["main"].path)
    conn.execute("UPDATE patients SET card = ? WHERE card = '1002'", ("9" * 900,))
    conn.commit()
    conn.close()
    result = export(home)
    assert any("patient page not published" in p.message for p in result.problems)
    sizes = {len(d) for d in door_files(home).values()}
    assert len(sizes) == 1 and len(door_files(home)) == 2 + 2 + 2  # 1001, 1003: door + entry; admin; general


def test_a_keystore_restored_from_a_backup_counts_on_from_the_published_seq(home):
    export(home)
    conn = keys(home)
    access.rotate(conn, {("main", "1001")})
    conn.commit()
    conn.close()
    export(home)
    assert site_json(home)["seq"] == 2
    conn = keys(home)
    for name in ("publish_seq", "publish_floor"):  # the backup's numbers
        conn.execute("UPDATE secrets SET value = CAST('1' AS BLOB) WHERE name = ?", (name,))
    conn.commit()
    conn.close()
    conn = sqlite3.connect(home.databases["main"].path)
    conn.execute("UPDATE patients SET address = 'elsewhere' WHERE card = '1001'")
    conn.commit()
    conn.close()
    export(home)
    assert (site_json(home)["seq"], site_json(home)["floor"]) == (3, 2)


def test_a_new_floor_goes_up_only_after_every_rewrapped_door(home):
    """Mid-publish, a reader must never see the new floor beside a door from before it."""
    from publisher.policy import Policy
    from publisher.publish import publish

    policy = Policy(grace_seconds=0, backoff_base=0.01, backoff_cap=0.05, attempts_per_run=2, workers=4)
    export(home)
    assert publish(home, export=False, policy=policy).left == 0
    target = home.root / "public" / "c" / home.clinic_id
    first = json.loads((target / "site.json").read_text())
    conn = keys(home)
    access.rotate(conn, {("main", "1002")})
    conn.commit()
    conn.close()
    export(home)
    door = home.site_dir / "c" / home.clinic_id / "door" / _door_name(home, "1001")
    good = door.read_bytes()
    door.write_bytes(b"damaged")  # one re-wrapped door cannot be sent (it fails the plan's digest)
    report = publish(home, export=False, policy=policy)
    assert report.left > 0
    assert json.loads((target / "site.json").read_text()) == first  # the old floor stays up
    door.write_bytes(good)
    assert publish(home, export=False, policy=policy).left == 0
    site = json.loads((target / "site.json").read_text())
    assert site["floor"] == first["seq"] + 1
    pw = access.patient_password(keys(home), "1001")
    assert Site(home.root / "public", home.clinic_id).patient("1001", pw)["card"] == "1001"
