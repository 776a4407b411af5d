"""Publishing section in real Chromium: update all with live progress that survives a reload,
synchronize with its summary, the upload log's filters with error text, the target setting
with a connection test, and the CSRF guard on the job buttons."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import browser  # noqa: F401
from conftest import plan_map
from console_kit import base, console, console_page, navigates, open_console, shot  # noqa: F401
from s3 import FaultProxy, aws_env, moto_server, new_bucket  # noqa: F401

from exporter import keystore
from exporter.demo_data import write_demo_clinic
from exporter.home import Database, load_home
from publisher import progress, uploads

CHARTSEAL = str(Path(sys.executable).parent / "chartseal")
SHOTS = Path(os.environ.get("CHARTSEAL_PUBLISHING_SHOTS", "")) if os.environ.get("CHARTSEAL_PUBLISHING_SHOTS") else None


def cli(home, *args, env=None):
    return subprocess.run([CHARTSEAL, *args, "--home", str(home.root)], capture_output=True,
                          text=True, timeout=300, env=env)


def job_state(page) -> str:
    return page.locator("#job-state").inner_text()


def patient_cards(home) -> set[str]:
    conn = keystore.connect(home.keys_path)
    try:
        return {c for (c,) in conn.execute("SELECT card FROM patients")} if _has_table(conn) else set()
    finally:
        conn.close()


def _has_table(conn) -> bool:
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'patients'").fetchone())


@pytest.fixture
def slow_s3(aws_env, moto_server, monkeypatch):
    """moto's S3 behind a proxy that delays every request: a job lasts long enough to watch."""
    proxy = FaultProxy(moto_server.url, rate=1.0, modes=("slow",), slow_seconds=0.03)
    monkeypatch.setenv("CHARTSEAL_PUBLISH_WORKERS", "2")
    monkeypatch.setenv("CHARTSEAL_PUBLISH_BATCH_GROUPS", "20")
    yield proxy
    proxy.close()


@pytest.mark.browser
@pytest.mark.slow
def test_update_all_on_300_patients_shows_progress_through_a_reload(console_page, console, home, tmp_path,
                                                                     slow_s3, moto_server, request):
    page, watch = console_page
    write_demo_clinic(tmp_path / "demo.sqlite", patients=300, seed=11)
    home.databases["main"] = Database("main", tmp_path / "demo.sqlite")
    home.save()
    bucket = new_bucket(moto_server)
    assert cli(home, "config", "set", "target", f"s3://{bucket}/site").returncode == 0
    assert cli(home, "config", "set", "endpoint_url", slow_s3.url).returncode == 0

    open_console(page, console, "/publishing")
    assert page.locator("#job-none").is_visible()
    navigates(page, page.get_by_role("button", name="Update all patient data on the server now").click)
    assert "Send all patient data to the server again now?" in watch.dialogs[0]
    assert "started in the background" in page.locator("#notice").inner_text()

    # Live progress: the bar moves with objects sent / total, rate and time left.
    page.wait_for_function("() => /files sent/.test(document.querySelector('#job-counts').textContent)"
                           " && document.querySelector('#job-progress').value > 10", timeout=120_000)
    assert "uploading" in page.locator("#job-phase").inner_text()
    counts = page.locator("#job-counts").inner_text()
    sent, total = map(int, re.match(r"(\d+) of (\d+) files sent", counts).groups())
    assert 10 < sent < total
    page.wait_for_function("() => !document.querySelector('#job-speed').hidden", timeout=30_000)
    assert re.search(r"[\d.]+ files per second · about \d+:\d\d:\d\d left", page.locator("#job-speed").inner_text())
    assert page.get_by_role("button", name="Publish changes now").is_disabled()
    # The upload list's count is live too (the list itself is redrawn when the job ends).
    page.wait_for_function("() => /\\d+ waiting now/.test(document.querySelector('#queue-live').textContent)")
    assert page.locator("#queue-stale").is_visible() and not page.locator("#queue-empty").count()
    shot(page, "publishing-running")

    # A reload picks the running job up again ...
    page.reload()
    assert job_state(page) == "running"
    again = int(re.match(r"(\d+) of", page.locator("#job-counts").inner_text()).group(1))
    assert again >= sent
    # ... and so does a console opened after this one was closed: the job runs on its own.
    from console.server import start

    console.stop()
    reopened = start(home)
    request.addfinalizer(reopened.stop)
    open_console(page, reopened, "/publishing")
    # the page's last poll of the console just stopped may have been refused: expected
    watch.console_errors[:] = [e for e in watch.console_errors if "ERR_CONNECTION_REFUSED" not in e]
    assert job_state(page) == "running"
    later = int(re.match(r"(\d+) of", page.locator("#job-counts").inner_text()).group(1))
    assert later >= again
    page.wait_for_function("() => document.querySelector('#job-progress').value > %d" % later, timeout=60_000)

    # The page reloads itself when the job ends and shows the result.
    page.wait_for_function("() => document.querySelector('#job-state').textContent.trim() === 'finished'",
                           timeout=300_000)
    st = progress.read_status(home.root)
    assert (st.kind, st.state, st.summary["left"]) == ("publish-all", "done", 0)
    assert page.locator("#job-summary").is_visible()
    assert page.locator("#queue-empty").is_visible()
    ok = {u.patient for u in uploads.upload_status(load_home(home.root), "ok")}
    cards = patient_cards(home)
    assert len(cards) == 300 and cards <= ok
    assert not uploads.upload_status(load_home(home.root), "failed")
    assert page.locator("#log-table tbody tr").count() == 100  # the first page of 302 groups
    assert "Page 1 of 4" in page.locator("#log .pager").inner_text()
    assert not watch.page_errors and not watch.console_errors


@pytest.mark.browser
def test_synchronize_shows_what_it_found_and_fixed(console_page, console, home):
    page, watch = console_page
    assert cli(home, "publish").returncode == 0
    public = home.root / "public"
    victim = sorted(public.rglob("*.bin"))[0]
    victim.unlink()
    stray = public / f"c/{home.clinic_id}/obj/stray.bin"
    stray.write_bytes(b"x")
    open_console(page, console, "/publishing")
    assert "not been synchronized yet" in page.locator("#sync").inner_text()
    navigates(page, page.get_by_role("button", name="Synchronize the server").click)
    page.wait_for_function("() => document.querySelector('#sync-summary') !== null", timeout=60_000)
    rows = {r.get_attribute("data-count"): r.locator("td").nth(1).inner_text()
            for r in page.locator("#sync-summary tbody tr").all()}
    assert (rows["missing"], rows["orphaned"], rows["repaired"], rows["deleted"], rows["failed"]) == \
        ("1", "1", "1", "1", "0")
    assert "Everything found was repaired." in page.locator("#sync").inner_text()
    assert victim.exists() and not stray.exists()
    assert not watch.page_errors and not watch.console_errors


def _one_patient_object(home) -> tuple[str, str]:
    """A patient's object name and the patient's card (the export must have run)."""
    conn = keystore.connect(home.keys_path)
    try:
        for name, obj in sorted(plan_map(home).items()):
            card = keystore.card_for_rid(conn, obj.group)
            if card and "/obj/" in name:
                return name, card
    finally:
        conn.close()
    raise AssertionError("no patient object in the plan")


@pytest.mark.browser
def test_failed_filter_shows_the_error_text(console_page, console, home):
    page, watch = console_page
    assert cli(home, "publish", "--dry-run").returncode == 0  # exports, sends nothing
    name, card = _one_patient_object(home)
    # A folder where that object must go: its upload fails, every other patient's succeeds.
    (home.root / "public" / name).mkdir(parents=True)
    env = dict(os.environ, CHARTSEAL_PUBLISH_BACKOFF_BASE="0.01", CHARTSEAL_PUBLISH_ATTEMPTS_PER_RUN="2")
    assert cli(home, "publish", env=env).returncode == 1
    open_console(page, console, "/publishing")
    navigates(page, page.locator("#log-failed").click)
    assert page.locator("#log-failed").get_attribute("aria-current") == "page"
    row = page.locator("#log-table tbody tr", has_text=card)
    assert row.count() == 1
    assert "Is a directory" in row.locator(".error-text").inner_text()
    assert all(r.get_attribute("data-status") == "failed" for r in page.locator("#log-table tbody tr").all())
    navigates(page, page.locator("#log-ok").click)
    assert page.locator("#log-table tbody tr", has_text=card).count() == 0
    assert page.locator("#log-table tbody tr").count() >= 1
    # The upload list says why the patient still waits.
    assert page.locator("#queue-table tbody tr", has_text=card).count() == 1
    # The job line reports the failure with its hint.
    assert "still queued" in page.locator("#job-error").inner_text()
    assert not watch.page_errors and not watch.console_errors


@pytest.mark.browser
@pytest.mark.parametrize("value,text", [
    ("ftp://example.org/site", "expected file:///path or s3://bucket/prefix"),
    ("s3://", "expected file:///path or s3://bucket/prefix"),
    ("file://server/share", "expected file:///path or s3://bucket/prefix"),
])
def test_a_bad_target_is_shown_next_to_the_field_and_changes_nothing(console_page, console, home, value, text):
    page, watch = console_page
    before = (home.root / "config.toml").read_bytes()
    open_console(page, console, "/publishing")
    page.get_by_label("Target", exact=True).fill(value)
    page.get_by_label("Region", exact=True).fill("eu-west-1")
    navigates(page, page.get_by_role("button", name="Save").click)
    err = page.locator("#target-error")
    assert text in err.inner_text()
    assert page.get_by_label("Target", exact=True).get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Target", exact=True).input_value() == value  # kept for fixing
    assert (home.root / "config.toml").read_bytes() == before  # region not saved either
    navigates(page, page.get_by_role("button", name="Test connection").click)
    assert text in page.locator("#target-error").inner_text()
    assert (home.root / "config.toml").read_bytes() == before
    assert not watch.page_errors


@pytest.mark.browser
def test_test_connection_reports_an_unreachable_bucket_and_saves_a_good_target(console_page, console, home,
                                                                                aws_env, moto_server, tmp_path):
    page, watch = console_page
    before = (home.root / "config.toml").read_bytes()
    open_console(page, console, "/publishing")
    page.get_by_label("Target", exact=True).fill("s3://no-such-bucket-here/site")
    page.get_by_label("S3 endpoint URL (only for S3-compatible stores)").fill(moto_server.url)
    navigates(page, page.get_by_role("button", name="Test connection").click)
    err = page.locator("#target-error").inner_text()
    assert "the bucket does not exist" in err and "create the bucket" in err
    assert (home.root / "config.toml").read_bytes() == before

    good = (tmp_path / "www").as_uri()
    page.get_by_label("Target", exact=True).fill(good)
    page.get_by_label("S3 endpoint URL (only for S3-compatible stores)").fill("")
    navigates(page, page.get_by_role("button", name="Test connection").click)
    probe = page.locator("#probe-ok").inner_text()
    assert probe.startswith("Connected to") and good in probe and "written and deleted" in probe
    assert (home.root / "config.toml").read_bytes() == before  # a test saves nothing
    navigates(page, page.get_by_role("button", name="Save").click)
    assert "Server address saved." in page.locator("#notice").inner_text()
    assert load_home(home.root).config["target"] == good
    assert "target = " in cli(home, "config", "show").stdout and good in cli(home, "config", "show").stdout
    assert not watch.page_errors  # the failed test answered 400, which the console logs


@pytest.mark.browser
def test_job_buttons_need_the_csrf_token_and_a_second_start_says_what_runs(console_page, console, home):
    page, _watch = console_page
    open_console(page, console, "/publishing")
    res = page.request.post(f"{base(console)}/publishing/start", form={"kind": "publish-all"})
    assert res.status == 403
    assert progress.read_status(home.root) is None
    assert json.loads(page.request.get(f"{base(console)}/publishing/job.json").text()) is None
    # While a job holds the lock, a start is refused with what is running, next to the buttons.
    from publisher.joblock import JobLock

    lock = JobLock(home.root)
    lock.acquire()
    try:
        progress.write_status(home.root, progress.JobStatus(
            id="held", kind="sync-repair", pid=os.getpid(), state="running", phase="listing",
            started=1.0e9))
        page.reload()
        assert page.get_by_role("button", name="Publish changes now").is_disabled()
        data = json.loads(page.request.get(f"{base(console)}/publishing/job.json").text())
        assert (data["id"], data["state"], data["phase_text"]) == ("held", "running", "reading the server")
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        res = page.request.post(f"{base(console)}/publishing/start", form={"kind": "publish", "csrf": csrf})
        assert res.status == 409
        assert "another publish or sync is running for this clinic: Synchronize the server" in res.text()
    finally:
        lock.release()
    assert progress.read_status(home.root).id == "held" or progress.read_status(home.root).state == "stopped"


@pytest.mark.browser
def test_publishing_page_in_arabic_is_right_to_left(console_page, console, home, tmp_path):
    page, watch = console_page
    assert cli(home, "publish").returncode == 0
    open_console(page, console, "/publishing")
    navigates(page, page.get_by_role("button", name="العربية").click)
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.get_by_role("button", name="تحديث كل بيانات المرضى على الخادم الآن").is_visible()
    assert page.locator("#job-state").inner_text() == "انتهى"
    _screens(page, "ar")
    navigates(page, page.get_by_role("button", name="English").click)
    _screens(page, "en")
    assert not watch.page_errors and not watch.console_errors


def _screens(page, lang: str) -> None:
    """Screenshots for review (CHARTSEAL_PUBLISHING_SHOTS=DIR) and for docs (make console-shots)."""
    shot(page, f"publishing-{lang}")
    if SHOTS is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"publishing-{lang}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})


@pytest.mark.browser
def test_records_the_export_could_not_publish_are_listed(console_page, console, home, tmp_path):
    page, watch = console_page
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database\n" * 100)
    home.databases["other"] = Database("other", junk)
    home.save()
    assert cli(home, "publish").returncode == 0  # the readable database is published
    open_console(page, console, "/publishing")
    row = page.locator("#problems-table tbody tr", has_text="other")
    assert row.count() == 1 and row.get_attribute("data-outcome") == "skipped"
    assert "not a readable SQLite database" in row.locator(".error-text").inner_text()
    navigates(page, page.locator("#log-ok").click)  # only uploads that went through
    assert page.locator("#problems-table").count() == 0
    navigates(page, page.locator("#log-failed").click)
    assert page.locator("#problems-table tbody tr", has_text="other").count() == 1
    assert not watch.page_errors and not watch.console_errors
