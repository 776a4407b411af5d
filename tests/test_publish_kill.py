"""kill -9 of a real ``chartseal publish`` at random points: every rerun converges and no
door or index ever named a missing object (checked from the server's own request record,
and on the bucket after every kill).

CHARTSEAL_TEST_KILLS sets how many kills (default 4; try 40 for a long run).
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s3 import (CREDS, FakeSite, aws_env, bucket_objects, make_home, moto_server,  # noqa: F401
                new_bucket, replay_check, snapshot_check)

CHARTSEAL = str(Path(sys.executable).parent / "chartseal")


def _env(server_url: str) -> dict[str, str]:
    env = dict(os.environ, **CREDS)
    env.update({"AWS_ENDPOINT_URL": server_url, "CHARTSEAL_TEST_WEAK_KDF": "1",
                "CHARTSEAL_PUBLISH_GRACE_SECONDS": "0", "CHARTSEAL_PUBLISH_WORKERS": "4",
                "CHARTSEAL_PUBLISH_BATCH_GROUPS": "10", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    return env


def _start_and_kill(cmd, env, server, bucket, rng) -> str:
    mark = server.recorder.mark()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait for its first write, then let it run a random while: the kill lands mid-publish.
    while proc.poll() is None and not any(
            e.method in ("PUT", "POST") for e in server.recorder.requests(bucket, mark)):
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.4))
    if proc.poll() is not None:
        return "finished first"
    proc.kill()
    proc.wait()  # reaped, so the next run sees its lease owner is gone
    return "killed"


@pytest.mark.slow
def test_kill_nine_at_random_points_then_converge(tmp_path, aws_env, moto_server):
    kills = int(os.environ.get("CHARTSEAL_TEST_KILLS", "4"))
    rng = random.Random(int(os.environ.get("CHARTSEAL_TEST_SEED", "7")))
    bucket = new_bucket(moto_server)
    home = make_home(tmp_path / "home", f"s3://{bucket}/site")
    site = FakeSite(home, patients=40)
    site.write()
    cmd = [CHARTSEAL, "publish", "--no-export", "--home", str(home.root)]
    env = _env(moto_server.url)
    outcomes = []
    for k in range(kills):
        if k % 2 == 1:  # new versions between kills: new objects, rewritten pointers, deletes
            for rid in rng.sample(site.rids, 3):
                site.edit(rid)
            if k % 4 == 3:
                site.remove(rng.choice(site.rids))
                site.app_version += 1
            site.write()
        outcomes.append(_start_and_kill(cmd, env, moto_server, bucket, rng))
        replay_check(moto_server.recorder.events, bucket, "site")
        snapshot_check(bucket_objects(moto_server.url, bucket, "site"))
    assert outcomes.count("killed") >= max(1, kills // 2), outcomes
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    held = bucket_objects(moto_server.url, bucket, "site")
    assert held == {name: data for name, (data, _o) in site.objects().items()}
    snapshot_check(held)
    assert replay_check(moto_server.recorder.events, bucket, "site") > len(held)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert "nothing to publish" in again.stdout
