"""Bulk upload: confirmations are written in short batches that never hold the state
database's write lock while uploads run; small bodies go without waiting for 100 Continue."""
from __future__ import annotations

import sqlite3
import threading

from s3 import FakeSite, aws_env, make_home, moto_server, new_bucket  # noqa: F401

from publisher import jobs, state
from publisher.policy import Policy
from publisher.publish import _Recorder, connect, queue_changes, run_queue
from publisher.s3target import CONTINUE_FROM, S3Target
from publisher.targets import FileTarget

POLICY = Policy(grace_seconds=0, backoff_base=0.01, backoff_cap=0.05)


class Watching(FileTarget):
    """A folder target that, during every upload, tries to write the state database."""

    def __init__(self, root, state_path) -> None:
        super().__init__(root)
        self.state_path = state_path
        self.local = threading.local()
        self.blocked = 0
        self.puts = 0
        self.lock = threading.Lock()

    def put(self, name, data, content_type, cache_control):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            # A short wait covers the run's own brief transactions, never a lock held
            # across uploads.
            conn = self.local.conn = sqlite3.connect(self.state_path, timeout=0.25,
                                                     isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            with self.lock:
                self.blocked += 1
        with self.lock:
            self.puts += 1
        return super().put(name, data, content_type, cache_control)


def test_uploads_run_without_holding_the_write_lock(tmp_path):
    home = make_home(tmp_path / "home", f"file://{tmp_path / 'site'}")
    site = FakeSite(home, patients=120)
    n = len(site.write())
    conn = connect(home)
    target = Watching(tmp_path / "site", home.state_path)
    target.state_key = f"file://{tmp_path / 'site'}"
    queue_changes(conn, target.state_key, False, 1.0)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    report = run_queue(conn, target, home.site_dir, POLICY)
    conn.set_trace_callback(None)
    assert report.uploaded == n == target.puts and report.left == 0
    # Another writer (the service, the console) was never kept waiting by an upload run.
    assert target.blocked == 0
    # Confirmations were written in a few batches, not one statement per object...
    inserts = [s for s in statements if s.startswith("INSERT INTO published")]
    assert len(inserts) == n  # executemany traces each row
    commits = sum(1 for s in statements if s == "COMMIT")
    assert commits < n / 10, commits
    assert conn.execute("SELECT count(*) FROM published").fetchone()[0] == n
    conn.close()


def test_a_batch_not_yet_written_is_sent_again_after_a_crash(tmp_path):
    """Confirmations wait in memory for their batch: lost in a kill -9, never invented."""
    home = make_home(tmp_path / "home", f"file://{tmp_path / 'site'}")
    site = FakeSite(home, patients=3)
    objs = [o for _d, o in site.write().values()]
    conn = connect(home)
    key = "file://x"
    rec = _Recorder(conn, key, POLICY, jobs.new_owner(), lambda: 5.0, None)
    for o in objs[:3]:
        rec(o, "etag", 10)
    # Not flushed yet (the batch is neither full nor a second old): nothing is recorded.
    assert conn.execute("SELECT count(*) FROM published").fetchone()[0] == 0
    other = connect(home)
    assert len(state.pending(other, key)) == len(objs)  # a crash now: all sent again
    rec.flush()
    assert len(state.pending(other, key)) == len(objs) - 3
    other.close()
    conn.close()


def test_small_bodies_skip_100_continue_and_large_ones_keep_it(aws_env, moto_server):
    bucket = new_bucket(moto_server)
    target = S3Target(bucket, "site", moto_server.url, "us-east-1", POLICY)
    sent: list[dict] = []
    target.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_kw: sent.append(dict(request.headers)))
    target.put("c/1/obj/small.bin", b"x" * 900, "application/octet-stream", "no-cache")
    target.put("c/1/obj/large.bin", b"x" * CONTINUE_FROM, "application/octet-stream", "no-cache")
    assert "Expect" not in sent[0]
    assert sent[1].get("Expect") == b"100-continue"
