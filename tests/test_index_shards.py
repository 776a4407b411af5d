"""The sharded account index (FORMAT.md 6.2, 10.3): what an edit re-seals, how many shards a
database gets, membership keyed by the account's index key, and the reader refusing a
shard that is not the one its root names."""
from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest
from conftest import WEAK, keys, make_clinic_db, secret, shard_rows
from siteread import Site

from exporter import access, crypto, keystore, site_rules
from exporter.cache import SealedCache
from exporter.home import Database, create_home, load_home
from exporter.indexes import DbView
from exporter.index_shards import account_shards
from exporter.memo import ExportMemo
from exporter.site import export_site
from exporter.writer import ObjectWriter

TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module", autouse=True)
def _shards_of_256_rows():
    """Several shards out of a few hundred patients: writers' shards of 256 rows here."""
    with shard_rows(256):
        yield


def rows(n: int) -> list[dict]:
    # Names in reverse card order, so the readers' order is not the card order.
    return [dict(id=i + 1, card=f"{1000 + i}", first_name=f"First{i % 7}", surname=f"Sur{(n - i):05d}",
                 birth_date="1980-02-03", mobile=f"079{i:07d}", modified_at="2026-11-01T10:00:00")
            for i in range(n)]


def make_home(tmp_path: Path, n: int) -> object:
    db = make_clinic_db(tmp_path / "main.sqlite", rows(n))
    h = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    access.create_account(conn, "dr.all", "all-password-1", weak_ok=True)
    access.share(conn, "main", "dr.all", [])
    access.create_account(conn, "dr.one", "one-password-1", weak_ok=True)
    access.share(conn, "main", "dr.one", ["1000"])
    conn.close()
    h.databases["main"] = Database("main", db)
    h.save()
    return load_home(h.root)


def shard_names(home) -> dict[str, str]:
    """Writer cache key ('index-shard:<user>:<db>:<i>', 'index:<user>', ...) -> object name."""
    conn = home.connect_state()
    try:
        return dict(conn.execute("SELECT key, name FROM sealed_cache"))
    finally:
        conn.close()


def admin(home) -> tuple[Site, str, dict, dict]:
    site = Site(home.site_dir, home.clinic_id)
    door_id, payload, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    return site, door_id, payload, index


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """600 patients: 4 shards for admin and dr.all, 1 for dr.one; exported once, then edited
    with a memo as the service does."""
    home = make_home(tmp_path_factory.mktemp("big"), 600)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    return home, memo


def test_an_edit_reseals_one_shard_per_account_that_sees_it_and_its_root_and_door(big):
    home, memo = big
    before = shard_names(home)
    assert sum(k.startswith("index-shard:admin:main:") for k in before) == 4
    assert sum(k.startswith("index-shard:dr.one:main:") for k in before) == 1
    conn = sqlite3.connect(home.databases["main"].path)
    with conn:
        conn.execute("UPDATE patients SET surname = 'Renamed' WHERE card = '1300'")
    conn.close()
    result = export_site(home, today=TODAY, memo=memo)
    after = shard_names(home)
    changed = sorted(k for k in after if before.get(k) != after[k])
    shards = [k for k in changed if k.startswith("index-shard:")]
    assert [k.rsplit(":", 1)[0] for k in shards] == ["index-shard:admin:main", "index-shard:dr.all:main"]
    assert {"index:admin", "index:dr.all"} <= set(changed) and "index:dr.one" not in changed
    # per account that sees 1300: shard + root + door (2 x 3); the patient: bundle, door,
    # entry; and site.json: nothing else scales with the clinic.
    assert result.sealed == 2 * 3 + 3 + 1, changed
    _, _, _, index = admin(home)
    [row] = [r for r in index["databases"][0]["rows"] if r["card"] == "1300"]
    assert row["sort"][0] == "renamed" and "Renamed" in row["html"]


def test_a_shard_sealed_again_renders_only_the_edited_patients_row(big, monkeypatch):
    home, memo = big
    from exporter import render

    for k in range(2):  # the second edit's shard holds rows the first export rendered
        rendered = []
        real = render.list_row
        monkeypatch.setattr(render, "list_row", lambda p, years: rendered.append(p.card) or real(p, years))
        conn = sqlite3.connect(home.databases["main"].path)
        with conn:
            conn.execute("UPDATE patients SET first_name = ? WHERE card = ?", (f"Edit{k}", f"{1100 + k}"))
        conn.close()
        export_site(home, today=TODAY, memo=memo)
        monkeypatch.undo()
        assert rendered == [f"{1100 + k}"]  # once, though two accounts' shards hold it


def test_every_row_once_in_the_readers_order_in_the_shard_its_hash_picks(big):
    home, _ = big
    site, door_id, payload, index = admin(home)
    [db] = index["databases"]
    assert db["count"] == 600 and len(db["shards"]) == 4
    cards = [r["card"] for r in db["rows"]]
    assert sorted(cards) == sorted(f"{1000 + i}" for i in range(600))  # each exactly once
    assert db["rows"] == sorted(db["rows"], key=site_rules.row_order) and cards != sorted(cards)
    ik = crypto.b64d(payload["ik"], 32)
    for i, pointer in enumerate(db["shards"]):
        shard = crypto.open_body(crypto.shard_key(ik, "main", i), site.read(pointer["obj"]),
                                 crypto.shard_ad(home.clinic_id, door_id, "main", i))
        assert all(crypto.shard_of(ik, r["rid"], 4) == i for r in shard["rows"])
        assert shard["rows"] == sorted(shard["rows"], key=site_rules.row_order)  # written in order


@pytest.mark.parametrize(("count", "shards"), [(0, 1), (1, 1), (256, 1), (257, 2), (512, 2), (513, 4),
                                               (50_000, 256), (256 * 4096, 4096), (10**9, 4096)])
def test_the_number_of_shards_follows_the_count(count, shards):
    assert crypto.shard_count(count) == shards  # with shards of 256 rows (this module)


@pytest.mark.parametrize(("count", "shards"), [(0, 1), (1024, 1), (1025, 2), (2049, 4), (10_000, 16),
                                               (50_000, 64), (1024 * 4096, 4096), (10**9, 4096)])
def test_writers_shards_hold_up_to_1024_rows_on_average(count, shards):
    with shard_rows(1024):
        assert crypto.shard_count(count) == shards


def test_a_clinic_crossing_256_gets_two_shards_every_row_still_once(tmp_path):
    home = make_home(tmp_path, 256)
    export_site(home, today=TODAY)
    assert [len(db["shards"]) for db in admin(home)[3]["databases"]] == [1]
    conn = sqlite3.connect(home.databases["main"].path)
    with conn:
        conn.execute("INSERT INTO patients (id, card, first_name, surname) VALUES (999, '9999', 'New', 'One')")
    conn.close()
    export_site(home, today=TODAY)
    [db] = admin(home)[3]["databases"]
    assert len(db["shards"]) == 2 and db["count"] == 257 and sum(x["n"] for x in db["shards"]) == 257
    assert sorted(r["card"] for r in db["rows"]) == sorted([f"{1000 + i}" for i in range(256)] + ["9999"])


def test_membership_is_reshuffled_when_the_index_key_rotates(big):
    home, memo = big

    def membership() -> dict[str, int]:
        site, door_id, payload, index = admin(home)
        ik = crypto.b64d(payload["ik"], 32)
        out = {}
        for i, pointer in enumerate(index["databases"][0]["shards"]):
            shard = crypto.open_body(crypto.shard_key(ik, "main", i), site.read(pointer["obj"]),
                                     crypto.shard_ad(home.clinic_id, door_id, "main", i))
            out.update({r["card"]: i for r in shard["rows"]})
        return out

    before = membership()
    conn = keys(home)
    access.set_account_password(conn, "admin", "admin-new-password-3", weak_ok=True)
    conn.close()
    export_site(home, today=TODAY, memo=memo)
    after = membership()
    assert sorted(before) == sorted(after)
    moved = sum(before[c] != after[c] for c in before)
    assert moved > 300  # about 3 in 4 rows move to another of 4 shards


def _swap(home, make_bad) -> None:
    """Put other bytes at the admin's shard 0 name, read the index, and put them back."""
    site, door_id, payload, index = admin(home)
    path = home.site_dir / "c" / home.clinic_id / index["databases"][0]["shards"][0]["obj"]
    good = path.read_bytes()
    path.write_bytes(make_bad(site, door_id, payload, index))
    try:
        with pytest.raises(crypto.CryptoError, match="does not match its name"):
            admin(home)
    finally:
        path.write_bytes(good)
    admin(home)  # the real one reads again


def test_another_positions_shard_in_place_of_shard_0_is_refused(big):
    home, _ = big

    def other_position(site, door_id, payload, index):
        data = site.read(index["databases"][0]["shards"][1]["obj"])
        # Without the name check it would not open either: its key and ad are position 1's.
        with pytest.raises(crypto.CryptoError):
            crypto.open_body(crypto.shard_key(crypto.b64d(payload["ik"]), "main", 0), data,
                             crypto.shard_ad(home.clinic_id, door_id, "main", 0))
        return data
    _swap(home, other_position)


def test_another_accounts_shard_in_place_is_refused(big):
    home, _ = big

    def other_account(site, door_id, payload, index):
        _, _, theirs = site.account(secret(home, "login_password"), "dr.all", "all-password-1")
        return site.read(theirs["databases"][0]["shards"][0]["obj"])
    _swap(home, other_account)


def test_an_older_version_of_the_same_shard_is_refused(tmp_path):
    """The older shard opens with the same key and ad: only the object name pins it."""
    home = make_home(tmp_path, 3)
    export_site(home, today=TODAY)
    site, door_id, payload, index = admin(home)
    old_obj = index["databases"][0]["shards"][0]["obj"]
    old = site.read(old_obj)
    conn = sqlite3.connect(home.databases["main"].path)
    with conn:
        conn.execute("UPDATE patients SET surname = 'Renamed' WHERE card = '1001'")
    conn.close()
    export_site(home, today=TODAY)
    site, door_id, payload, index = admin(home)
    new_obj = index["databases"][0]["shards"][0]["obj"]
    assert new_obj != old_obj
    ik = crypto.b64d(payload["ik"], 32)
    opened = crypto.open_body(crypto.shard_key(ik, "main", 0), old, crypto.shard_ad(home.clinic_id, door_id, "main", 0))
    assert site_rules.check_shard(opened, "main", 0, 3)  # authentic, right place, right length
    (site.base / new_obj).write_bytes(old)
    with pytest.raises(crypto.CryptoError, match="does not match its name"):
        admin(home)


def test_a_root_whose_count_is_not_the_sum_of_its_shards_is_refused(tmp_path):
    home = make_home(tmp_path, 3)
    export_site(home, today=TODAY)
    site, door_id, payload, index = admin(home)
    ik = crypto.b64d(payload["ik"], 32)
    ad = crypto.label("chartseal/v1/index", home.clinic_id, door_id)
    root = crypto.open_body(ik, site.read(payload["index"]), ad)
    root["databases"][0]["count"] = 4
    (site.base / payload["index"]).write_bytes(crypto.seal_body(ik, root, ad))
    with pytest.raises(crypto.CryptoError, match="count differs"):
        admin(home)
    root["databases"][0]["count"] = 3
    (site.base / payload["index"]).write_bytes(crypto.seal_body(ik, root, ad))
    admin(home)
    root["databases"][0]["shards"][0]["n"] = 2  # the root and the shard disagree on its rows
    root["databases"][0]["count"] = 2
    (site.base / payload["index"]).write_bytes(crypto.seal_body(ik, root, ad))
    with pytest.raises(crypto.CryptoError, match="wrong number of rows"):
        admin(home)


class _Ctx:
    """What account_shards reads of an export's context."""

    def __init__(self, tmp_path: Path) -> None:
        state = sqlite3.connect(tmp_path / "state.sqlite")
        self.writer = ObjectWriter(tmp_path / "site", SealedCache(state))
        self.memo, self.bundles, self.today = ExportMemo(), {}, TODAY
        self.version, self.lang, self.prefix, self.clinic = "v", "en", "c/0000000001", "0000000001"


def test_an_empty_database_has_one_empty_shard(tmp_path):
    ctx = _Ctx(tmp_path)
    ik = crypto.random_key()
    acc = {"door_id": "3c" * 16, "ik": ik, "name": "dr.none"}
    view = DbView("empty", [], {}, TODAY, "en", "v", ctx.memo)
    [pointer] = account_shards(ctx, acc, view)
    assert pointer["n"] == 0
    root = site_rules.check_root({"v": 2, "databases": [
        {"id": "empty", "name": "empty", "count": 0, "shards": [pointer], "diary": {}}]})
    read = lambda obj: (ctx.writer.site_dir / ctx.prefix / obj).read_bytes()  # noqa: E731
    assert site_rules.read_rows(read, ctx.clinic, acc["door_id"], ik, root["databases"][0]) == []
