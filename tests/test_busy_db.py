"""A busy clinic database waits (issue 12 item 6): while the clinic program holds its write
lock, export waits with a progress line, then says the program is writing; never the hint
to point elsewhere or remove the database (that would take every patient off the site)."""
from __future__ import annotations

import sqlite3
import threading
import time

from click.testing import CliRunner

from cli import main
from conftest import make_clinic_db


def _home(tmp_path):
    home = tmp_path / "home"
    run = CliRunner().invoke
    assert run(main, ["init", "--home", str(home), "--kdf-ops", "1", "--kdf-mem", "8192"]).exit_code == 0
    db = make_clinic_db(tmp_path / "main.sqlite")
    assert run(main, ["db", "add", "main", str(db), "--home", str(home)]).exit_code == 0
    return home, db


def _lock(db):
    """The clinic program in the middle of a write (rollback journal: readers are shut out)."""
    con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("BEGIN EXCLUSIVE")
    con.execute("UPDATE patients SET mobile = '0790000000' WHERE id = 1")
    return con


def test_busy_database_gives_up_with_a_clear_message(tmp_path):
    home, db = _home(tmp_path)
    assert CliRunner().invoke(main, ["config", "set", "db_busy_wait_seconds", "2", "--home", str(home)]).exit_code == 0
    con = _lock(db)
    try:
        started = time.monotonic()
        result = CliRunner().invoke(main, ["export", "--home", str(home)])
        waited = time.monotonic() - started
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert result.exit_code == 1, result.output
    assert f"the clinic program is writing to {db}; try again" in result.output
    assert "waiting: the clinic program is writing" in result.output  # the progress line
    assert "db remove" not in result.output and "--replace" not in result.output
    assert "Traceback" not in result.output
    assert 2 <= waited < 20


def test_busy_database_is_read_once_the_write_ends(tmp_path):
    home, db = _home(tmp_path)
    con = _lock(db)

    def finish():
        time.sleep(2.5)
        con.execute("COMMIT")
        con.close()

    t = threading.Thread(target=finish)
    t.start()
    result = CliRunner().invoke(main, ["export", "--home", str(home)])
    t.join()
    assert result.exit_code == 0, result.output
    assert "waiting: the clinic program is writing" in result.output
