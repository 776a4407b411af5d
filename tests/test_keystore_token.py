"""The keystore's export token (issue 15): it moves on every change to the rows an export
reads, never on the export's own bookkeeping, and a keystore put back from a backup never
looks unchanged to a process that saw a later one."""
from __future__ import annotations

import os
import sqlite3

import pytest

from conftest import files_on_disk, keys, plan_map
from exporter import access, keystore
from exporter.memo import ExportMemo
from exporter.site import export_site
from siteread import NoDoor, Site
from test_memo import TODAY


def _token(home) -> bytes:
    conn = keys(home)
    try:
        return keystore.export_token(conn)
    finally:
        conn.close()


def _known(conn):
    return access.known_cards(conn)


CHANGES = {
    "patient password": lambda c: access.set_patient_password(c, "1001", None, db="main", weak_ok=True),
    "page disabled": lambda c: access.set_patient_page(c, "1002", False, db="main"),
    "content key rotated": lambda c: access.rotate(c, {("main", "1003")}),
    "account created": lambda c: access.create_account(c, "dr.new", "new-password-1", weak_ok=True),
    "account password": lambda c: access.set_account_password(c, "dr.sami", None, weak_ok=True),
    "account deleted": lambda c: access.delete_account(c, "dr.sami", _known(c)),
    "share": lambda c: access.share(c, "main", "dr.sami", ["1002"]),
    "unshare": lambda c: access.unshare(c, "main", "dr.sami", ["1001"], _known(c)),
}


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_the_token_moves_on_each_kind_of_change(home, what):
    conn = keys(home)
    access.create_account(conn, "dr.sami", "sami-password-1", weak_ok=True)
    access.share(conn, "main", "dr.sami", ["1001"])
    conn.close()
    export_site(home, today=TODAY)  # patients' rows and doors made
    before = _token(home)
    conn = keys(home)
    with conn:
        CHANGES[what](conn)
    conn.close()
    assert _token(home) != before


def test_an_export_that_changes_nothing_keeps_the_token(home):
    export_site(home, today=TODAY)  # new patients' keys and doors: the token moves
    first = _token(home)
    assert export_site(home, today=TODAY).sealed == 0
    assert _token(home) == first
    conn = keys(home)
    keystore.record_publish(conn, keystore.publish_state(conn))  # the counter is not an input
    conn.close()
    assert _token(home) == first


def test_a_keystore_without_a_token_gets_one_and_its_triggers_on_open(home):
    conn = sqlite3.connect(home.keys_path)
    with conn:
        conn.execute("DROP TABLE export_token")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'export_token_%'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
    conn.close()
    first = _token(home)  # keystore.connect migrates it
    assert len(first) == 16
    conn = keys(home)
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {f"export_token_{t}_{op}" for t in ("patients", "accounts", "shares")
            for op in ("insert", "update", "delete")} <= triggers
    access.create_account(conn, "dr.x", "x-password-1", weak_ok=True)
    conn.close()
    assert _token(home) != first


def _copy(src, dest) -> None:
    a, b = sqlite3.connect(src), sqlite3.connect(dest)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def test_a_keystore_put_back_from_a_backup_is_read_again_by_the_service(home, clinic_db, tmp_path):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    saved = tmp_path / "keys-backup.sqlite"
    _copy(home.keys_path, saved)
    old_token = _token(home)
    conn = keys(home)
    new_password = access.set_patient_password(conn, "1001", None, db="main", weak_ok=True)
    conn.close()
    export_site(home, today=TODAY, memo=memo)
    site = Site(home.site_dir, home.clinic_id)
    assert "Haddad" in site.patient("1001", new_password)["html"]
    # The backup goes back in place (the restore command does the same with its own file).
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{home.keys_path}{suffix}"):
            os.unlink(f"{home.keys_path}{suffix}")
    _copy(saved, home.keys_path)
    assert _token(home) == old_token
    export_site(home, today=TODAY, memo=memo)
    conn = keys(home)
    general = keystore.get_text(conn, "general_password")
    row = conn.execute("SELECT password FROM patients WHERE card = '1001'").fetchone()
    conn.close()
    assert row[0] != new_password
    assert "Haddad" in site.patient("1001", row[0])["html"]
    assert "Haddad" in site.patient("1001", general)["html"]
    with pytest.raises(NoDoor):  # the door of the password the backup never knew is gone
        site.patient("1001", new_password)
    before = plan_map(home)
    assert export_site(home, today=TODAY).sealed == 0 and plan_map(home) == before
    assert files_on_disk(home) == set(before)
