"""Helpers for the notes tests: an exported clinic, its doors' note keys, notes made the way
the browser makes them (FORMAT.md 9), and the endpoint under waitress on 127.0.0.1."""
from __future__ import annotations

import http.client
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from exporter import crypto, keystore
from exporter.home import Database, Home, create_home, load_home
from exporter.site import export_site
from publisher.preview import PreviewServer

TODAY = date(2026, 11, 26)


@dataclass(frozen=True)
class DoorKey:
    door: str
    note_sk: bytes
    who: str
    user: str = ""


@dataclass
class Clinic:
    home: Home
    notes_pk: bytes
    rid: dict[str, str] = field(default_factory=dict)            # card -> rid
    patient: dict[str, DoorKey] = field(default_factory=dict)    # card -> patient door
    entry: dict[str, DoorKey] = field(default_factory=dict)      # card -> general entry
    account: dict[str, DoorKey] = field(default_factory=dict)    # user -> account door

    @property
    def id(self) -> str:
        return self.home.clinic_id

    def all_doors(self) -> list[tuple[DoorKey, str]]:
        """Every door that may write, with a card it may write about."""
        out = [(d, c) for c, d in self.patient.items()] + [(d, c) for c, d in self.entry.items()]
        if "admin" in self.account:
            out.append((self.account["admin"], sorted(self.rid)[0]))
        return out

    def note(self, door: DoorKey, about: str, text: str = "hello", ts: int | None = None,
             inner_ts: int | None = None, **override: Any) -> dict[str, Any]:
        """A note as the browser sends it about card ``about``; ``override`` changes payload fields."""
        ts = int(time.time()) if ts is None else ts
        payload = {"v": 1, "rid": self.rid[about], "card": about, "text": text,
                   "ts": ts if inner_ts is None else inner_ts,
                   "who": door.who, "user": door.user}
        to = override.pop("_notes_pk", self.notes_pk)
        payload.update(override)
        sealed = crypto.seal_to(to, crypto.canonical_json(payload))
        sig = crypto.sign(door.note_sk, crypto.note_signed_bytes(self.id, door.door, ts, sealed))
        return {"v": 1, "clinic": self.id, "door": door.door, "ts": ts,
                "sealed": crypto.b64e(sealed), "sig": crypto.b64e(sig)}


def new_home(root: Path) -> Home:
    """The conftest ``home`` (sample clinic database, admin account), for wider fixture scopes."""
    from conftest import WEAK, _sample, make_clinic_db

    from exporter import access

    root.mkdir(parents=True, exist_ok=True)
    db = make_clinic_db(root / "main.sqlite", _sample())
    h = create_home(root / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    conn.close()
    h.databases["main"] = Database("main", db)
    h.save()
    return load_home(h.root)


def export_clinic(home: Home) -> Clinic:
    export_site(home, today=TODAY)
    conn = keystore.connect(home.keys_path)
    try:
        lk = keystore.get_secret(conn, "lk")
        clinic = Clinic(home, keystore.get_secret(conn, "notes_pk"))
        for row in conn.execute("SELECT * FROM patients"):
            card = row["card"]
            clinic.rid[card] = row["rid"]
            if row["door_id"]:
                clinic.patient[card] = DoorKey(row["door_id"], bytes(row["note_sk"]), "patient")
            clinic.entry[card] = DoorKey(crypto.entry_id(lk, card), bytes(row["entry_note_sk"]), "general")
        for row in conn.execute("SELECT * FROM accounts WHERE door_id IS NOT NULL"):
            clinic.account[row["name"]] = DoorKey(row["door_id"], bytes(row["note_sk"]), "account", row["name"])
    finally:
        conn.close()
    return clinic


class Server(PreviewServer):
    """A WSGI app under waitress on 127.0.0.1, in a thread, sized for the load tests."""

    def __init__(self, app: Any, threads: int = 8, port: int = 0) -> None:
        super().__init__(app, port=port, threads=threads, max_request_body_size=16384,
                         connection_limit=200)


def post(port: int, body: bytes | dict[str, Any], content_type: str = "application/json",
         headers: dict[str, str] | None = None, method: str = "POST",
         path: str = "/v1/notes") -> tuple[int, dict[str, Any], dict[str, str]]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        hdrs = {"Content-Type": content_type, **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        res = conn.getresponse()
        raw = res.read()
        return res.status, (json.loads(raw) if raw else {}), {k.lower(): v for k, v in res.getheaders()}
    finally:
        conn.close()


def server_notes(db_path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM server_notes ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def fast_dir() -> Path:
    """A scratch folder in memory when the machine has one (/dev/shm), else on disk.

    The load and crash tests count notes; they do not measure the disk. On a disk mounted
    with `discard` every unlink costs a millisecond or more, which would only slow them down.
    """
    import tempfile

    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="chartseal-notes-", dir=base))


def use_inbox(home: Home, folder: Path) -> None:
    home.config["notes_inbox"] = folder.as_uri()
    home.save()
