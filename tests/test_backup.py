"""Keystore backups: the recovery key, the sealed file (FORMAT.md 11), restore, the service's
rotating backups. The end-to-end case deletes the home, restores it and publishes again."""
from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from conftest import make_clinic_db
from exporter import backup, backup_format as fmt, keystore
from exporter.home import load_home
from siteread import NoDoor, Site

VECTORS = Path(__file__).parent / "vectors" / "backup.json"


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    return result


@pytest.fixture
def clinic(tmp_path):
    """A published clinic (CLI made, folder target) with an account and its recovery key."""
    home, public = tmp_path / "home", tmp_path / "public"
    out = run("init", "--home", home, "--kdf-ops", 1, "--kdf-mem", 8192).output
    rk = next(l.split()[-1] for l in out.splitlines() if l.startswith("recovery key:"))
    run("db", "add", "main", make_clinic_db(tmp_path / "main.sqlite"), "--home", home)
    run("config", "set", "target", public.as_uri(), "--home", home)
    acct = run("accounts", "create", "dr.lina", "--home", home).output
    lina = acct.split("password:")[-1].split()[0] if "password:" in acct else None
    run("share", "main", "--with", "dr.lina", "--home", home)
    run("publish", "--home", home)
    return home, public, rk, lina


def _secrets(home: Path) -> dict:
    conn = keystore.connect(home / "keys.sqlite")
    try:
        return {"patients": {r[0]: r[1] for r in conn.execute("SELECT card, password FROM patients")},
                "general": keystore.get_text(conn, "general_password"),
                "login": keystore.get_text(conn, "login_password"),
                "admin": keystore.get_text(conn, "admin_password"),
                "lina": conn.execute("SELECT password FROM accounts WHERE name='dr.lina'").fetchone()[0]}
    finally:
        conn.close()


# -- the recovery key ------------------------------------------------------------------------


def test_recovery_key_text_round_trips_and_catches_typos():
    rk = bytes(range(32))
    text = fmt.key_text(rk)
    groups = text.split("-")
    assert len(groups) == 14 and all(len(g) == 4 for g in groups)
    assert fmt.parse_key(text) == rk
    # As people type it: lower case, spaces, O for 0, I or L for 1.
    sloppy = text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert fmt.parse_key(sloppy) == rk
    bad = ("X" if text[5] != "X" else "Y").join([text[:5], text[6:]])
    with pytest.raises(fmt.BackupError, match="typo"):
        fmt.parse_key(bad)
    with pytest.raises(fmt.BackupError, match="not a recovery key"):
        fmt.parse_key(text[:-5])


def test_vectors():
    """Known answers (tests/vectors/backup.json): key text, key id, and a file to open."""
    vec = json.loads(VECTORS.read_text())
    rk = bytes.fromhex(vec["recovery_key_hex"])
    assert fmt.key_text(rk) == vec["recovery_key_text"]
    assert fmt.key_id(rk) == vec["key_id"]
    contents = fmt.open_backup(rk, base64.b64decode(vec["file_b64"]))
    assert contents.clinic == vec["clinic"] and contents.created == vec["created"]
    for name, text in vec["members"].items():
        assert contents.files[name] == text.encode()
    # Sealing the same members with the same nonce gives a file that opens to the same.
    again = fmt.seal(rk, contents, base64.b64decode(vec["nonce_b64"]))
    assert fmt.read_header(again)[1] == fmt.read_header(base64.b64decode(vec["file_b64"]))[1]


# -- the sealed file -------------------------------------------------------------------------


def _sample() -> tuple[bytes, fmt.Contents, bytes]:
    rk = bytes(range(1, 33))
    contents = fmt.Contents("1234567890", "2026-12-01T10:00:00Z", {
        "manifest.json": b'{"clinic":"1234567890","v":1}', "config.toml": b'clinic_id = "1234567890"\n',
        "keys.sqlite": b"SQLite format 3\0" + bytes(100)})
    return rk, contents, fmt.seal(rk, contents)


def test_every_flipped_byte_is_refused():
    rk, contents, data = _sample()
    assert fmt.open_backup(rk, data).files == contents.files
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(fmt.BackupError) as err:
            fmt.open_backup(rk, bytes(bad))
        assert err.value.hint, i


def test_truncated_wrong_key_other_clinic_and_future_version():
    rk, contents, data = _sample()
    for cut in (0, 5, len(fmt.MAGIC) + 20, len(data) - 17, len(data) - 1):
        with pytest.raises(fmt.BackupError):
            fmt.open_backup(rk, data[:cut])
    with pytest.raises(fmt.BackupError, match="wrong recovery key"):
        fmt.open_backup(bytes(32), data)
    # The clinic id is associated data: a header naming another clinic fails authentication.
    moved = data.replace(b'"clinic":"1234567890"', b'"clinic":"1234567891"', 1)
    with pytest.raises(fmt.BackupError, match="damaged or was altered"):
        fmt.open_backup(rk, moved)
    with pytest.raises(fmt.BackupError, match="newer chartseal"):
        fmt.open_backup(rk, b"chartseal-backup/2\n" + data[len(fmt.MAGIC):])
    with pytest.raises(fmt.BackupError, match="not a chartseal backup"):
        fmt.open_backup(rk, b"PK\x03\x04 a zip file")


def test_unexpected_tar_entries_are_refused():
    rk, contents, _ = _sample()
    extra = dict(contents.files)
    data = fmt.seal(rk, contents)
    import io
    import tarfile
    import gzip

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, body in list(extra.items()) + [("../evil", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    with pytest.raises(fmt.BackupError, match="unexpected entry"):
        fmt._unpack(buf.getvalue())
    assert fmt.open_backup(rk, data).files == contents.files


# -- restore, end to end -----------------------------------------------------------------------


def test_delete_the_home_restore_publish_and_every_old_password_opens(clinic, tmp_path):
    home, public, rk, _ = clinic
    before = _secrets(home)
    clinic_id = load_home(home).clinic_id
    out = run("backup", "create", "--out", tmp_path / "clinic.backup", "--home", home).output
    assert "wrote" in out and (tmp_path / "clinic.backup").exists()
    # Published after the backup: the restored counter must follow the site, not the backup.
    db = sqlite3.connect(tmp_path / "main.sqlite")
    db.execute("UPDATE patients SET surname = 'Haddad-Nour' WHERE card = '1001'")
    db.commit()
    db.close()
    run("publish", "--home", home)
    seq_before = json.loads((public / "c" / clinic_id / "site.json").read_text())["seq"]
    shutil.rmtree(home)

    out = run("backup", "restore", tmp_path / "clinic.backup", "--key", rk, "--home", home).output
    assert "restored the keystore of clinic" in out and "publish" in out
    run("publish", "--home", home)
    assert _secrets(home) == before
    site = Site(public, clinic_id)
    assert site.info["seq"] > seq_before  # counts on from the published site, not the backup
    for card, password in before["patients"].items():
        assert site.patient(card, password)["card"] == card
        assert site.patient(card, before["general"])["card"] == card
    door, index, _ = site.account(before["login"], "dr.lina", before["lina"])
    assert index and door
    site.account(before["login"], "admin", before["admin"])


def test_restore_refusals_leave_the_home_as_it_was(clinic, tmp_path):
    home, public, rk, _ = clinic
    file = tmp_path / "c.backup"
    run("backup", "create", "--out", file, "--home", home)
    data = file.read_bytes()
    keys = (home / "keys.sqlite").read_bytes()

    out = run("backup", "restore", file, "--key", rk, "--home", home, ok=False).output
    assert "error:" in out and "already has a working keystore" in out and "--force" in out

    wrong = fmt.key_text(bytes(32))
    out = run("backup", "restore", file, "--key", wrong, "--home", tmp_path / "new", ok=False).output
    assert "error: wrong recovery key" in out and "hint:" in out
    assert not (tmp_path / "new" / "keys.sqlite").exists()

    (tmp_path / "cut.backup").write_bytes(data[: len(data) // 2])
    out = run("backup", "restore", tmp_path / "cut.backup", "--key", rk, "--home", tmp_path / "new",
              ok=False).output
    assert "error: the backup is damaged" in out and "hint:" in out

    flipped = bytearray(data)
    flipped[-40] ^= 0x80
    (tmp_path / "bad.backup").write_bytes(bytes(flipped))
    out = run("backup", "restore", tmp_path / "bad.backup", "--key", rk, "--home", tmp_path / "new",
              ok=False).output
    assert "error: the backup is damaged or was altered" in out and "hint:" in out
    assert not (tmp_path / "new" / "keys.sqlite").exists()

    out = run("backup", "restore", file, "--key", rk[:-1] + ("A" if rk[-1] != "A" else "B"),
              "--home", tmp_path / "new", ok=False).output
    assert "typo" in out

    other = tmp_path / "other"
    run("init", "--home", other, "--kdf-ops", 1, "--kdf-mem", 8192)
    (other / "keys.sqlite").unlink()
    out = run("backup", "restore", file, "--key", rk, "--home", other, ok=False).output
    assert "is the home of clinic" in out
    assert (home / "keys.sqlite").read_bytes() == keys


def test_restore_over_a_damaged_keystore_keeps_the_damaged_one_aside(clinic, tmp_path):
    home, _, rk, _ = clinic
    file = tmp_path / "c.backup"
    run("backup", "create", "--out", file, "--home", home)
    before = _secrets(home)
    for side in ("keys.sqlite-wal", "keys.sqlite-shm"):
        (home / side).unlink(missing_ok=True)
    (home / "keys.sqlite").write_bytes(b"garbage" * 100)
    out = run("backup", "restore", file, "--key", rk, "--home", home).output
    assert "kept the old file as" in out and "kept the home's own config.toml" in out
    aside = list(home.glob("keys.sqlite.damaged-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == b"garbage" * 100
    assert _secrets(home) == before
    # --force replaces even a working keystore, keeping it aside too.
    run("backup", "restore", file, "--key", rk, "--force", "--home", home)
    assert len(list(home.glob("keys.sqlite.replaced-*"))) == 1


# -- the service's rotating backups -------------------------------------------------------------


def test_backup_after_every_change_of_keys_and_only_then(clinic, tmp_path):
    home, _, rk, _ = clinic
    usb = tmp_path / "usb"
    usb.mkdir()
    run("config", "set", "backup_dir", usb, "--home", home)
    run("config", "set", "backup_keep", 3, "--home", home)
    h = load_home(home)
    first = backup.backup_if_changed(h)
    assert first is not None and first.parent == usb
    assert backup.backup_if_changed(h) is None  # nothing changed
    run("publish", "--home", home)               # a publish that changes no key
    assert backup.backup_if_changed(h) is None
    made = [first]
    for n in range(4):
        run("accounts", "create", f"dr.n{n}", "--home", home)
        made.append(backup.backup_if_changed(h))
        assert made[-1] is not None
    kept = sorted(usb.glob("*.backup"))
    assert kept == sorted(made[-3:])             # the last 3, the older ones deleted
    # The newest opens to a keystore that has the newest account.
    contents = backup.read_backup(kept[-1], fmt.parse_key(rk))
    (tmp_path / "k.sqlite").write_bytes(contents.files["keys.sqlite"])
    conn = sqlite3.connect(tmp_path / "k.sqlite")
    assert conn.execute("SELECT 1 FROM accounts WHERE name = 'dr.n3'").fetchone()
    conn.close()


def test_unplugged_backup_disk_is_an_error_in_service_status(clinic, tmp_path):
    from publisher.service import Service

    home, _, _, _ = clinic
    run("config", "set", "backup_dir", tmp_path / "unplugged", "--home", home)
    service = Service(home)
    service._backup(load_home(home))
    assert "backup folder" in service.beat.last_error and "does not exist" in service.beat.last_error
    assert not (tmp_path / "unplugged").exists()
    out = run("service", "status", "--home", home, ok=False).output if False else \
        CliRunner().invoke(main, ["service", "status", "--home", str(home)]).output
    assert "last backup:    never" in out and "backup error:" in out
    (tmp_path / "unplugged").mkdir()
    service.backup_due = 0.0
    service._backup(load_home(home))
    out = CliRunner().invoke(main, ["service", "status", "--home", str(home)]).output
    assert "last backup:    20" in out and str(tmp_path / "unplugged") in out
    assert "backup error:" not in out
    data = json.loads(CliRunner().invoke(main, ["service", "status", "--json", "--home", str(home)]).output)
    assert data["last_backup"] and data["last_backup_file"].startswith(str(tmp_path / "unplugged"))


def test_the_running_service_backs_up_after_a_change_of_keys(tmp_path):
    """A real `service run`: a new patient in the clinic database (new keys) and a new account
    each give a backup in backup_dir that restores to a keystore holding them."""
    from conftest import make_clinic_db as make_db
    from service_kit import ServiceProcess, edit, status, wait_for

    home, usb = tmp_path / "home", tmp_path / "usb"
    usb.mkdir()
    out = run("init", "--home", home, "--kdf-ops", 1, "--kdf-mem", 8192).output
    rk = fmt.parse_key(next(l.split()[-1] for l in out.splitlines() if l.startswith("recovery key:")))
    db = make_db(tmp_path / "main.sqlite")
    run("db", "add", "main", db, "--home", home)
    run("config", "set", "backup_dir", usb, "--home", home)
    proc = ServiceProcess(home, tmp_path / "service.log")
    try:
        first = wait_for("a first backup", lambda: sorted(usb.glob("*.backup")))
        edit(db, "INSERT INTO patients (id, card, first_name, surname, modified_at) "
                 "VALUES (9, '1009', 'Nour', 'Salem', '2026-11-30T10:00:00')")

        def holds(sql: str):
            def cond():
                for path in sorted(usb.glob("*.backup"))[len(first) - 1:]:
                    keys = tmp_path / "check.sqlite"
                    keys.write_bytes(backup.read_backup(path, rk).files["keys.sqlite"])
                    conn = sqlite3.connect(keys)
                    try:
                        if conn.execute(sql).fetchone():
                            return path
                    finally:
                        conn.close()
                return None
            return cond

        wait_for("a backup with the new patient", holds("SELECT 1 FROM patients WHERE card = '1009'"))
        run("accounts", "create", "dr.sami", "--home", home)
        wait_for("a backup with the new account", holds("SELECT 1 FROM accounts WHERE name = 'dr.sami'"))

        def reported():
            code, st = status(home)
            newest = sorted(usb.glob("*.backup"))[-1]
            return code == 0 and st["last_backup_file"] == str(newest) and not st["backup_error"]

        wait_for("service status names the newest backup", reported)
    finally:
        proc.stop()
    assert "Traceback" not in proc.output()


def test_the_console_shows_the_recovery_key_and_writes_a_backup(clinic, tmp_path):
    from console.app import create_app

    home, _, rk, _ = clinic
    base = "http://127.0.0.1:5557"
    app = create_app(load_home(home), "t" * 32, port=5557)
    client = app.test_client()
    assert client.get("/?token=" + "t" * 32, base_url=base).status_code == 303
    csrf = {"csrf": app.config["CONSOLE_CSRF"]}
    assert "Recovery key" in client.get("/passwords", base_url=base).get_data(as_text=True)
    shown = client.post("/passwords/recovery-key", data=csrf, base_url=base).get_data(as_text=True)
    assert rk in shown and "chartseal backup restore FILE" in shown
    assert client.post("/passwords/recovery-key", base_url=base).status_code == 403  # no CSRF token

    run("config", "set", "backup_dir", tmp_path / "unplugged", "--home", home)
    refused = client.post("/passwords/backup", data=csrf, base_url=base)
    assert refused.status_code == 400 and "does not exist" in refused.get_data(as_text=True)
    (tmp_path / "unplugged").mkdir()
    written = client.post("/passwords/backup", data=csrf, base_url=base)
    assert written.status_code == 303 and "ok=backup_written" in written.headers["Location"]
    [path] = list((tmp_path / "unplugged").glob("*.backup"))
    assert backup.read_backup(path, fmt.parse_key(rk)).clinic == load_home(home).clinic_id


def test_restore_asks_for_the_recovery_key_when_it_is_not_given(clinic, tmp_path):
    home, _, rk, _ = clinic
    file = tmp_path / "c.backup"
    run("backup", "create", "--out", file, "--home", home)
    result = CliRunner().invoke(main, ["backup", "restore", str(file), "--home", str(tmp_path / "new")],
                                input=rk.lower().replace("-", " ") + "\n")
    assert result.exit_code == 0 and "recovery key:" in result.output, result.output
    assert (tmp_path / "new" / "keys.sqlite").exists() and (tmp_path / "new" / "config.toml").exists()
