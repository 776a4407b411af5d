"""Notes: accepted notes per second (`chartseal notes-endpoint serve`, waitress, 127.0.0.1)
and `notes fetch` throughput, with the inbox on disk (fsync'd) and, if there is one, in
memory (/dev/shm).

    .venv/bin/python bench/notes_bench.py [--notes 3000] [--clients 50] [--write docs/PERFORMANCE.md]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"  # the doors' Argon2id cost is not what is measured

from exporter import access, crypto, keystore
from exporter.clinic_db import schema_sql
from exporter.home import Database, create_home, load_home
from exporter.notes import fetch_notes
from exporter.site import export_site

CHARTSEAL = str(Path(sys.executable).with_name("chartseal"))


def make_home(root: Path, inbox: Path):
    db = root / "main.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(schema_sql())
    for i in range(1, 21):
        conn.execute("INSERT INTO patients (id, card, first_name, surname, modified_at) VALUES (?, ?, ?, ?, ?)",
                     (i, f"{1000 + i}", f"Name{i}", "Bench", "2026-11-01T10:00:00"))
    conn.commit()
    conn.close()
    home = create_home(root / "home", crypto.KdfParams(ops=1, mem=8192))
    keys = keystore.create(home.keys_path)
    access.init_keys(keys)
    keys.close()
    home.databases["main"] = Database("main", db)
    home.config["notes_inbox"] = inbox.as_uri()
    home.save()
    home = load_home(home.root)
    export_site(home, today=date.today())
    return home


def make_notes(home, n: int) -> list[bytes]:
    keys = keystore.connect(home.keys_path)
    notes_pk = keystore.get_secret(keys, "notes_pk")
    doors = [(r["door_id"], bytes(r["note_sk"]), r["rid"], r["card"])
             for r in keys.execute("SELECT * FROM patients WHERE door_id IS NOT NULL")]
    keys.close()
    now, out = int(time.time()), []
    for i in range(n):
        door, sk, rid, card = doors[i % len(doors)]
        payload = {"v": 1, "rid": rid, "card": card, "text": f"bench note {i} " + "x" * 200,
                   "ts": now, "who": "patient", "user": ""}
        sealed = crypto.seal_to(notes_pk, crypto.canonical_json(payload))
        sig = crypto.sign(sk, crypto.note_signed_bytes(home.clinic_id, door, now, sealed))
        out.append(json.dumps({"v": 1, "clinic": home.clinic_id, "door": door, "ts": now,
                               "sealed": crypto.b64e(sealed), "sig": crypto.b64e(sig)}).encode())
    return out


@contextmanager
def endpoint(site: Path, inbox: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([CHARTSEAL, "notes-endpoint", "serve", "--site", str(site), "--inbox", str(inbox),
                             "--port", str(port), "--max-per-door", "0"], stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(400):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/v1/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def post_all(port: int, notes: list[bytes], clients: int) -> float:
    def client(chunk: list[bytes]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ok = 0
        for body in chunk:
            conn.request("POST", "/v1/notes", body=body, headers={"Content-Type": "application/json"})
            res = conn.getresponse()
            res.read()
            ok += res.status == 201
        conn.close()
        return ok

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        accepted = sum(pool.map(client, [notes[i::clients] for i in range(clients)]))
    elapsed = time.perf_counter() - start
    if accepted != len(notes):
        raise SystemExit(f"error: only {accepted} of {len(notes)} notes were accepted")
    return elapsed


def run(where: str, base: Path | None, n: int, clients: int) -> dict[str, float | str]:
    root = Path(tempfile.mkdtemp(prefix="notes-bench-"))
    inbox = Path(tempfile.mkdtemp(prefix="notes-inbox-", dir=base))
    try:
        home = make_home(root, inbox)
        notes = make_notes(home, n)
        with endpoint(home.site_dir, inbox) as port:
            posted = post_all(port, notes, clients)
        start = time.perf_counter()
        result = fetch_notes(home)
        fetched = time.perf_counter() - start
        assert result.stored == n, result
        return {"where": where, "post": n / posted, "fetch": n / fetched}
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(inbox, ignore_errors=True)


def section(rows: list[dict], n: int, clients: int) -> str:
    lines = [
        "## Notes", "",
        f"`bench/notes_bench.py`: {n} notes posted by {clients} concurrent clients to "
        "`chartseal notes-endpoint serve` (waitress, 8 threads, its own process) on 127.0.0.1, "
        "then `chartseal notes fetch` into the clinic database. Every accepted note is fsync'd "
        "(file and folder) before the 201. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} when measured.", "",
        "| inbox | accepted notes/s | fetch notes/s |", "|---|---|---|",
    ]
    lines += [f"| {r['where']} | {r['post']:.0f} | {r['fetch']:.0f} |" for r in rows]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace (or add) only the ``## Notes`` section of the file."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    start = old.find("\n## Notes\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + 1)
        new = old[:start + 1] + text + (old[end:] if end >= 0 else "")
    path.write_text(new, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--write", type=Path, default=None, help="update the Notes section of this file")
    args = ap.parse_args()
    rows = [run("folder on disk", None, args.notes, args.clients)]
    if Path("/dev/shm").is_dir():
        rows.append(run("folder in memory (/dev/shm)", Path("/dev/shm"), args.notes, args.clients))
    text = section(rows, args.notes, args.clients)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    main()
