"""Test helpers for the publisher: a real S3 API (moto's server) on 127.0.0.1 that records
every request, a fault-injecting HTTP proxy in front of it, a fake site generator and a
checker that proves no pointer ever named a missing object.

Import from here (``from s3 import ...``); pytest puts tests/ on sys.path.
"""
from __future__ import annotations

import http.client
import io
import json
import os
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

os.environ.setdefault("MOTO_S3_DEFAULT_MAX_KEYS", "7")  # tiny listing pages: pagination is real

from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication, MotoRequestHandler, create_backend_app)
from werkzeug.serving import make_server  # noqa: E402

from exporter import crypto, plan  # noqa: E402
from exporter.home import create_home, load_home  # noqa: E402

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
WRITES = ("PUT", "POST", "DELETE")


# -- the S3 server ---------------------------------------------------------------------
@dataclass
class Event:
    seq: int
    phase: str          # "start" or "end"
    method: str
    bucket: str
    key: str
    query: str
    status: int = 0
    refs: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


class Recorder:
    """WSGI middleware: every request's start and end, in one global order."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.seq = 0
        self.events: list[Event] = []

    def _add(self, **kw) -> Event:
        with self.lock:
            self.seq += 1
            ev = Event(seq=self.seq, **kw)
            self.events.append(ev)
            return ev

    def __call__(self, environ, start_response):
        path = unquote(environ.get("PATH_INFO", ""))
        bucket, _, key = path.lstrip("/").partition("/")
        method = environ["REQUEST_METHOD"]
        query = environ.get("QUERY_STRING", "")
        body = b""
        if method in ("PUT", "POST"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        deleted = tuple(re.findall(r"<Key>(.*?)</Key>", body.decode("utf-8", "replace"))) \
            if method == "POST" and "delete" in query else ()
        if method == "DELETE" and key:
            deleted = (key,)
        self._add(phase="start", method=method, bucket=bucket, key=key, query=query,
                  refs=refs_of(body) if method == "PUT" else (), deleted=deleted)
        status = {}

        def capture(st, headers, exc_info=None):
            status["code"] = int(st.split()[0])
            return start_response(st, headers, exc_info)

        try:
            result = list(self.app(environ, capture))
        finally:
            self._add(phase="end", method=method, bucket=bucket, key=key, query=query,
                      status=status.get("code", 0), deleted=deleted)
        return result

    def requests(self, bucket: str, since: int = 0) -> list[Event]:
        with self.lock:
            return [e for e in self.events if e.phase == "start" and e.bucket == bucket and e.seq > since]

    def mark(self) -> int:
        with self.lock:
            return self.seq


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class MotoServer(ThreadedMotoServer):
    """moto's threaded server on a free 127.0.0.1 port, with a request recorder."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.recorder = Recorder(DomainDispatcherApplication(create_backend_app))

    def _server_entry(self) -> None:
        self._server = make_server(self._ip_address, self._port, self.recorder, True,
                                   request_handler=_QuietHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name="us-east-1").client(
        "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def new_bucket(server: MotoServer, prefix: str = "b") -> str:
    name = f"{prefix}-{random.randrange(16**8):08x}"
    s3_client(server.url).create_bucket(Bucket=name)
    return name


# -- the fault proxy -------------------------------------------------------------------
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
       "upgrade"}


class FaultProxy:
    """An HTTP proxy that fails a share of requests: 503s (sent or not), resets, slowness.

    ``rate`` is the share of requests that get a fault; ``modes`` which faults to choose.
    """

    MODES = ("503", "500_after", "reset", "reset_after", "slow")
    # "corrupt" flips a byte of an upload's body on the way and drops its Content-MD5, as
    # a store that ignores that header would (moto does); opt in with modes=ALL_MODES.
    ALL_MODES = MODES + ("corrupt",)

    def __init__(self, upstream: str, rate: float = 0.0, modes=MODES, seed: int = 1,
                 slow_seconds: float = 0.3) -> None:
        self.upstream = upstream.split("//", 1)[1]
        self.rate, self.modes, self.slow_seconds = rate, tuple(modes), slow_seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.faults: dict[str, int] = {}
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_any(self):
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.local = threading.local()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _choose(self) -> str:
        with self.lock:
            self.requests += 1
            if self.rng.random() >= self.rate:
                return ""
            mode = self.rng.choice(self.modes)
            self.faults[mode] = self.faults.get(mode, 0) + 1
            return mode

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        mode = self._choose()
        if mode == "reset":
            return _reset(h)
        if mode == "503":
            return _send(h, 503, {"Content-Type": "application/xml"},
                         b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>")
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode == "corrupt" and h.command == "PUT" and body:
            i = self.rng.randrange(len(body))
            body = body[:i] + bytes([body[i] ^ 0x5A]) + body[i + 1:]
            for k in [k for k in h.headers if k.lower() == "content-md5"]:
                del h.headers[k]
        status, headers, data = self._forward(h, body)
        if mode == "reset_after":
            return _reset(h)
        if mode == "500_after":
            return _send(h, 500, {"Content-Type": "application/xml"},
                         b"<Error><Code>InternalError</Code><Message>injected</Message></Error>")
        _send(h, status, headers, data, head=h.command == "HEAD")

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes):
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP}
        for attempt in range(2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.upstream, timeout=60)
            try:
                conn.request(h.command, h.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP}
                return resp.status, out, data
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(h.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += h.rfile.read(size)
            h.rfile.readline()
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length else b""


def _send(h, status: int, headers: dict, data: bytes, head: bool = False) -> None:
    h.send_response(status)
    for k, v in headers.items():
        if k.lower() in ("content-length", "date", "server"):
            continue
        h.send_header(k, v)
    h.send_header("Content-Length", headers.get("Content-Length", str(len(data))) if head else str(len(data)))
    h.end_headers()
    if not head:
        h.wfile.write(data)


def _reset(h) -> None:
    # SO_LINGER 0: close() sends a TCP RST, as a dropped connection would.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.close_connection = True
    h.connection.close()


# -- a fake site -----------------------------------------------------------------------
def make_home(root: Path, target: str = "") -> "object":
    os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
    home = create_home(root, kdf=crypto.KdfParams(ops=1, mem=8192))
    home.config["target"] = target
    home.save()
    return load_home(root)


def refs_of(data: bytes) -> tuple[str, ...]:
    """Test objects that lead somewhere are JSON with a "refs" list (a real door's are sealed)."""
    if not data.startswith(b"{"):
        return ()
    try:
        return tuple(json.loads(data).get("refs", ()))
    except (ValueError, AttributeError):
        return ()


@dataclass
class FakeSite:
    """A site with the real tree's shape: per patient a bundle, a door and a general entry;
    per clinic an index (naming every bundle), an account door and site.json; the app."""

    home: object
    patients: int = 5
    seed: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    app_version: int = 0

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.rids = [f"{rng.getrandbits(128):032x}" for _ in range(self.patients)]
        self.doors = {rid: (f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(128):032x}")
                      for rid in self.rids}
        self.account_door = f"{rng.getrandbits(128):032x}"
        self.versions = {rid: 0 for rid in self.rids}

    @property
    def prefix(self) -> str:
        return f"c/{self.home.clinic_id}"

    def _bytes(self, *parts) -> bytes:
        rng = random.Random(repr(parts))
        return rng.randbytes(rng.randrange(100, 900))

    def objects(self) -> dict[str, tuple[bytes, plan.PlanObject]]:
        out: dict[str, tuple[bytes, plan.PlanObject]] = {}

        def add(name, data, kind, grp, refs=()):
            out[name] = (data, plan.PlanObject(name, plan.digest(data), len(data), kind, grp, tuple(refs)))

        def obj_name(data):
            return f"{self.prefix}/obj/{plan.digest(data)}.bin"

        bundles = []
        for rid in self.rids:
            bundle = self._bytes("bundle", rid, self.versions[rid])
            bname = obj_name(bundle)
            bundles.append(bname)
            add(bname, bundle, plan.IMMUTABLE, rid)
            door, entry = self.doors[rid]
            for did in (door, entry):
                add(f"{self.prefix}/door/{did}.json", _pointer([bname], did, self.versions[rid]),
                    plan.POINTER, rid, [bname])
        index = _pointer(bundles, "index", 0)
        iname = obj_name(index)
        add(iname, index, plan.IMMUTABLE, "clinic", bundles)
        add(f"{self.prefix}/door/{self.account_door}.json", _pointer([iname], "acct", 0),
            plan.POINTER, "clinic", [iname])
        add(f"{self.prefix}/site.json", b'{"format": "chartseal-site/1"}', plan.POINTER, "clinic")
        assets = []
        for ext in ("js", "css"):
            data = self._bytes("asset", ext, self.app_version)
            name = f"assets/app.{plan.digest(data)[:8]}.{ext}"
            assets.append(name)
            add(name, data, plan.IMMUTABLE, "app")
        for page in ("index.html", "doctor/index.html", "patient/index.html"):
            add(page, _pointer(assets, page, self.app_version), plan.POINTER, "app", assets)
        return out

    def write(self) -> dict[str, tuple[bytes, plan.PlanObject]]:
        """Write the files and the plan, as the exporter does (files first, then the plan)."""
        objs = self.objects()
        for name, (data, _o) in objs.items():
            path = self.home.site_dir / name
            if path.exists() and path.read_bytes() == data:
                continue  # as the exporter: unchanged files keep their bytes and dates
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        conn = self.home.connect_state()
        try:
            with conn:
                plan.replace_plan(conn, {o.name: o for _d, o in objs.values()})
        finally:
            conn.close()
        return objs

    def edit(self, rid: str) -> None:
        self.versions[rid] += 1

    def remove(self, rid: str) -> None:
        self.rids.remove(rid)


def _pointer(refs, salt, version) -> bytes:
    return json.dumps({"refs": list(refs), "id": salt, "v": version}, sort_keys=True).encode()


# -- the checker -----------------------------------------------------------------------
def replay_check(events: list[Event], bucket: str, prefix: str = "") -> int:
    """Replay the server's requests in order; fail if at any moment an object that may be
    visible names an object that may be missing. Returns the number of writes checked.

    A PUT's new bytes may become visible as soon as it starts, so its refs must all have been
    stored (a 2xx PUT that ended) before that; a delete may take effect as soon as it starts,
    so nothing stored or being stored may still name what it deletes.
    """
    pre = f"{prefix}/" if prefix else ""
    present: dict[str, tuple[str, ...]] = {}
    inflight: dict[int, tuple[str, tuple[str, ...]]] = {}
    starts: dict[int, Event] = {}
    checked = 0
    for ev in events:
        if ev.bucket != bucket:
            continue
        if ev.phase == "start":
            starts[ev.seq] = ev
            if ev.method == "PUT" and ev.key and not ev.query:
                for r in ev.refs:
                    assert pre + r in present, f"{ev.key} was written while {r} was missing"
                inflight[ev.seq] = (ev.key, ev.refs)
                checked += 1
            for key in ev.deleted:
                holders = [k for k, refs in list(present.items()) + list(inflight.values())
                           if key[len(pre):] in refs and k != key]
                assert not holders, f"{key} was deleted while {holders[0]} named it"
                checked += 1
        else:
            start = _match_start(starts, ev)
            if start is None:
                continue
            if start.method == "PUT" and start.seq in inflight:
                key, refs = inflight.pop(start.seq)
                if 200 <= ev.status < 300:
                    present[key] = refs
            if ev.deleted and 200 <= ev.status < 300:
                for key in ev.deleted:
                    present.pop(key, None)
    return checked


def _match_start(starts: dict[int, Event], end: Event) -> Event | None:
    # Ends carry no link to their start; pair with the oldest open start of the same request.
    for seq in sorted(starts):
        s = starts[seq]
        if (s.method, s.key, s.query, s.deleted) == (end.method, end.key, end.query, end.deleted):
            return starts.pop(seq)
    return None


def snapshot_check(objects: dict[str, bytes]) -> None:
    """Everything on the target now: each object it names must be there too."""
    for name, data in objects.items():
        for r in refs_of(data):
            assert r in objects, f"{name} names {r}, which is missing"


def bucket_objects(endpoint: str, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = s3_client(endpoint)
    out = {}
    pre = f"{prefix}/" if prefix else ""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=pre):
        for item in page.get("Contents", []):
            out[item["Key"][len(pre):]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def folder_objects(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")}


# -- fixtures (import them into a test module by name) ---------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "1")


@pytest.fixture
def fault_proxy(moto_server):
    proxy = FaultProxy(moto_server.url)
    yield proxy
    proxy.close()
