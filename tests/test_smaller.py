"""Issue 12 item 7: HeadBucket retries, `service status` exits non-zero when the service
does not respond, "last upload" counts manual publishes and survives a restart, a
`publish --target` run leaves no job queued forever, `queue` shows targets and
`queue drop --target URL` clears one."""
from __future__ import annotations

import json
import os

from click.testing import CliRunner

from s3 import (FakeSite, FaultProxy, aws_env, make_home, moto_server, new_bucket)  # noqa: F401

import cli
from publisher import jobs
from publisher.policy import Policy
from publisher.publish import connect, publish
from publisher.service_status import Heartbeat, write_heartbeat
from publisher.targets import open_target

POLICY = Policy(grace_seconds=0, backoff_base=0.01, backoff_cap=0.05, s3_attempts=1,
                connect_timeout=2, read_timeout=10, workers=4, attempts_per_run=1)


class FirstFails(FaultProxy):
    """503 for the first ``n`` requests, then clean."""

    def __init__(self, upstream, n):
        super().__init__(upstream, rate=0.0)
        self.left = n

    def _choose(self):
        with self.lock:
            self.requests += 1
            if self.left > 0:
                self.left -= 1
                return "503"
            return ""


def test_one_failed_bucket_check_is_retried(aws_env, moto_server):
    bucket = new_bucket(moto_server)
    proxy = FirstFails(moto_server.url, 2)
    try:
        open_target(f"s3://{bucket}/x", proxy.url, "", POLICY).check()  # raised before
    finally:
        proxy.close()
    assert proxy.left == 0


def _status(home):
    result = CliRunner().invoke(cli.main, ["service", "status", "--json", "--home", str(home.root)])
    return result.exit_code, json.loads(result.output.splitlines()[0])


def test_status_not_responding_exits_non_zero(tmp_path, monkeypatch):
    home = make_home(tmp_path / "home")
    import publisher.service_status as ss

    monkeypatch.setattr(ss, "lock_holder", lambda root: os.getpid())
    write_heartbeat(home.root, Heartbeat(pid=os.getpid(), started=1.0, beat=2.0))  # long stale
    code, st = _status(home)
    assert st["running"] and not st["responding"] and code == 4


def test_last_upload_counts_manual_publishes(tmp_path, aws_env):
    home = make_home(tmp_path / "home", (tmp_path / "public").as_uri())
    FakeSite(home, patients=2).write()
    write_heartbeat(home.root, Heartbeat(pid=1, started=1.0, beat=2.0))  # a service stopped before
    assert _status(home)[1]["last_success"] is None
    publish(home, export=False, policy=POLICY)
    code, st = _status(home)
    assert code == 3 and st["last_success"] and st["last_success"] > 1000


def test_publish_to_another_target_leaves_no_job_behind(tmp_path, aws_env, moto_server):
    home = make_home(tmp_path / "home", (tmp_path / "public").as_uri())
    FakeSite(home, patients=2).write()
    other = "s3://no-such-bucket-anywhere/site"
    result = CliRunner().invoke(cli.main, ["publish", "--no-export", "--target", other,
                                           "--endpoint-url", moto_server.url, "--home", str(home.root)])
    assert result.exit_code == 1 and "error:" in result.output
    conn = connect(home)
    assert jobs.list_jobs(conn) == []
    conn.close()


def test_queue_shows_targets_and_drops_one(tmp_path, aws_env):
    home = make_home(tmp_path / "home", (tmp_path / "public").as_uri())
    conn = connect(home)
    with jobs.immediate(conn):
        jobs.enqueue(conn, "s3://old-bucket/site", {"clinic": "changed", "app": "changed"}, 1.0)
        jobs.enqueue(conn, home.target, {"clinic": "changed"}, 1.0)
    conn.close()
    runner = CliRunner()
    out = runner.invoke(cli.main, ["queue", "--home", str(home.root)]).output
    assert "s3://old-bucket/site" in out and "3 waiting" in out
    rows = [json.loads(x) for x in runner.invoke(cli.main, ["queue", "--json", "--home", str(home.root)]).output.splitlines()]
    assert {r["target"] for r in rows} == {"s3://old-bucket/site", home.target}
    result = runner.invoke(cli.main, ["queue", "drop", "--target", "s3://old-bucket/site", "--home", str(home.root)])
    assert result.exit_code == 0 and "dropped 2" in result.output
    out = runner.invoke(cli.main, ["queue", "--home", str(home.root)]).output
    assert "old-bucket" not in out and "1 waiting" in out
