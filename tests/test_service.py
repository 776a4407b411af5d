"""The background service as a real process on a real clinic home: every kind of change
reaches the target, status, SIGTERM, kill -9, a second instance, offline, expired shares."""
from __future__ import annotations

import signal
import sqlite3
from datetime import date, timedelta

import pytest
from s3 import FaultProxy, aws_env, bucket_objects, moto_server, new_bucket  # noqa: F401
from service_kit import (ServiceProcess, admin_index, edit, patient_html, published, queue_length,
                         quietly, secret, status, uploads_done, wait_for)

from conftest import keys, make_clinic_db
from exporter import access, crypto, plan
from exporter.demo_data import write_demo_clinic
from exporter.home import load_home
from exporter.site import export_site
from siteread import NoDoor


@pytest.fixture
def running(home, tmp_path):
    svc = ServiceProcess(home.root, tmp_path / "service.out")
    yield svc
    svc.stop()


def up_to_date(home):
    code, st = status(home.root)
    return code == 0 and st["activity"] == "idle" and st["queue"] == 0 and st["last_publish"]


def diary_day(home, day):
    site = published(home)
    index = admin_index(home)
    door_id = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))[0]
    return site.diary(door_id, index["databases"][0], day[:7])["days"].get(day)


def test_each_kind_of_change_reaches_the_target(home, running):
    db = home.databases["main"].path
    wait_for("first publish", quietly(lambda: "Filling" in patient_html(home, "1001")))
    writers: list = []  # the clinic program keeps its connection: only the -wal changes
    edit(db, "UPDATE visits SET notes = 'crown fitted, review in May' WHERE id = 1", keep_open=writers)
    wait_for("the visit", quietly(lambda: "crown fitted, review in May" in patient_html(home, "1001")))

    edit(db, "UPDATE deals SET title = 'Bridge 3 units' WHERE id = 1", keep_open=writers)
    wait_for("the agreement", quietly(lambda: "Bridge 3 units" in patient_html(home, "1001")))

    edit(db, "INSERT INTO appointments (id, patient_id, date, time, duration_min, reason) "
             "VALUES (7, 3, '2026-11-27', '09:15', 45, 'Extraction')", keep_open=writers)
    wait_for("the appointment",
             quietly(lambda: (diary_day(home, "2026-11-27") or {}).get("appointments") == 1))

    edit(db, "DELETE FROM appointments WHERE patient_id = 2", "DELETE FROM patients WHERE id = 2",
         keep_open=writers)
    wait_for("the deletion", quietly(lambda: "1002" not in {
        p["card"] for p in admin_index(home)["databases"][0]["rows"]}))
    wait_for("deletes after the grace period", lambda: up_to_date(home))
    with pytest.raises(NoDoor):  # grace 0: the patient's doors are gone from the target too
        published(home).patient("1002", secret(home, "general_password"))
    for conn in writers:
        conn.close()

    code, st = status(home.root)
    assert code == 0 and st["running"] and st["responding"] and st["pid"] == running.pid
    assert st["last_success"] and st["last_error"] == "" and st["watching"] == ["main"]
    assert running.signal(signal.SIGTERM) == 0
    code, st = status(home.root)
    assert code == 3 and not st["running"] and st["activity"] == "stopped" and st["stopped"]
    log = (home.log_dir / "service.log").read_text()
    assert "service started" in log and "service stopped" in log


def test_second_instance_refuses_naming_the_pid(home, running, tmp_path):
    wait_for("the first to start", lambda: status(home.root)[1]["running"])
    second = ServiceProcess(home.root, tmp_path / "second.out")
    assert second.proc.wait(timeout=60) == 1
    out = second.output()
    assert f"already running for {home.root} (PID {running.pid})" in out
    assert "hint: see it with: chartseal service status" in out
    assert running.proc.poll() is None  # the first one is untouched
    assert running.signal(signal.SIGINT) == 0  # Ctrl+C stops it cleanly too
    assert status(home.root)[0] == 3


def leased(home):
    conn = sqlite3.connect(home.state_path, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL").fetchone()[0]
    finally:
        conn.close()


def test_sigterm_then_kill_9_while_draining_then_restart_completes(home, tmp_path):
    write_demo_clinic(tmp_path / "big.sqlite", patients=150, seed=3)
    home.databases["main"].path = tmp_path / "big.sqlite"
    home.save()
    slow = {"CHARTSEAL_PUBLISH_WORKERS": "1", "CHARTSEAL_PUBLISH_BATCH_GROUPS": "1"}
    first = ServiceProcess(home.root, tmp_path / "first.out", slow)
    wait_for("some uploads", lambda: uploads_done(home) >= 3 and queue_length(home) > 0)
    assert first.signal(signal.SIGTERM) == 0  # stops between rounds
    left = queue_length(home)
    assert left > 0, "the drain finished before the stop; the test proves nothing"
    assert leased(home) == 0  # every lease released: the next start takes over at once
    assert "job(s) stay queued for the next start" in first.output()

    second = ServiceProcess(home.root, tmp_path / "second.out", slow)
    done = uploads_done(home)
    wait_for("more uploads", lambda: uploads_done(home) >= done + 3 and queue_length(home) > 0)
    assert second.signal(signal.SIGKILL) == -signal.SIGKILL
    assert queue_length(home) > 0, "the drain finished before the kill; the test proves nothing"
    assert status(home.root)[0] == 3  # the kernel dropped the lock with the process

    third = ServiceProcess(home.root, tmp_path / "third.out")
    try:
        wait_for("the queue to finish", lambda: up_to_date(home))
    finally:
        third.stop()
    conn = home.connect_state()
    names = [o.name for o in plan.read_plan(conn)]
    conn.close()
    public = home.root / "public"
    for name in names:
        assert (public / name).read_bytes() == (home.site_dir / name).read_bytes(), name
    assert len(admin_index(home)["databases"][0]["rows"]) == 150


def test_expired_share_stops_working_on_the_next_publish(home, running):
    conn = keys(home)
    access.create_account(conn, "visitor", "visitor-pass-1", weak_ok=True)
    access.share(conn, "main", "visitor", ["1003"], until="2099-12-31")
    conn.close()  # a change to the keystore is published too

    def visitor():
        return published(home).account(secret(home, "login_password"), "visitor", "visitor-pass-1")[2]

    index = wait_for("the share", quietly(lambda: visitor()["databases"] and visitor()))
    old = index["databases"][0]["rows"][0]
    assert old["card"] == "1003"
    # A day passes: yesterday was the share's last day (written as the clock would make it).
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    conn = keys(home)
    with conn:
        conn.execute("UPDATE shares SET until = ? WHERE account = 'visitor'", (yesterday,))
    conn.close()
    wait_for("the expiry", quietly(lambda: visitor()["databases"] == []))
    wait_for("publish to finish", lambda: up_to_date(home))
    bundle = next(p["bundle"] for p in admin_index(home)["databases"][0]["rows"] if p["card"] == "1003")
    assert bundle != old["bundle"]
    with pytest.raises(crypto.CryptoError):  # the old content key cannot open what is published now
        published(home).open_record({**old, "bundle": bundle})
    conn = keys(home)
    assert access.list_shares(conn) == []
    conn.close()


def test_a_database_with_automatic_update_off_stays_as_last_exported(home, tmp_path):
    other = make_clinic_db(tmp_path / "other.sqlite")
    home = load_home(home.root)
    from exporter.home import Database

    home.databases["other"] = Database("other", other, auto_update=False)
    home.save()
    export_site(home)  # the manual export the switched-off database is published as
    svc = ServiceProcess(home.root, tmp_path / "svc.out")
    try:
        wait_for("first publish", lambda: up_to_date(home))
        edit(other, "UPDATE visits SET notes = 'SHOULD NOT APPEAR' WHERE id = 1")
        edit(home.databases["main"].path, "UPDATE visits SET notes = 'should appear' WHERE id = 1")
        wait_for("main's change", quietly(lambda: "should appear" in patient_html(home, "1001")))
        wait_for("publish to finish", lambda: up_to_date(home))
        st = status(home.root)[1]
        assert st["watching"] == ["main"] and st["paused"] == ["other"]
    finally:
        svc.stop()
    public = home.root / "public"
    conn = home.connect_state()
    names = [o.name for o in plan.read_plan(conn)]
    conn.close()
    assert all((public / n).exists() for n in names)
    texts = [patient_html(home, "1001")]
    assert "SHOULD NOT APPEAR" not in "".join(texts)


def test_a_missing_database_is_reported_and_picked_up_when_it_appears(home, tmp_path):
    db = home.databases["main"].path
    moved = db.with_name("elsewhere.sqlite")
    db.rename(moved)
    svc = ServiceProcess(home.root, tmp_path / "svc.out")
    try:
        st = wait_for("the error", lambda: (lambda s: s["last_error"] and s)(status(home.root)[1]))
        assert "database 'main'" in st["last_error"] and st["running"]
        moved.rename(db)
        # The rest of the site was published meanwhile: recovery is the database appearing.
        wait_for("recovery", quietly(lambda: "Filling" in patient_html(home, "1001")))
        assert svc.proc.poll() is None
    finally:
        svc.stop()


def test_offline_keeps_the_queue_and_retries_until_the_target_is_back(home, tmp_path, aws_env, moto_server):
    bucket = new_bucket(moto_server)
    proxy = FaultProxy(moto_server.url, rate=1.0, modes=("reset",))
    home.config["target"] = f"s3://{bucket}/site"
    home.config["endpoint_url"] = proxy.url
    home.save()
    svc = ServiceProcess(home.root, tmp_path / "svc.out")  # aws_env: test credentials
    try:
        def offline():
            code, st = status(home.root)
            return st["last_error"] and st["queue"] > 0 and st["activity"] == "waiting to retry" and st
        st = wait_for("an offline retry", offline)
        first_error_at = st["last_error_at"]
        wait_for("a second retry", lambda: status(home.root)[1]["last_error_at"] != first_error_at)
        assert bucket_objects(moto_server.url, bucket, "site") == {}
        assert svc.proc.poll() is None
        proxy.rate = 0.0  # the network is back
        wait_for("the upload", lambda: up_to_date(home))
        held = bucket_objects(moto_server.url, bucket, "site")
        assert f"c/{home.clinic_id}/site.json" in held
        assert "retrying" in (home.log_dir / "service.log").read_text()
    finally:
        svc.stop()
        proxy.close()


def test_notes_are_fetched_on_an_interval_and_their_change_published(home, tmp_path):
    import json as _json

    from notes_endpoint.inbox import FolderInbox
    from notes_endpoint.wire import note_json, parse_note
    from notes_kit import export_clinic, server_notes

    home.config["notes_url"] = "http://127.0.0.1:9/v1/notes"  # set: notes are on
    home.save()
    clinic = export_clinic(load_home(home.root))
    svc = ServiceProcess(home.root, tmp_path / "svc.out", {"CHARTSEAL_SERVICE_NOTES_SECONDS": "0.5"})
    try:
        wait_for("first publish", lambda: up_to_date(home))
        note = clinic.note(clinic.patient["1001"], "1001", "please call me back")
        parsed = parse_note(_json.dumps(note).encode())
        FolderInbox(home.root / "inbox").put_new(clinic.id, parsed.note_id, note_json(parsed, note["ts"]))
        rows = wait_for("the note", lambda: server_notes(home.databases["main"].path))
        assert [(r["card"], r["text"], r["author"]) for r in rows] == [
            ("1001", "please call me back", "patient")]
        # the inbox copy goes only after the note is stored, so it may still be there a moment
        wait_for("the inbox emptied", lambda: not list((home.root / "inbox" / clinic.id).glob("*.json")))
        wait_for("publish after the note", lambda: up_to_date(home))
        assert svc.proc.poll() is None
    finally:
        svc.stop()
