"""The clinic commands through click, on real temporary homes and databases."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from conftest import make_clinic_db
from siteread import NoDoor, Site


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def cli_home(tmp_path):
    home = tmp_path / "home"
    out = run("init", "--home", home, "--kdf-ops", 1, "--kdf-mem", 8192).output
    pw = {line.split(":")[0]: line.split()[2] for line in out.splitlines()
          if line.split(":")[0] in ("login password", "admin password", "general password")}
    clinic = next(line.split()[-1] for line in out.splitlines() if line.startswith("clinic ID"))
    db = make_clinic_db(tmp_path / "main.sqlite")
    run("db", "add", "main", db, "--home", home)
    return home, clinic, pw


def test_init_prints_passwords_and_protects_the_keystore(cli_home):
    home, clinic, pw = cli_home
    assert len(clinic) == 10 and clinic.isdigit()
    assert set(pw) == {"login password", "admin password", "general password"}
    assert stat.S_IMODE(os.stat(home / "keys.sqlite").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    again = run("init", "--home", home, ok=False)
    assert again.exit_code != 0 and "already exists" in again.output


def test_weak_kdf_refused_without_test_flag(tmp_path, monkeypatch):
    monkeypatch.delenv("CHARTSEAL_TEST_WEAK_KDF")
    result = run("init", "--home", tmp_path / "h", "--kdf-ops", 1, "--kdf-mem", 8192, ok=False)
    assert result.exit_code == 1 and "hint:" in result.output


def test_accounts_shares_and_export(cli_home):
    home, clinic, pw = cli_home
    out = run("accounts", "create", "Dr.Lina", "--password", "lina-password-22", "--weak-ok",
              "--home", home).output
    assert "dr.lina" in out
    run("accounts", "create", "nopass", "--no-password", "--weak-ok", "--home", home)
    run("share", "main", "--with", "dr.lina", "--patient", "1001", "--home", home)
    run("share", "main", "--with", "nopass", "--until", "2099-01-01", "--home", home)
    listing = run("accounts", "list", "--home", home).output
    assert "admin" in listing and "dr.lina" in listing and "no password" in listing
    assert "2099-01-01" in run("shares", "--home", home).output
    run("export", "--home", home)
    site = Site(home / "site", clinic)
    _, _, index = site.account(pw["login password"], "dr.lina", "lina-password-22")
    assert [p["card"] for p in index["databases"][0]["rows"]] == ["1001"]
    _, _, index = site.account(pw["login password"], "nopass", "")
    assert len(index["databases"][0]["rows"]) == 3
    out = run("unshare", "main", "--with", "dr.lina", "--home", home).output
    assert "1 records" in out
    run("accounts", "delete", "nopass", "--home", home)
    run("export", "--home", home)
    with pytest.raises(NoDoor):
        site.account(pw["login password"], "nopass", "")


def test_clear_errors_for_user_mistakes(cli_home, tmp_path):
    home, _, _ = cli_home
    cases = [
        (("share", "nodb", "--with", "admin"), "no database named"),
        (("share", "main", "--with", "ghost"), "no account named"),
        (("accounts", "delete", "admin"), "cannot be deleted"),
        (("accounts", "create", "bad name!"), "not allowed"),
        (("share", "main", "--with", "admin"), "admin already sees"),
        (("db", "add", "x", tmp_path / "missing.sqlite"), "no database file"),
        (("config", "set", "lang", "fr"), "expected en or ar"),
        (("config", "set", "nosuch", "1"), "unknown setting"),
        (("patient-page", "password", "1001"), "run chartseal export first"),
    ]
    run("accounts", "create", "dr.x", "--home", home)
    cases.append((("share", "main", "--with", "dr.x", "--until", "tomorrow"), "expects a date"))
    cases.append((("unshare", "main", "--with", "dr.x"), "no such share"))
    for args, text in cases:
        result = run(*args, "--home", home, ok=False)
        assert result.exit_code == 1, args
        assert "error:" in result.output and text in result.output, (args, result.output)


def test_no_home_says_how_to_make_one(tmp_path):
    result = run("accounts", "list", "--home", tmp_path / "none", ok=False)
    assert result.exit_code == 1 and "chartseal init" in result.output


def test_patient_page_and_passwords(cli_home):
    home, clinic, pw = cli_home
    run("export", "--home", home)
    old = run("patient-page", "password", "1001", "--home", home).output.strip()
    site = Site(home / "site", clinic)
    assert site.patient("1001", old)["card"] == "1001"
    refused = run("patient-page", "password", "1001", "--set", "0791234567", "--home", home, ok=False)
    assert refused.exit_code == 1 and "weak" in refused.output and "--weak-ok" in refused.output
    out = run("patient-page", "password", "1001", "--set", "0791234567", "--weak-ok", "--home", home)
    assert "warning:" in out.output and "weak" in out.output
    run("patient-page", "disable", "1002", "--home", home)
    run("passwords", "set", "general", "--password", "another-general-pw", "--weak-ok",
        "--home", home)
    run("export", "--home", home)
    assert site.patient("1001", "0791234567")["card"] == "1001"
    assert site.patient("1003", "another-general-pw")["card"] == "1003"
    with pytest.raises(NoDoor):
        site.patient("1001", old)
    with pytest.raises(NoDoor):
        site.patient("1002", "another-general-pw")


def test_config_show_and_set(cli_home):
    home, _, _ = cli_home
    run("config", "set", "target", "s3://bucket/clinic", "--home", home)
    assert "s3://bucket/clinic" in run("config", "show", "--home", home).output


def test_demo_no_serve_writes_json(tmp_path):
    out = tmp_path / "demo.json"
    subprocess.run([sys.executable, "-m", "cli", "demo", "--home", str(tmp_path / "d"),
                    "--no-serve", "--patients", "12", "--fast-kdf", "--json", str(out)],
                   check=True, cwd=Path(__file__).parent.parent, capture_output=True,
                   stdin=subprocess.DEVNULL)
    info = json.loads(out.read_text())
    for key in ("clinic_id", "login_password", "general_password", "admin_password", "accounts",
                "patients", "databases", "site_dir"):
        assert key in info
    site = Site(Path(info["site_dir"]), info["clinic_id"])
    first = info["patients"][0]
    assert site.patient(first["card"], first["password"])["card"] == first["card"]
    acc = next(a for a in info["accounts"] if a["name"] == "dr.amal")
    _, _, index = site.account(info["login_password"], "dr.amal", acc["password"])
    assert index["databases"][0]["id"] == "main"


def test_serve_shows_the_published_folder_with_the_notes_endpoint(cli_home):
    import http.client
    import re
    import time

    home, clinic, _ = cli_home
    run("publish", "--home", home)
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", "0", "--home", str(home)],
                            cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert str(home / "public") in lines[0]
        port = int(re.search(r"127\.0\.0\.1:(\d+)", lines[1]).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(50):
            try:
                conn.request("GET", f"/c/{clinic}/site.json")
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        first = conn.getresponse()
        assert first.status == 200 and json.loads(first.read())["clinic"] == clinic
        conn.request("POST", "/v1/notes", body=b"{}", headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 400 and b"error" in resp.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
