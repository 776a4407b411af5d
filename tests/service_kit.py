"""Helpers for the service tests: start `chartseal service run` as a real process, wait for
conditions, read the published tree and the state database."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from conftest import secret
from siteread import Site

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "chartseal"
# A guard against a hung test, not a performance limit: conditions normally hold in seconds.
PATIENCE = 90.0

FAST = {
    "CHARTSEAL_TEST_WEAK_KDF": "1",
    "CHARTSEAL_PUBLISH_GRACE_SECONDS": "0",
    "CHARTSEAL_PUBLISH_BACKOFF_BASE": "0.2",
    "CHARTSEAL_PUBLISH_BACKOFF_CAP": "1",
    "CHARTSEAL_PUBLISH_S3_ATTEMPTS": "1",
    "CHARTSEAL_PUBLISH_CONNECT_TIMEOUT": "2",
    "CHARTSEAL_PUBLISH_READ_TIMEOUT": "5",
    "CHARTSEAL_SERVICE_BEAT_SECONDS": "0.5",
    "CHARTSEAL_SERVICE_RETRY_BASE_SECONDS": "0.2",
    "CHARTSEAL_SERVICE_RETRY_CAP_SECONDS": "1",
}


def wait_for(what: str, cond: Callable[[], Any], patience: float = PATIENCE) -> Any:
    end = time.monotonic() + patience
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.05)


class ServiceProcess:
    def __init__(self, home_root: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.root, self.log = home_root, log
        full = {**os.environ, **FAST, **(env or {})}
        self.fh = open(log, "ab")
        self.proc = subprocess.Popen([str(EXE), "service", "run", "--home", str(home_root)],
                                     stdin=subprocess.DEVNULL, stdout=self.fh, stderr=self.fh, env=full)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=PATIENCE)
        finally:
            self.fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        self.fh.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def status(root: Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run([str(EXE), "service", "status", "--json", "--home", str(root)],
                          capture_output=True, text=True, env={**os.environ, **FAST})
    return done.returncode, json.loads(done.stdout)


def queue_length(home: Any) -> int:
    conn = sqlite3.connect(home.state_path, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


def uploads_done(home: Any) -> int:
    conn = sqlite3.connect(home.state_path, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM upload_log WHERE ok = 1").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def published(home: Any) -> Site | None:
    root = home.root / "public"
    if not (root / "c" / home.clinic_id / "site.json").exists():
        return None
    return Site(root, home.clinic_id)


def quietly(fn: Callable[[], Any]) -> Callable[[], Any]:
    """A condition that counts as false while the published tree is mid-update."""
    def cond() -> Any:
        try:
            return fn()
        except Exception:
            return None
    return cond


def admin_index(home: Any) -> dict[str, Any]:
    site = published(home)
    assert site is not None
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    return index


def patient_html(home: Any, card: str) -> str:
    """The record as a doctor sees it (admin), visit notes included (FORMAT.md 6.1)."""
    site = published(home)
    assert site is not None
    site.patient(card, secret(home, "general_password"))  # the patient's page opens too
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    row = next(p for db in index["databases"] for p in db["rows"] if p["card"] == card)
    return site.open_record(row)["html"]


# A clinic program stamps the rows it changes (docs/CLINIC_DB.md): the service reads only the
# rows whose modified_at moved, plus unstamped rows (tests/test_clinic_delta.py covers an
# edit that does not move it). Triggers stand in for the program's stamping.
STAMP_TRIGGER = """CREATE TRIGGER IF NOT EXISTS stamp_{t} AFTER UPDATE ON {t}
WHEN NEW.modified_at IS OLD.modified_at AND OLD.modified_at IS NOT NULL BEGIN
UPDATE {t} SET modified_at = strftime('%Y-%m-%dT%H:%M:%f', 'now', 'localtime') WHERE rowid = NEW.rowid;
END"""


def edit(db: Path, *sql: str, keep_open: list | None = None) -> None:
    """Commit like a clinic program in WAL mode, stamping what it changes; ``keep_open`` keeps
    the connection (and so the WAL, uncheckpointed) alive, so only the -wal file changes."""
    conn = sqlite3.connect(db, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    with conn:
        for t in ("patients", "health", "deals", "visits", "appointments"):
            conn.execute(STAMP_TRIGGER.format(t=t))
        for s in sql:
            conn.execute(s)
    if keep_open is not None:
        keep_open.append(conn)
    else:
        conn.close()
