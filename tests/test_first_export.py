"""A first export runs in the background and survives its process being killed.

At 50,000 patients the first export is bounded by Argon2id (hours on two cores): the job
shows the key derivation's progress with a time left, a kill -9 (or a reboot) leaves a
status that says how to continue, and the next publish derives only the keys still missing.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from exporter.home import load_home
from publisher import progress
from publisher.progress import JobStatus, resume_command
from publisher.publish import publish

PATIENTS = 300
DOORS = PATIENTS + 2  # and the admin account's door and the general door


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def derived(home: Path) -> int:
    """Door keys in the keystore: patients, accounts and the general door."""
    conn = sqlite3.connect(home / "keys.sqlite")
    try:
        return sum(conn.execute(sql).fetchone()[0] for sql in (
            "SELECT count(*) FROM patients WHERE door_id IS NOT NULL",
            "SELECT count(*) FROM accounts WHERE door_id IS NOT NULL",
            "SELECT count(*) FROM secrets WHERE name = 'general_door_id'"))
    finally:
        conn.close()


def status(home: Path) -> dict:
    try:
        return json.loads((home / progress.STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def wait_for(what, check, timeout=180.0):
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_kill_9_during_key_derivation_then_publish_derives_only_the_rest(tmp_path):
    home = tmp_path / "home"
    # Argon2id heavy enough that 302 doors take many seconds on a busy machine.
    run("init", "--home", home, "--kdf-ops", 2, "--kdf-mem", 32 * 1024 * 1024)
    run("demo-data", "--patients", PATIENTS, tmp_path / "main.sqlite")
    run("db", "add", "main", tmp_path / "main.sqlite", "--home", home)
    run("config", "set", "target", f"file://{tmp_path / 'site'}", "--home", home)
    run("publish", "--background", "--home", home)

    # The status file shows the derivation with its count and, once measured, a time left.
    st = wait_for("key derivation with a time left", lambda: (
        lambda s: s if s.get("phase") == "deriving keys" and s.get("eta") is not None
        and s.get("done", 0) >= 10 else None)(status(home)))
    assert st["total"] == DOORS and st["state"] == "running" and st["rate"] > 0
    running = run("jobs", "--home", home).output
    assert f"of {DOORS} keys derived" in running and "keys/s, about" in running, running
    os.kill(st["pid"], signal.SIGKILL)  # as a power cut or a reboot would
    # The process reads as gone once its main thread is a zombie; its Argon2id threads may
    # hold the job lock a moment longer, until the kernel has ended them too.
    wait_for("the job to read as stopped",
             lambda: not _alive(st["pid"]) and progress.read_status(home).state == "stopped")
    kept = derived(home)
    assert 10 <= kept < DOORS, kept

    shown = run("jobs", "--home", home, ok=False)
    assert shown.exit_code == 1, shown.output
    assert "state:     stopped (during deriving keys)" in shown.output
    assert "resume:    chartseal publish --background" in shown.output
    assert "keys derived so far are kept" in shown.output

    # The next publish derives only what is missing, then publishes the whole site.
    steps: list[tuple[str, int, int]] = []
    report = publish(load_home(home), phase=lambda name, done, total: steps.append((name, done, total)))
    totals = {total for name, _done, total in steps if name == "deriving keys"}
    assert totals == {DOORS - kept}, (totals, kept)
    assert derived(home) == DOORS
    assert report.left == 0 and not report.failed
    published = {p.relative_to(tmp_path / "site").as_posix()
                 for p in (tmp_path / "site").rglob("*") if p.is_file()}
    conn = sqlite3.connect(home / "state.sqlite")
    planned = {n for (n,) in conn.execute("SELECT name FROM plan")}
    conn.close()
    assert planned and planned <= published


def _alive(pid: int) -> bool:
    from publisher.detached import pid_alive

    return pid_alive(pid)


@pytest.mark.parametrize(("kind", "phase", "command"), [
    ("publish", "deriving keys", "chartseal publish --background"),
    ("publish", "uploading", "chartseal publish --background"),
    # Not queued yet: nothing is marked to be sent again, so it must be an update-all again.
    ("publish-all", "deriving keys", "chartseal publish --all --background"),
    ("publish-all", "exporting", "chartseal publish --all --background"),
    # Queued: every object is marked; another --all would send the ones already sent again.
    ("publish-all", "uploading", "chartseal publish --background"),
    ("sync", "listing", "chartseal sync --background"),
    ("sync-repair", "repairing", "chartseal sync --repair --background"),
])
def test_resume_command_depends_on_the_kind_and_how_far_it_got(kind, phase, command):
    assert resume_command(JobStatus(id="x", kind=kind, phase=phase)) == command


def test_a_stopped_job_says_how_to_continue(tmp_path):
    root = tmp_path
    st = JobStatus(id="x", kind="publish-all", pid=2 ** 22 + 17, state="running",
                   phase="deriving keys", done=40, total=302, started=1.0, updated=2.0)
    progress.write_status(root, st)
    read = progress.read_status(root)
    assert read.state == "stopped"
    assert "chartseal publish --all --background" in read.hint
    assert "keys derived so far are kept" in read.hint
