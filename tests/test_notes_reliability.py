"""Notes under stress: kill -9 during `notes fetch`, 10,000 notes from 50 clients, and the
Lambda handler with an S3 inbox (moto's server over real HTTP on 127.0.0.1)."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from notes_kit import TODAY, export_clinic, fast_dir, server_notes, use_inbox

from exporter.notes import fetch_notes
from notes_endpoint import lambda_handler
from notes_endpoint.inbox import FolderInbox
from notes_endpoint.wire import note_json, parse_note

ROOT = Path(__file__).resolve().parents[1]
CHARTSEAL = str(Path(sys.executable).with_name("chartseal"))


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM server_notes").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


@pytest.fixture
def inbox():
    folder = fast_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def endpoint_process(site: Path, inbox: Path):
    port = _free_port()
    # A file, not a pipe: waitress warns about its queue depth under load, and a full pipe
    # nobody reads would block the server.
    log = open(inbox.parent / f"{inbox.name}.log", "w+b")
    proc = subprocess.Popen([CHARTSEAL, "notes-endpoint", "serve", "--site", str(site), "--inbox", str(inbox),
                             "--port", str(port), "--max-per-door", "0"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(600):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/v1/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
            assert proc.poll() is None, Path(log.name).read_text()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        Path(log.name).unlink()


def _fill(clinic, box_dir: Path, n: int) -> set[str]:
    box = FolderInbox(box_dir, fsync=False)
    doors = clinic.all_doors()
    ids = set()
    now = int(time.time())
    for i in range(n):
        door, card = doors[i % len(doors)]
        note = parse_note(json.dumps(clinic.note(door, card, f"note {i}", ts=now)).encode())
        assert box.put_new(clinic.id, note.note_id, note_json(note, now))
        ids.add(note.note_id)
    return ids


def test_kill_9_during_fetch_then_again_stores_each_note_exactly_once(home, inbox):
    clinic = export_clinic(home)
    use_inbox(home, inbox)
    ids = _fill(clinic, inbox, 3000)
    db = home.databases["main"].path
    env = {**os.environ, "CHARTSEAL_HOME": str(home.root)}
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen([CHARTSEAL, "notes", "fetch"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = _count(db)
        # Kill it as soon as it has committed something more (or when it is done anyway).
        while proc.poll() is None and _count(db) == before:
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    final = subprocess.run([CHARTSEAL, "notes", "fetch"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    rows = server_notes(db)
    assert len(rows) == 3000 and {r["note_id"] for r in rows} == ids
    assert list((inbox / clinic.id).glob("*.json")) == []
    print(f"killed {kills} fetch process(es) mid-way")


@pytest.mark.slow
def test_ten_thousand_notes_from_fifty_clients(home, inbox):
    clinic = export_clinic(home)
    use_inbox(home, inbox)
    doors = clinic.all_doors()
    now = int(time.time())
    notes = [json.dumps(clinic.note(*doors[i % len(doors)], f"load {i}", ts=now)).encode()
             for i in range(10_000)]
    statuses: list[int] = []
    lock = threading.Lock()

    def client(chunk: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        got = []
        for body in chunk:
            conn.request("POST", "/v1/notes", body=body, headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            res.read()
            got.append(res.status)
        conn.close()
        with lock:
            statuses.extend(got)

    # The endpoint runs as `chartseal notes-endpoint serve`, in its own process, as deployed.
    with endpoint_process(home.site_dir, inbox) as port, ThreadPoolExecutor(50) as pool:
        start = time.perf_counter()
        list(pool.map(client, [notes[i::50] for i in range(50)]))
    posted = time.perf_counter() - start
    assert statuses.count(201) == 10_000, {s: statuses.count(s) for s in set(statuses)}
    start = time.perf_counter()
    result = fetch_notes(home, today=TODAY)
    fetched = time.perf_counter() - start
    assert (result.stored, result.duplicates, result.rejected) == (10_000, 0, [])
    rows = server_notes(home.databases["main"].path)
    assert len(rows) == len({r["note_id"] for r in rows}) == 10_000
    assert {r["text"] for r in rows} == {f"load {i}" for i in range(10_000)}
    print(f"10,000 notes: posted in {posted:.1f} s ({10_000 / posted:.0f}/s), fetched in {fetched:.1f} s")


# -- Lambda + S3 -------------------------------------------------------------------------
@pytest.fixture
def moto_url(monkeypatch):
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _event(note: dict, origin: str | None = None) -> dict:
    headers = {"content-type": "application/json", "host": "notes.example"}
    if origin:
        headers["origin"] = origin
    return {"version": "2.0", "rawPath": "/v1/notes", "rawQueryString": "", "headers": headers,
            "requestContext": {"http": {"method": "POST", "path": "/v1/notes"}},
            "body": json.dumps(note), "isBase64Encoded": False}


def test_lambda_handler_with_an_s3_inbox_then_fetch(home, moto_url, monkeypatch):
    import boto3

    clinic = export_clinic(home)
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="private-notes")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)  # boto3 inside the handler finds moto
    monkeypatch.setenv("CHARTSEAL_NOTES_SITE", str(home.site_dir))
    monkeypatch.setenv("CHARTSEAL_NOTES_INBOX", "s3://private-notes/inbox")
    monkeypatch.setenv("CHARTSEAL_NOTES_ORIGIN", "https://portal.example")
    monkeypatch.setattr(lambda_handler, "_APP", None)
    note = clinic.note(clinic.patient["1001"], "1001", "sent through Lambda")
    res = lambda_handler.handler(_event(note, "https://portal.example"))
    assert res["statusCode"] == 201, res
    assert res["headers"]["Access-Control-Allow-Origin"] == "https://portal.example"
    key = f"inbox/{clinic.id}/{json.loads(res['body'])['id']}.json"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="private-notes")["Contents"]] == [key]
    # A new container has no replay memory; S3's conditional put still refuses the copy.
    monkeypatch.setattr(lambda_handler, "_APP", None)
    assert lambda_handler.handler(_event(note))["statusCode"] == 409
    bad = lambda_handler.handler({**_event(note), "body": "{"})
    assert (bad["statusCode"], json.loads(bad["body"])) == (400, {"error": "malformed"})
    for i in range(3):
        assert lambda_handler.handler(_event(clinic.note(clinic.entry["1002"], "1002", f"e{i}")))["statusCode"] == 201
    home.config.update(notes_inbox="s3://private-notes/inbox", endpoint_url=moto_url, region="us-east-1")
    result = fetch_notes(home, today=TODAY)
    assert (result.stored, result.rejected) == (4, [])
    assert s3.list_objects_v2(Bucket="private-notes").get("KeyCount") == 0
    assert sorted(r["text"] for r in server_notes(home.databases["main"].path)) == [
        "e0", "e1", "e2", "sent through Lambda"]
