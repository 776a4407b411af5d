"""The command line's edges: refusals with a clear message, an interrupted export that keeps
its work, and progress where the output is not a terminal."""
from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from conftest import make_clinic_db
from exporter.cli_export import Progress

CHARTSEAL = [sys.executable, "-c", "from cli import main; main()"]
REPO = Path(__file__).resolve().parent.parent


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    run("init", "--home", home, "--kdf-ops", 1, "--kdf-mem", 8192)
    run("db", "add", "main", make_clinic_db(tmp_path / "main.sqlite"), "--home", home)
    run("accounts", "create", "dr.x", "--home", home)
    return home


def shares(home: Path) -> list[tuple]:
    conn = sqlite3.connect(home / "keys.sqlite")
    try:
        return conn.execute("SELECT db, account, card, until FROM shares").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("args, message", [
    (("--patient", "99999"), "no patient with card 99999 in database main"),
    (("--patient", "1001", "--patient", "1O01"), "no patient with card 1O01"),
    (("--until", "2020-01-31"), "the last day of the share, 2020-01-31, has already passed"),
])
def test_share_refuses_an_unknown_card_or_a_past_date(home, args, message):
    result = run("share", "main", "--with", "dr.x", *args, "--home", home, ok=False)
    assert result.exit_code == 1
    assert f"error: {message}" in result.output and "hint:" in result.output
    assert "Traceback" not in result.output
    assert shares(home) == []  # nothing half-shared


def test_share_takes_a_known_card_however_it_is_typed(home):
    run("share", "main", "--with", "dr.x", "--patient", " 1001 ", "--until", "2099-01-01", "--home", home)
    assert shares(home) == [("main", "dr.x", "1001", "2099-01-01")]


@pytest.mark.parametrize("value, message", [
    ("-5", "must be a positive number of minutes, got -5"),
    ("0", "must be a positive number of minutes, got 0"),
    ("ten", "expected a whole number of minutes, got 'ten'"),
    ("2000", "expected 1 to 1440 minutes, got 2000"),
])
def test_config_set_says_what_a_setting_takes(home, value, message):
    result = run("config", "set", "idle_lock_minutes", value, "--home", home, ok=False)
    assert result.exit_code == 1
    assert "error: idle_lock_minutes: " + message in result.output
    assert "hint: idle_lock_minutes: lock the portal after" in result.output
    assert "No such option" not in result.output
    assert "idle_lock_minutes = 10" in run("config", "show", "--home", home).output


def test_config_set_takes_a_relative_notes_url_but_not_another_origin(home):
    assert "'/v1/notes'" in run("config", "set", "notes_url", "/v1/notes", "--home", home).output
    result = run("config", "set", "notes_url", "//evil.example/v1/notes", "--home", home, ok=False)
    assert "expected an http(s) URL, a path such as /v1/notes" in result.output


def test_init_says_where_the_passwords_can_be_shown_again(tmp_path):
    out = run("init", "--home", tmp_path / "h", "--kdf-ops", 1, "--kdf-mem", 8192).output
    assert "shown once" not in out and "chartseal passwords show" in out
    shown = run("passwords", "show", "--home", tmp_path / "h").output
    for which in ("login", "admin", "general"):
        printed = re.search(rf"^{which} password:\s+(\S+)", out, re.M).group(1)
        assert f"{which}\t{printed}" in shown


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_progress_without_a_terminal_is_one_line_per_tenth():
    out = Pipe()
    progress = Progress(out)
    for done in range(1, 26):
        progress("deriving keys", done, 25)
    lines = out.getvalue().splitlines()
    assert [line.split(":")[1].split("%")[0].strip() for line in lines] == \
        ["12", "20", "32", "40", "52", "60", "72", "80", "92", "100"]
    assert lines[-1] == "deriving keys: 100% (25/25)"


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "CHARTSEAL_HOME": str(home), "PYTHONPATH": str(REPO),
            "CHARTSEAL_TEST_WEAK_KDF": "1"}


def _derived(home: Path) -> int:
    conn = sqlite3.connect(home / "keys.sqlite")
    try:
        return conn.execute("SELECT count(*) FROM patients WHERE door_id IS NOT NULL").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_ctrl_c_during_an_export_keeps_the_keys_already_derived(tmp_path):
    home = tmp_path / "home"
    # Argon2id heavy enough that 300 doors take several seconds on a busy machine.
    run("init", "--home", home, "--kdf-ops", 2, "--kdf-mem", 16 * 1024 * 1024)
    run("demo-data", "--patients", 300, tmp_path / "main.sqlite")
    run("db", "add", "main", tmp_path / "main.sqlite", "--home", home)
    proc = subprocess.Popen([*CHARTSEAL, "export"], env=_env(home), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # stderr is a pipe: progress comes as lines
    assert first.startswith("deriving keys: "), first
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = first + err
    assert proc.returncode == 1, (out, err)
    assert "error: export interrupted" in err and "hint:" in err
    assert "Traceback" not in err
    kept = _derived(home)
    reported = max(int(m) for m in re.findall(r"\((\d+)/\d+\)", err))
    assert 0 < reported <= kept < 300, (kept, err)
    again = run("export", "--home", home).output
    derived = int(re.search(r"(\d+) keys derived", again).group(1))
    assert derived == 302 - kept  # 300 patients + admin + the general door, none twice
    assert _derived(home) == 300


def test_an_export_through_a_pipe_reports_progress(tmp_path, home):
    done = subprocess.run([*CHARTSEAL, "export"], env=_env(home), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deriving keys: 100% (" in done.stderr
    assert "exported 3 patients" in done.stdout


def test_demo_on_a_busy_port_says_how_to_pick_another(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("demo", "--port", port, "--patients", 5, "--fast-kdf", "--home", tmp_path / "d",
                     ok=False)
    assert result.exit_code == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output
    assert "make demo PORT=8123" in result.output and "Traceback" not in result.output


def test_the_demo_site_names_its_notes_endpoint_relatively(tmp_path):
    import json

    run("demo", "--no-serve", "--patients", 5, "--fast-kdf", "--home", tmp_path / "d",
        "--json", tmp_path / "d.json")
    clinic = json.loads((tmp_path / "d.json").read_text())["clinic_id"]
    site = json.loads((tmp_path / "d" / "public" / "c" / clinic / "site.json").read_text())
    assert site["notes_url"] == "/v1/notes"


def test_the_service_logs_a_first_export_by_tenths(home_with_service):
    home, svc = home_with_service
    from service_kit import wait_for

    log = home / "logs" / "service.log"
    wait_for("export progress in the service log",
             lambda: log.is_file() and "deriving keys: 100% (" in log.read_text())
    lines = [line for line in log.read_text().splitlines() if "deriving keys:" in line]
    assert 1 <= len(lines) <= 10 and all(" INFO " in line for line in lines)


@pytest.fixture
def home_with_service(home, tmp_path):
    from service_kit import ServiceProcess

    svc = ServiceProcess(home, tmp_path / "service.out")
    yield home, svc
    svc.stop()
