"""The durable queue: backoff with jitter, exclusive leases, takeover from a dead worker,
and jobs that survive the process."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest

from s3 import make_home

from publisher import jobs
from publisher.policy import Policy
from publisher.publish import connect

POLICY = Policy(backoff_base=1.0, backoff_cap=60.0, lease_seconds=30.0)
T = "file:///tmp/target"


@pytest.fixture
def conn(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "1")
    home = make_home(tmp_path / "home")
    c = connect(home)
    yield c
    c.close()


def test_backoff_grows_is_capped_and_jittered():
    rng = random.Random(4)
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (30, 60)]:
        delays = [jobs.backoff(attempts, POLICY, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 150  # spread out, not in lockstep


def test_policy_from_environment():
    p = Policy.from_env({"CHARTSEAL_PUBLISH_GRACE_SECONDS": "0", "CHARTSEAL_PUBLISH_DELETE_CAP": "3"})
    assert p.grace_seconds == 0 and p.delete_cap == 3 and p.workers == Policy().workers
    with pytest.raises(ValueError, match="expected a number"):
        Policy.from_env({"CHARTSEAL_PUBLISH_WORKERS": "many"})


def test_state_database_is_durable(conn):
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_claim_is_exclusive_and_ordered(conn):
    with jobs.immediate(conn):
        jobs.enqueue(conn, T, {"app": "changed", "clinic": "changed", "r1": "changed", "r2": "changed"}, 100.0)
    a, b = "host:1:a", "host:2:b"
    got = jobs.claim(conn, T, a, 100.0, 3, set(), POLICY)
    assert got == ["r1", "r2", "clinic"]  # patients first, app pages last
    # b may not take what a holds while a's lease runs (a's host is not this machine).
    assert jobs.claim(conn, T, b, 110.0, 10, set(), POLICY) == ["app"]
    assert jobs.claim(conn, T, b, 131.0, 10, set(), POLICY) == ["r1", "r2", "clinic", "app"]


def test_dead_owner_lease_is_taken_over_at_once(conn):
    with jobs.immediate(conn):
        jobs.enqueue(conn, T, {"r1": "changed"}, 100.0)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: its pid is gone
    import socket

    dead = f"{socket.gethostname()}:{proc.pid}:x"
    alive = jobs.new_owner()  # this very process
    assert jobs.claim(conn, T, dead, 100.0, 10, set(), POLICY) == ["r1"]
    assert jobs.claim(conn, T, "other", 101.0, 10, set(), POLICY) == ["r1"]
    assert jobs.claim(conn, T, alive, 102.0, 10, set(), POLICY) == []  # "other" is remote: lease holds
    jobs.release(conn, T, "other")
    assert jobs.claim(conn, T, alive, 102.0, 10, set(), POLICY) == ["r1"]
    assert jobs.claim(conn, T, jobs.new_owner(), 103.0, 10, set(), POLICY) == []  # alive here


def test_fail_backs_off_and_keeps_the_error(conn):
    with jobs.immediate(conn):
        jobs.enqueue(conn, T, {"r1": "changed"}, 100.0)
    jobs.claim(conn, T, "w", 100.0, 10, set(), POLICY)
    with jobs.immediate(conn):
        due1 = jobs.fail(conn, T, "r1", "503 SlowDown", 100.0, POLICY)
    assert 100.5 <= due1 <= 101.0
    assert jobs.claim(conn, T, "w", 100.2, 10, set(), POLICY) == []  # not due yet
    assert jobs.next_due(conn, T, "w", set(), 100.2) == due1
    jobs.claim(conn, T, "w", due1, 10, set(), POLICY)
    with jobs.immediate(conn):
        due2 = jobs.fail(conn, T, "r1", "reset", due1, POLICY)
        jobs.enqueue(conn, T, {"r1": "changed"}, due1)  # a new change keeps the backoff
    assert due1 + 1.0 <= due2 <= due1 + 2.0
    (job,) = jobs.list_jobs(conn, T)
    assert (job.attempts, job.last_error, job.next_at, job.lease_owner) == (2, "reset", due2, None)
    assert job.reason == "retry after error"
    log = conn.execute("SELECT ok, error FROM upload_log ORDER BY id").fetchall()
    assert log == [(0, "503 SlowDown"), (0, "reset")]


def test_jobs_survive_a_reopened_database(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "1")
    home = make_home(tmp_path / "home")
    c = connect(home)
    with jobs.immediate(c):
        jobs.enqueue(c, T, {"r1": "update all", "clinic": "changed"}, 1.0)
    c.close()
    c = connect(home)
    assert [(j.grp, j.reason) for j in jobs.list_jobs(c, T)] == [("r1", "update all"), ("clinic", "changed")]
    c.close()


def test_complete_removes_the_job_and_logs(conn):
    with jobs.immediate(conn):
        jobs.enqueue(conn, T, {"r1": "changed"}, 1.0)
        jobs.complete(conn, T, "r1", 3, 1200, 2.0)
    assert jobs.list_jobs(conn) == []
    assert conn.execute("SELECT ok, objects, bytes FROM upload_log").fetchall() == [(1, 3, 1200)]


def test_state_tables_of_an_older_layout_are_rebuilt_with_their_rows(tmp_path):
    """`published` and `sending` were WITHOUT ROWID tables; an index's half-megabyte refs in
    such a table slowed every lookup down, so an older state database is rebuilt once."""
    import sqlite3

    from publisher import links, state

    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE published (target TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, "
        "size INTEGER NOT NULL, kind TEXT NOT NULL, grp TEXT NOT NULL, refs TEXT NOT NULL DEFAULT '', "
        "etag TEXT NOT NULL DEFAULT '', resend INTEGER NOT NULL DEFAULT 0, superseded_at REAL, "
        "published_at REAL NOT NULL, PRIMARY KEY (target, name)) WITHOUT ROWID;"
        "CREATE TABLE sending (target TEXT NOT NULL, name TEXT NOT NULL, refs TEXT NOT NULL DEFAULT '', "
        "started_at REAL NOT NULL, PRIMARY KEY (target, name)) WITHOUT ROWID;")
    big = " ".join(f"c/1/obj/{i:032x}.bin" for i in range(20000))
    old.execute("INSERT INTO published VALUES ('t', 'c/1/obj/i.bin', 'd', 1, 'immutable', 'clinic', ?, "
                "'e', 0, NULL, 5.0)", (big,))
    old.execute("INSERT INTO sending VALUES ('t', 'c/1/door/x.json', 'c/1/obj/i.bin', 6.0)")
    old.commit()
    old.close()
    conn = sqlite3.connect(path)
    state.ensure_schema(conn)
    state.ensure_schema(conn)  # once is enough; the second call changes nothing
    sql = " ".join(r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name IN ('published', 'sending')"))
    assert "WITHOUT ROWID" not in sql.upper() and "PRIMARY KEY (target, name)" in sql
    # The rows are kept; their references moved to `links` (publisher/links.py).
    assert conn.execute("SELECT name, refs, published_at FROM published").fetchall() == [
        ("c/1/obj/i.bin", "", 5.0)]
    assert conn.execute("SELECT * FROM sending").fetchall() == [("t", "c/1/door/x.json", "", 6.0)]
    assert links.refs_of(conn, "t", "c/1/obj/i.bin") == set(big.split())
    assert links.refs_of(conn, "t", "c/1/door/x.json") == {"c/1/obj/i.bin"}
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%without_rowid%'")] == []
    conn.close()


def test_claim_pages_past_skipped_and_leased_jobs(conn):
    """Jobs are read a page at a time; skipped and foreign-leased ones do not end the search."""
    groups = [f"r{i:04d}" for i in range(700)]
    with jobs.immediate(conn):
        jobs.enqueue(conn, T, {g: "changed" for g in groups}, 1.0)
    other = "otherhost:1:x"  # another machine: its lease counts until it expires
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("UPDATE jobs SET lease_owner = ?, lease_until = 1e12 WHERE grp = ?",
                     [(other, g) for g in groups[300:500]])
    conn.execute("COMMIT")
    skip = set(groups[:300])
    got = jobs.claim(conn, T, "me:1:y", 2.0, 10, skip, Policy())
    assert got == groups[500:510]
    # Nothing left to find: every job is skipped, leased by another or claimed.
    rest = jobs.claim(conn, T, "me:1:z", 2.0, 1000, skip | set(groups[500:]), Policy())
    assert rest == []
