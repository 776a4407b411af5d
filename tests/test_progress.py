"""Publishing jobs: progress recorded in the home, one job at a time, background runs that
outlive their starter, kill -9 read as "stopped", and the CLI that shows them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from s3 import FaultProxy, aws_env, moto_server, new_bucket  # noqa: F401

from exporter.demo_data import write_demo_clinic
from exporter.home import Database, load_home
from publisher import background, progress
from publisher.detached import pid_alive
from publisher.joblock import JobLock, JobRunning, lock_holder

CHARTSEAL = str(Path(sys.executable).parent / "chartseal")


def cli(home, *args, env=None):
    return subprocess.run([CHARTSEAL, *args, "--home", str(home.root)], capture_output=True,
                          text=True, timeout=300, env=env)


def wait_for(what, check, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def uploaded_cards(home):
    out = cli(home, "log", "--json").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return {r["patient"] for r in rows if r["status"] == "ok"}, {r["patient"] for r in rows if r["status"] != "ok"}


@pytest.fixture
def big_home(home, tmp_path):
    """The shared home with a 120-patient demo database instead of the 3-patient sample."""
    write_demo_clinic(tmp_path / "demo.sqlite", patients=120, seed=3)
    home.databases["main"] = Database("main", tmp_path / "demo.sqlite")
    home.save()
    return load_home(home.root)


# -- the tracker ------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_tracker_measures_rate_and_time_left(home):
    clock = Clock()
    lock = JobLock(home.root)
    lock.acquire()  # as a real job holds it
    tr = progress.Tracker(home.root, "j1", "publish-all", "terminal", clock)
    tr.phase("uploading", 0, 1000)
    for _ in range(10):
        clock.t += 1.0
        tr.sent(20, 2000)
    st = progress.read_status(home.root)
    assert (st.state, st.phase, st.done, st.total, st.sent_bytes) == ("running", "uploading", 200, 1000, 20000)
    assert st.rate == pytest.approx(20.0)
    assert st.eta == pytest.approx(40.0)
    # A new phase starts its own rate.
    tr.phase("deleting")
    st = progress.read_status(home.root)
    assert st.phase == "deleting" and st.rate == 0 and st.eta is None
    tr.finish({"uploaded": 200})
    st = progress.read_status(home.root)
    assert (st.state, st.phase, st.summary, st.error) == ("done", "finished", {"uploaded": 200}, "")
    lock.release()


def test_a_running_status_whose_process_is_gone_reads_as_stopped(home):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    st = progress.JobStatus(id="x", kind="publish-all", pid=dead.pid, state="running",
                            phase="uploading", done=5, total=9, started=time.time() - 5,
                            updated=time.time() - 1, rate=3.0, eta=2.0)
    progress.write_status(home.root, st)
    got = progress.read_status(home.root)
    assert got.state == "stopped" and not got.active
    assert "stopped before it finished" in got.error and "during uploading" in got.error
    assert "nothing queued is lost" in got.hint
    assert got.rate == 0 and got.eta is None
    # While some process holds the job lock, the same file reads as running.
    with JobLock(home.root):
        assert progress.read_status(home.root).state == "running"


def test_a_damaged_status_file_reads_as_unknown_and_does_not_block(home):
    progress.status_path(home.root).write_text("{not json")
    st = progress.read_status(home.root)
    assert st.state == "failed" and "unreadable" in st.error
    done = cli(home, "publish")
    assert done.returncode == 0, done.stderr
    assert progress.read_status(home.root).state == "done"


# -- foreground and background runs ------------------------------------------------------
def test_a_terminal_publish_records_its_job(home):
    done = cli(home, "publish")
    assert done.returncode == 0, done.stderr
    st = progress.read_status(home.root)
    assert (st.kind, st.origin, st.state) == ("publish", "terminal", "done")
    assert st.total > 0 and st.done == st.total == st.summary["uploaded"]
    shown = cli(home, "jobs")
    assert shown.returncode == 0 and "Publish changes (terminal" in shown.stdout
    assert json.loads(cli(home, "jobs", "--json").stdout)["summary"]["left"] == 0


def test_no_job_yet(home):
    shown = cli(home, "jobs")
    assert shown.returncode == 0 and "no publishing job has run yet" in shown.stdout
    assert cli(home, "jobs", "--json").stdout.strip() == "null"


def test_update_all_in_the_background_uploads_every_patient(big_home):
    home = big_home
    started = cli(home, "publish", "--all", "--background")
    assert started.returncode == 0, started.stderr
    assert "started in the background: Update all patient data" in started.stdout
    followed = cli(home, "jobs", "--follow")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    st = progress.read_status(home.root)
    assert (st.kind, st.origin, st.state) == ("publish-all", "background", "done")
    assert st.summary["uploaded"] == st.total > 120 and st.summary["left"] == 0
    ok, failed = uploaded_cards(home)
    cards = {c for c in ok if c[0].isdigit()}
    assert len(cards) == 120 and not failed
    log = (home.root / "logs" / "jobs.log").read_text()
    assert f"start: chartseal publish --all --job {st.id}" in log and "published" in log


def test_a_second_job_is_refused_and_names_the_running_one(home):
    holder = JobLock(home.root)
    holder.acquire()
    try:
        progress.write_status(home.root, progress.JobStatus(
            id="a", kind="publish-all", pid=os.getpid(), state="running", phase="uploading",
            done=120, total=900, started=time.time()))
        with pytest.raises(JobRunning) as err:
            background.start_job(home, "sync-repair")
        assert "Update all patient data" in str(err.value) and "120/900" in str(err.value)
        assert "chartseal jobs" in err.value.hint
        refused = cli(home, "publish")
        assert refused.returncode == 1
        assert "error: another publish or sync is running" in refused.stderr
        assert "hint: watch it with: chartseal jobs" in refused.stderr
        assert cli(home, "sync", "--repair", "--background").returncode == 1
    finally:
        holder.release()
    # The refused runs left the running job's status alone.
    assert progress.read_status(home.root).id == "a"
    assert lock_holder(home.root) is None


def test_background_refuses_one_off_overrides(home):
    res = cli(home, "publish", "--background", "--target", "file:///tmp/elsewhere")
    assert res.returncode == 1 and "saved settings only" in res.stderr
    assert progress.read_status(home.root) is None


def test_sync_repair_job_summarises_what_it_found_and_fixed(home):
    assert cli(home, "publish").returncode == 0
    public = home.root / "public"
    victim = next(p for p in sorted(public.rglob("*.bin")))
    victim.unlink()
    stray = public / f"c/{home.clinic_id}/obj/stray.bin"
    stray.write_bytes(b"x")
    assert cli(home, "sync", "--repair", "--background").returncode == 0
    wait_for("the sync job", lambda: not progress.read_status(home.root).active)
    st = progress.read_status(home.root)
    assert (st.kind, st.state) == ("sync-repair", "done"), st
    s = st.summary
    assert (s["missing"], s["orphaned"], s["repaired"], s["deleted"], s["failed"]) == (1, 1, 1, 1, 0)
    assert victim.exists() and not stray.exists()
    # A publish after it leaves the sync's findings readable.
    assert cli(home, "publish").returncode == 0
    assert progress.read_status(home.root).kind == "publish"
    last = progress.read_last(home.root, "sync")
    assert last.id == st.id and last.summary["repaired"] == 1
    assert progress.read_last(home.root, "publish").kind == "publish"


# -- kill -9 of a background job over a slow S3 --------------------------------------------
@pytest.fixture
def slow_s3(aws_env, moto_server, monkeypatch):
    proxy = FaultProxy(moto_server.url, rate=1.0, modes=("slow",), slow_seconds=0.05)
    monkeypatch.setenv("CHARTSEAL_PUBLISH_WORKERS", "2")
    monkeypatch.setenv("CHARTSEAL_PUBLISH_BATCH_GROUPS", "10")
    yield proxy
    proxy.close()


@pytest.mark.slow
def test_kill_nine_of_a_background_job_reads_as_stopped_and_nothing_is_lost(big_home, slow_s3, moto_server):
    home = big_home
    bucket = new_bucket(moto_server)
    assert cli(home, "config", "set", "target", f"s3://{bucket}/site").returncode == 0
    assert cli(home, "config", "set", "endpoint_url", slow_s3.url).returncode == 0
    st = background.start_job(load_home(home.root), "publish-all")
    assert st.state == "starting" and pid_alive(st.pid)
    running = wait_for("uploads to start", lambda: (lambda s: s if s.phase == "uploading" and s.done > 150
                                                     else None)(progress.read_status(home.root)))
    assert running.state == "running" and running.total > running.done
    os.kill(st.pid, signal.SIGKILL)
    # The kernel drops the lock once the last of the process's threads is gone, which may
    # be a moment after its main thread became a zombie.
    stopped = wait_for("the job to read as stopped", lambda: (lambda s: s if s.state != "running"
                                                               else None)(progress.read_status(home.root)))
    assert not pid_alive(st.pid)
    assert stopped.state == "stopped" and "process" in stopped.error and "gone" in stopped.error
    shown = cli(home, "jobs")
    assert shown.returncode == 1 and "state:     stopped (during uploading)" in shown.stdout
    assert "hint: nothing queued is lost" in shown.stdout
    # The next publish continues from the durable queue and the resend marks.
    slow_s3.rate = 0.0
    again = cli(home, "publish")
    assert again.returncode == 0, again.stderr
    assert 0 < progress.read_status(home.root).summary["uploaded"] < running.total
    ok, failed = uploaded_cards(home)
    assert len({c for c in ok if c[0].isdigit()}) == 120 and not failed
    assert "nothing to publish" in cli(home, "publish").stdout


# -- test-target --------------------------------------------------------------------------
def test_test_target_writes_and_deletes_a_probe(home):
    res = cli(home, "test-target")
    assert res.returncode == 0, res.stderr
    assert "reachable" in res.stdout and "wrote and deleted a test file" in res.stdout
    assert not list((home.root / "public").rglob("probe-*"))


def test_test_target_reports_bad_targets_with_a_hint(home, tmp_path, aws_env, moto_server):
    bad = cli(home, "test-target", "ftp://example.org/x")
    assert bad.returncode == 1
    assert "error: unknown target 'ftp://example.org/x'" in bad.stderr and "hint: expected" in bad.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = cli(home, "test-target", (blocker / "site").as_uri())
    assert res.returncode == 1 and "error: cannot write" in res.stderr, res.stderr


def test_test_target_reports_a_missing_bucket(home, aws_env, moto_server):
    res = cli(home, "test-target", "s3://no-such-bucket-here/site", "--endpoint-url", moto_server.url)
    assert res.returncode == 1
    assert res.stderr.startswith("error: ") and "no-such-bucket-here" in res.stderr
    assert "\nhint: " in res.stderr


def test_a_job_that_dies_before_it_starts_reads_as_stopped_and_points_at_its_log(home, monkeypatch):
    # The detached process refuses the home (weak test keys without the test switch) and
    # exits before it takes the lock: the status it was started with must not stay "starting".
    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "0")
    st = background.start_job(home, "publish")
    wait_for("the job process to exit", lambda: not pid_alive(st.pid))
    got = wait_for("the stopped status", lambda: (lambda s: s if s.state == "stopped" else None)(
        progress.read_status(home.root)))
    assert got.id == st.id and "during starting" in got.error
    assert str(home.root / "logs" / "jobs.log") in got.hint
    assert "error: key derivation below 64 MiB" in (home.root / "logs" / "jobs.log").read_text()


def test_a_background_job_that_fails_keeps_its_error_and_hint(home, aws_env, moto_server):
    assert cli(home, "config", "set", "target", "s3://no-such-bucket-here/site").returncode == 0
    assert cli(home, "config", "set", "endpoint_url", moto_server.url).returncode == 0
    st = background.start_job(home, "publish-all")
    got = wait_for("the job to end", lambda: (lambda s: s if not s.active else None)(progress.read_status(home.root)))
    assert got.id == st.id and got.state == "failed"
    assert "the bucket does not exist" in got.error and "create the bucket" in got.hint
    shown = cli(home, "jobs")
    assert shown.returncode == 1 and "error: the bucket does not exist" in shown.stdout
    # Nothing was lost: every group is still in the upload list.
    assert cli(home, "queue", "--json").stdout.count("\n") >= 5


def test_a_job_spawned_but_not_yet_locked_counts_as_running(home):
    # Between the starter letting go of the lock and the new process taking it, a second
    # start (another console) must still see the first one.
    progress.write_status(home.root, progress.JobStatus(
        id="b", kind="publish-all", pid=os.getpid(), state="starting", started=time.time()))
    with pytest.raises(JobRunning) as err:
        background.start_job(home, "publish")
    assert "Update all patient data" in str(err.value)
    assert progress.read_status(home.root).id == "b"
    # Once that process is gone and the grace has passed, a start goes ahead.
    progress.write_status(home.root, progress.JobStatus(
        id="b", kind="publish-all", pid=os.getpid(), state="starting", started=time.time() - 3600))
    st = background.start_job(home, "publish")
    assert st.id != "b"
    wait_for("the job to end", lambda: not progress.read_status(home.root).active)
    assert progress.read_status(home.root).state == "done"
