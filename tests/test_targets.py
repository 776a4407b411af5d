"""Targets: folder and S3 writes, listings across pages, headers per kind, clear errors."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from s3 import CREDS, aws_env, moto_server, new_bucket, s3_client  # noqa: F401

from exporter import plan
from publisher import content
from publisher.errors import PublishError, TargetError
from publisher.policy import Policy
from publisher.targets import FileTarget, check_name, open_target

FAST = Policy(s3_attempts=1, connect_timeout=2, read_timeout=5)


@pytest.mark.parametrize("name,kind,ctype,cache", [
    ("assets/app.1a2b3c4d.js", plan.IMMUTABLE, "text/javascript; charset=utf-8", content.IMMUTABLE_CACHE),
    ("assets/app.1a2b3c4d.css", plan.IMMUTABLE, "text/css; charset=utf-8", content.IMMUTABLE_CACHE),
    ("c/1234567890/obj/" + "ab" * 16 + ".bin", plan.IMMUTABLE, "application/octet-stream", content.IMMUTABLE_CACHE),
    ("c/1234567890/door/" + "cd" * 16 + ".json", plan.POINTER, "application/json", "no-cache"),
    ("c/1234567890/site.json", plan.POINTER, "application/json", "no-cache"),
    ("index.html", plan.POINTER, "text/html; charset=utf-8", "no-cache"),
    ("doctor/index.html", plan.POINTER, "text/html; charset=utf-8", "no-cache"),
    # A plan that calls a door immutable must not get it cached for a year.
    ("c/1234567890/door/" + "cd" * 16 + ".json", plan.IMMUTABLE, "application/json", "no-cache"),
])
def test_headers_per_kind(name, kind, ctype, cache):
    assert content.content_type(name) == ctype
    assert content.cache_control(name, kind) == cache


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", "a/"])
def test_unsafe_names_refused(bad, tmp_path):
    with pytest.raises(PublishError):
        check_name(bad)
    with pytest.raises(PublishError):
        FileTarget(tmp_path).put(bad, b"x", "text/plain", "no-cache")
    assert list(tmp_path.iterdir()) == []


def test_folder_target_roundtrip(tmp_path):
    t = open_target((tmp_path / "pub").as_uri())
    t.check()
    etag = t.put("c/1/obj/aa.bin", b"hello", "application/octet-stream", "x")
    t.put("index.html", b"<p>", "text/html", "no-cache")
    assert etag == "5d41402abc4b2a76b9719d911017c592"
    assert t.get("c/1/obj/aa.bin") == b"hello" and t.get("nope") is None
    assert {x.name: x.size for x in t.list("c/1/")} == {"c/1/obj/aa.bin": 5}
    files, dirs = t.list_root()
    assert [f.name for f in files] == ["index.html"] and dirs == ["c/"]
    t.put("c/1/obj/aa.bin", b"other", "application/octet-stream", "x")  # replaced in place
    assert t.get("c/1/obj/aa.bin") == b"other"
    assert not [p for p in (tmp_path / "pub").rglob("*.tmp")]
    t.delete(["c/1/obj/aa.bin", "c/1/obj/never.bin"])
    assert t.get("c/1/obj/aa.bin") is None


def test_bad_target_urls():
    for url, words in [("ftp://x/y", "unknown target"), ("s3:///prefix", "names no bucket"),
                       ("file://otherhost/x", "local path")]:
        with pytest.raises(PublishError, match=words):
            open_target(url)


def test_s3_put_list_pages_headers(aws_env, moto_server):
    bucket = new_bucket(moto_server)
    t = open_target(f"s3://{bucket}/clinics", endpoint_url=moto_server.url, policy=FAST)
    t.check()
    for i in range(20):
        t.put(f"c/1/obj/{i:032x}.bin", bytes([i]) * (i + 1), "application/octet-stream",
              content.IMMUTABLE_CACHE)
    t.put("c/1/site.json", b"{}", "application/json", "no-cache")
    t.put("index.html", b"<p>", "text/html; charset=utf-8", "no-cache")
    mark = moto_server.recorder.mark()
    listed = {x.name: x for x in t.list("c/1/")}
    lists = [e for e in moto_server.recorder.requests(bucket, mark) if e.method == "GET"]
    assert len(listed) == 21 and len(lists) >= 3  # pages of 7 keys: pagination was followed
    assert listed["c/1/obj/" + "0" * 31 + "4.bin"].size == 5
    files, dirs = t.list_root()
    assert [f.name for f in files] == ["index.html"] and dirs == ["c/"]
    raw = s3_client(moto_server.url).head_object(Bucket=bucket, Key="clinics/c/1/site.json")
    assert raw["ContentType"] == "application/json" and raw["CacheControl"] == "no-cache"
    raw = s3_client(moto_server.url).head_object(Bucket=bucket, Key="clinics/c/1/obj/" + "0" * 32 + ".bin")
    assert raw["CacheControl"] == "public, max-age=31536000, immutable"
    t.delete([f"c/1/obj/{i:032x}.bin" for i in range(20)])
    assert [x.name for x in t.list("c/1/")] == ["c/1/site.json"]
    assert t.get("c/1/site.json") == b"{}" and t.get("c/1/none.json") is None


def test_s3_endpoint_from_boto3_environment(aws_env, moto_server, monkeypatch):
    bucket = new_bucket(moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    t = open_target(f"s3://{bucket}", policy=FAST)
    t.put("a.json", b"{}", "application/json", "no-cache")
    assert t.state_key == f"s3://{bucket}"  # keyed by bucket and prefix, not by endpoint
    assert s3_client(moto_server.url).get_object(Bucket=bucket, Key="a.json")["Body"].read() == b"{}"


def test_missing_bucket_is_fatal_and_clear(aws_env, moto_server):
    t = open_target("s3://no-such-bucket-here/x", endpoint_url=moto_server.url, policy=FAST)
    with pytest.raises(TargetError) as err:
        t.check()
    assert err.value.fatal and "bucket does not exist" in str(err.value)
    assert "config set target" in err.value.hint
    with pytest.raises(TargetError, match="bucket does not exist"):
        t.put("a.bin", b"x", "application/octet-stream", "no-cache")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_is_clear(aws_env):
    t = open_target("s3://bucket/x", endpoint_url=f"http://127.0.0.1:{_free_port()}", policy=FAST)
    with pytest.raises(TargetError) as err:
        t.check()
    assert "cannot reach the target" in str(err.value) and not err.value.fatal
    assert "nothing queued was lost" in err.value.hint


def test_no_credentials_is_fatal(aws_env, moto_server, monkeypatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    t = open_target("s3://bucket/x", endpoint_url=moto_server.url, policy=FAST)
    with pytest.raises(TargetError) as err:
        t.check()
    assert err.value.fatal and "no S3 credentials" in str(err.value)
    assert "AWS_ACCESS_KEY_ID" in err.value.hint


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """A moto server that checks credentials (its first request, creating the bucket, is free)."""
    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1", **CREDS)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                             "-p", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    s3_client(url).create_bucket(Bucket="locked")
    yield url
    proc.kill()
    proc.wait()


def test_wrong_credentials_are_fatal_and_clear(aws_env, auth_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    t = open_target("s3://locked/site", endpoint_url=auth_server, policy=FAST)
    with pytest.raises(TargetError) as err:
        t.put("c/1/site.json", b"{}", "application/json", "no-cache")
    assert err.value.fatal and "refused our credentials" in str(err.value)
    assert "credentials" in err.value.hint


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_is_fatal_and_clear(tiny_disk):
    t = FileTarget(tiny_disk / "pub")
    t.check()
    with pytest.raises(TargetError) as err:
        for i in range(100):
            t.put(f"c/1/obj/{i:032x}.bin", os.urandom(4096), "application/octet-stream", "x")
    assert err.value.fatal and "is full" in str(err.value)
    assert not [p for p in tiny_disk.rglob("*.tmp")]  # no half-written files left behind


def test_full_disk_stops_publish_and_keeps_the_queue(tiny_disk, tmp_path, monkeypatch):
    from s3 import FakeSite, make_home, folder_objects, snapshot_check
    from publisher import jobs
    from publisher.publish import connect, publish

    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "1")
    home = make_home(tmp_path / "home", (tiny_disk / "pub").as_uri())
    site = FakeSite(home, patients=120)  # about 100 kB: more than the 64 kB disk holds
    site.write()
    with pytest.raises(TargetError, match="is full") as err:
        publish(home, export=False, policy=Policy(workers=2))
    assert "nothing queued was lost" in err.value.hint
    conn = connect(home)
    left = jobs.list_jobs(conn)
    conn.close()
    assert left and all(j.lease_owner is None for j in left)  # queued, not stuck leased
    snapshot_check(folder_objects(tiny_disk / "pub"))  # what did land points nowhere missing
    # Room again (a bigger disk): the same queue finishes the job.
    report = publish(home, export=False, target_url=(tmp_path / "big").as_uri())
    assert report.left == 0
    assert folder_objects(tmp_path / "big") == {n: d for n, (d, _o) in site.objects().items()}
