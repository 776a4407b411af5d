"""Revocation at the next publish (FORMAT.md 7): a retired door is gone from the target after
one publish, with no grace period and outside the delete cap, and the content keys it opened
open nothing published afterwards. Each case runs against a folder and a real S3 API (moto)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import keys, secret
from s3 import aws_env, bucket_objects, folder_objects, moto_server, new_bucket  # noqa: F401
from siteread import NoDoor, Site

from exporter import access, crypto, keystore
from exporter.site import export_site
from publisher.policy import Policy
from publisher.publish import publish

# A long grace period: doors must not need it, and superseded bundles stay (as they would).
POLICY = Policy(grace_seconds=3600, backoff_base=0.01, backoff_cap=0.05, s3_attempts=2,
                connect_timeout=2, read_timeout=10, attempts_per_run=2)


class Where:
    """A publish target and a way to read back everything it holds."""

    def __init__(self, url: str, read, endpoint: str = "", server=None, bucket: str = "") -> None:
        self.url, self.read, self.endpoint, self.server, self.bucket = url, read, endpoint, server, bucket


@pytest.fixture(params=["folder", "s3"])
def where(request, tmp_path) -> Where:
    if request.param == "folder":
        root = tmp_path / "target"
        return Where(root.as_uri(), lambda: folder_objects(root))
    request.getfixturevalue("aws_env")
    server = request.getfixturevalue("moto_server")
    bucket = new_bucket(server)
    return Where(f"s3://{bucket}/site", lambda: bucket_objects(server.url, bucket, "site"),
                 server.url, server, bucket)


@pytest.fixture
def clinic(home):
    """The sample clinic with dr.amal, who sees patient 1001 only."""
    conn = keys(home)
    access.create_account(conn, "dr.amal", "amal-password-1", weak_ok=True)
    access.share(conn, "main", "dr.amal", ["1001"])
    conn.close()
    return home


def pub(home, where: Where, policy: Policy = POLICY, export: bool = True):
    report = publish(home, target_url=where.url, endpoint_url=where.endpoint or None,
                     export=export, policy=policy)
    assert report.left == 0 or not export, report.failed
    return report


_views = 0


def view(home, where: Where, tmp_path: Path) -> tuple[Site, dict[str, bytes]]:
    """What a browser sees on the target: its objects copied to a folder, opened as the portal does."""
    global _views
    _views += 1
    root = tmp_path / f"view{_views}"
    held = where.read()
    for name, data in held.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Site(root, home.clinic_id), held


def door_name(home, door_id: str) -> str:
    return f"c/{home.clinic_id}/door/{door_id}.json"


def row(home, sql: str, *args):
    conn = keys(home)
    try:
        return conn.execute(sql, args).fetchone()
    finally:
        conn.close()


def patient_door(home, card: str) -> str:
    return row(home, "SELECT door_id FROM patients WHERE card = ?", card)[0]


def ck(home, card: str) -> bytes:
    return bytes(row(home, "SELECT ck FROM patients WHERE card = ?", card)[0])


def account(home, name: str) -> tuple[str, bytes]:
    door_id, ik = row(home, "SELECT door_id, ik FROM accounts WHERE name = ?", name)
    return door_id, bytes(ik)


def entry(home, card: str) -> str:
    conn = keys(home)
    try:
        return crypto.entry_id(keystore.get_secret(conn, "lk"), card)
    finally:
        conn.close()


def record_door(site: Site, card: str, password: str) -> dict:
    """The payload of the patient door that ``password`` opens."""
    return site._door(crypto.password_bytes(password), crypto.salt("patient", site.clinic, card), "patient")[1]


def general_entry(site: Site, card: str, password: str) -> dict:
    general = site._door(crypto.password_bytes(password), crypto.salt("general", site.clinic), "general-door")[1]
    eid = crypto.entry_id(crypto.b64d(general["lk"]), card)
    return crypto.open_door(crypto.b64d(general["gk"]), site.clinic, eid, site.base.joinpath(
        "door", f"{eid}.json").read_bytes(), entry=True)


def assert_old_key_fails(site: Site, payload: dict, old_ck: bytes) -> None:
    """The bundle published now opens with its own key and not with the retired one."""
    assert crypto.b64d(payload["ck"]) != old_ck
    assert site.open_record(payload)["rid"] == payload["rid"]
    with pytest.raises(crypto.CryptoError):
        site.open_record({**payload, "ck": crypto.b64e(old_ck)})


def assert_uploaded_before_deleted(where: Where, mark: int, new: str, old: str) -> None:
    """On S3: the new door's PUT ended before the delete naming the old door started."""
    if where.server is None:
        return
    events = [e for e in where.server.recorder.events if e.bucket == where.bucket and e.seq > mark]
    put_end = max(e.seq for e in events if e.phase == "end" and e.method == "PUT" and e.key == f"site/{new}")
    del_start = min(e.seq for e in events if e.phase == "start" and f"site/{old}" in e.deleted)
    assert put_end < del_start


def test_patient_password_change_deletes_the_old_door_in_one_publish(clinic, where, tmp_path):
    home = clinic
    pub(home, where)
    old_door, old_ck = patient_door(home, "1001"), ck(home, "1001")
    conn = keys(home)
    old_pw = access.patient_password(conn, "1001")
    old_bundle = record_door(view(home, where, tmp_path)[0], "1001", old_pw)["bundle"]
    new_pw = access.set_patient_password(conn, "1001", "a-much-better-password", weak_ok=True)
    conn.close()
    mark = where.server.recorder.mark() if where.server else 0
    report = pub(home, where)
    site, held = view(home, where, tmp_path)
    assert door_name(home, old_door) not in held
    assert report.doors_held == 0 and report.deleted == 1  # the door; the old bundle keeps its grace
    with pytest.raises(NoDoor):
        site.patient("1001", old_pw)
    payload = record_door(site, "1001", new_pw)
    assert_old_key_fails(site, payload, old_ck)
    assert payload["bundle"] != old_bundle and f"c/{home.clinic_id}/{old_bundle}" in held
    # The general entry carries the new key too, and other patients keep theirs.
    assert general_entry(site, "1001", secret(home, "general_password"))["ck"] == payload["ck"]
    assert_uploaded_before_deleted(where, mark, door_name(home, patient_door(home, "1001")),
                                   door_name(home, old_door))


def test_general_password_change_deletes_every_old_entry_despite_the_cap(clinic, where, tmp_path):
    home = clinic
    pub(home, where)
    cards = ["1001", "1002", "1003"]
    old_entries = [entry(home, c) for c in cards]
    old_cks = {c: ck(home, c) for c in cards}
    old_general = secret(home, "general_password")
    conn = keys(home)
    old_gk = keystore.get_secret(conn, "gk")
    old_door = keystore.get_text(conn, "general_door_id")
    access.set_clinic_password(conn, "general", "a-new-general-password", weak_ok=True)
    conn.close()
    report = pub(home, where, Policy(**{**POLICY.__dict__, "delete_cap": 1}))
    site, held = view(home, where, tmp_path)
    gone = [door_name(home, d) for d in [old_door, *old_entries]]
    assert [n for n in gone if n in held] == []
    assert report.deleted == 4 and report.doors_held == 0
    with pytest.raises(NoDoor):
        site.patient("1003", old_general)
    # The old general key opens no door or entry on the target now.
    for name, data in held.items():
        if "/door/" in name:
            with pytest.raises(crypto.CryptoError):
                crypto.open_door(old_gk, home.clinic_id, Path(name).stem, data, entry=True)
    for card in cards:
        assert_old_key_fails(site, general_entry(site, card, "a-new-general-password"), old_cks[card])


def test_account_password_change_retires_its_door_index_key_and_content_keys(clinic, where, tmp_path):
    home = clinic
    pub(home, where)
    old_door, old_ik = account(home, "dr.amal")
    old_cks = {c: ck(home, c) for c in ("1001", "1002")}
    conn = keys(home)
    access.set_account_password(conn, "dr.amal", "amal-new-password-2", weak_ok=True)
    conn.close()
    pub(home, where)
    site, held = view(home, where, tmp_path)
    assert door_name(home, old_door) not in held
    login = secret(home, "login_password")
    with pytest.raises(NoDoor):
        site.account(login, "dr.amal", "amal-password-1")
    door_id, payload, index = site.account(login, "dr.amal", "amal-new-password-2")
    # The old index key opens neither the new index nor, with a listing, any object.
    ad = crypto.label("chartseal/v1/index", home.clinic_id, door_id)
    with pytest.raises(crypto.CryptoError):
        crypto.open_body(old_ik, site.read(payload["index"]), ad)
    for i, pointer in enumerate(index["databases"][0]["shards"]):  # nor its shards
        with pytest.raises(crypto.CryptoError):
            crypto.open_body(crypto.shard_key(old_ik, "main", i), site.read(pointer["obj"]),
                             crypto.shard_ad(home.clinic_id, door_id, "main", i))
    [shown] = index["databases"][0]["rows"]
    assert_old_key_fails(site, shown, old_cks["1001"])
    assert ck(home, "1002") == old_cks["1002"]  # it never saw 1002: no new key needed


def test_login_password_change_retires_every_account_door(clinic, where, tmp_path):
    home = clinic
    pub(home, where)
    old = {name: account(home, name) for name in ("admin", "dr.amal")}
    old_cks = {c: ck(home, c) for c in ("1001", "1002", "1003")}
    conn = keys(home)
    access.set_clinic_password(conn, "login", "a-new-login-password", weak_ok=True)
    conn.close()
    pub(home, where)
    site, held = view(home, where, tmp_path)
    assert [n for n in (door_name(home, d) for d, _ik in old.values()) if n in held] == []
    door_id, payload, index = site.account("a-new-login-password", "admin", secret(home, "admin_password"))
    with pytest.raises(crypto.CryptoError):
        crypto.open_body(old["admin"][1], site.read(payload["index"]),
                         crypto.label("chartseal/v1/index", home.clinic_id, door_id))
    for shown in index["databases"][0]["rows"]:  # admin saw every record
        assert_old_key_fails(site, shown, old_cks[shown["card"]])


def test_page_disable_deletes_door_and_entry_and_rotates_the_record(clinic, where, tmp_path):
    home = clinic
    pub(home, where)
    old = [door_name(home, patient_door(home, "1003")), door_name(home, entry(home, "1003"))]
    old_ck = ck(home, "1003")
    conn = keys(home)
    pw = access.patient_password(conn, "1003")
    access.set_patient_page(conn, "1003", False)
    conn.close()
    pub(home, where)
    site, held = view(home, where, tmp_path)
    assert [n for n in old if n in held] == []
    for password in (pw, secret(home, "general_password")):
        with pytest.raises(NoDoor):
            site.patient("1003", password)
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    shown = next(p for p in index["databases"][0]["rows"] if p["card"] == "1003")
    assert_old_key_fails(site, shown, old_ck)
    assert site.patient("1001", secret(home, "general_password"))["card"] == "1001"


def test_account_delete_deletes_its_door_in_one_publish(clinic, where, tmp_path):
    home = clinic
    pub(home, where)
    old_door, _ik = account(home, "dr.amal")
    old_ck = ck(home, "1001")
    conn = keys(home)
    access.delete_account(conn, "dr.amal", access.known_cards(conn))
    conn.close()
    pub(home, where)
    site, held = view(home, where, tmp_path)
    assert door_name(home, old_door) not in held
    assert_old_key_fails(site, general_entry(site, "1001", secret(home, "general_password")), old_ck)


def test_a_failed_replacement_holds_only_its_own_retired_door(clinic, tmp_path):
    home = clinic
    where = Where((tmp_path / "target").as_uri(), lambda: folder_objects(tmp_path / "target"))
    pub(home, where)
    old = {c: door_name(home, patient_door(home, c)) for c in ("1001", "1003")}
    conn = keys(home)
    for c in old:
        access.set_patient_password(conn, c, f"new-password-for-{c}", weak_ok=True)
    conn.close()
    export_site(home)
    site, _ = view(home, where, tmp_path)
    # 1003's new bundle is damaged in the site folder: its upload fails, so its new door waits.
    local = Site(home.site_dir, home.clinic_id)
    bundle = home.site_dir / "c" / home.clinic_id / record_door(local, "1003", "new-password-for-1003")["bundle"]
    good = bundle.read_bytes()
    bundle.write_bytes(b"damaged")
    report = pub(home, where, export=False)
    held = where.read()
    assert report.left > 0 and report.doors_held == 1
    assert old["1001"] not in held       # an unrelated failure does not hold a revocation
    assert old["1003"] in held           # its replacement is not up: kept, and said loudly
    bundle.write_bytes(good)
    report = pub(home, where, export=False)
    assert report.left == 0 and old["1003"] not in where.read()


def test_cli_warns_about_a_held_retired_door(clinic, tmp_path):
    from click.testing import CliRunner

    import cli

    home = clinic
    target = (tmp_path / "target").as_uri()
    pub(home, Where(target, None))
    conn = keys(home)
    access.set_patient_password(conn, "1001", "new-password-for-1001", weak_ok=True)
    conn.close()
    export_site(home)
    local = Site(home.site_dir, home.clinic_id)
    bundle = home.site_dir / "c" / home.clinic_id / record_door(local, "1001", "new-password-for-1001")["bundle"]
    bundle.write_bytes(b"damaged")
    result = CliRunner().invoke(cli.main, ["publish", "--no-export", "--target", target,
                                           "--home", str(home.root)],
                                env={"CHARTSEAL_PUBLISH_ATTEMPTS_PER_RUN": "1",
                                     "CHARTSEAL_PUBLISH_BACKOFF_BASE": "0.01"})
    assert result.exit_code == 1
    assert "warning: 1 retired doors (old passwords) still open on the target" in result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_dry_run_lists_retired_doors_as_deleted_at_once(clinic, tmp_path):
    from publisher.publish import dry_run

    home = clinic
    target = (tmp_path / "target").as_uri()
    pub(home, Where(target, None))
    old = door_name(home, patient_door(home, "1002"))
    conn = keys(home)
    access.set_patient_password(conn, "1002", "new-password-for-1002", weak_ok=True)
    conn.close()
    d = dry_run(home, target_url=target, policy=POLICY)
    assert d.deletes_due == [old]
    assert old in folder_objects(tmp_path / "target")  # a dry run changes nothing
    shutil.rmtree(tmp_path / "target")
