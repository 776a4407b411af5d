"""Reliability suite: fault-injection trials against a real clinic on moto's S3 server.

Each scenario ends with an independent check (``check_online``) that downloads the bucket and,
with the keys from the keystore only (never the publisher's state), opens every patient door,
every general entry and the admin account's index and every record it lists: no door or index
names a missing object, no object fails to decrypt (AEAD: any damaged byte), and no door of a
deleted patient is online. Prints a table and, with --write, puts it in docs/RELIABILITY.md.

    .venv/bin/python bench/reliability.py [--patients 300] [--kills 50] [--note-kills 25] [--write]

tests/test_reliability_suite.py runs every scenario with small counts.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("CHARTSEAL_TEST_WEAK_KDF", "1")
BIN = Path(sys.executable).parent
CHARTSEAL = str(BIN / "chartseal")

from s3 import CREDS, FaultProxy, MotoServer, s3_client  # noqa: E402

from reliability_check import check_online  # noqa: E402


# -- the clinic ----------------------------------------------------------------------------
@dataclass
class Clinic:
    root: Path
    home: Path
    db: Path
    bucket: str
    endpoint: str
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([CHARTSEAL, *args, "--home", str(self.home)], capture_output=True,
                              text=True, env={**self.env, **(extra or {})})
        if check and done.returncode != 0:
            raise AssertionError(f"chartseal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def publish_until_done(self, tries: int = 10, extra: dict[str, str] | None = None) -> int:
        for n in range(1, tries + 1):
            done = self.run("publish", check=False, extra=extra)
            assert "Traceback" not in done.stderr, done.stderr
            if done.returncode == 0:
                return n
        raise AssertionError(f"publish did not converge in {tries} runs:\n{done.stdout}\n{done.stderr}")

    def sql(self, statement: str, params: tuple = ()) -> None:
        con = sqlite3.connect(self.db)
        with con:
            con.execute(statement, params)
        con.close()

    def patient_ids(self) -> list[int]:
        con = sqlite3.connect(self.db)
        try:
            return [r[0] for r in con.execute("SELECT id FROM patients ORDER BY id")]
        finally:
            con.close()

    def edit(self, rng: random.Random, n: int = 3) -> None:
        for pid in rng.sample(self.patient_ids(), min(n, len(self.patient_ids()))):
            self.sql("UPDATE patients SET mobile = ? WHERE id = ?", (f"07{rng.randrange(10**8):08d}", pid))

    def delete_one(self, rng: random.Random) -> None:
        self.sql("DELETE FROM patients WHERE id = ?", (rng.choice(self.patient_ids()),))


def make_clinic(root: Path, endpoint: str, patients: int, env_extra: dict[str, str] | None = None,
                home: Path | None = None) -> Clinic:
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **CREDS, CHARTSEAL_TEST_WEAK_KDF="1", AWS_CONFIG_FILE="/nonexistent",
               AWS_SHARED_CREDENTIALS_FILE="/nonexistent", CHARTSEAL_PUBLISH_GRACE_SECONDS="0",
               CHARTSEAL_PUBLISH_WORKERS="8", CHARTSEAL_PUBLISH_BACKOFF_BASE="0.05",
               CHARTSEAL_PUBLISH_BACKOFF_CAP="0.5", CHARTSEAL_PUBLISH_BATCH_GROUPS="20",
               **(env_extra or {}))
    env.pop("AWS_ENDPOINT_URL", None)
    bucket = f"rel-{random.randrange(16**8):08x}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    c = Clinic(root, home or root / "home", root / "main.sqlite", bucket, endpoint, env)
    subprocess.run([CHARTSEAL, "init", "--home", str(c.home), "--kdf-ops", "1", "--kdf-mem", "8192"],
                   env=env, check=True, capture_output=True)
    subprocess.run([CHARTSEAL, "demo-data", str(c.db), "--patients", str(patients)], env=env,
                   check=True, capture_output=True)
    c.run("db", "add", "main", str(c.db))
    c.run("config", "set", "target", f"s3://{bucket}/site")
    c.run("config", "set", "endpoint_url", endpoint)
    return c


# -- scenarios ------------------------------------------------------------------------------
@dataclass
class Result:
    scenario: str
    trials: int
    outcome: str
    detail: str


def kill_publish(work: Path, server: MotoServer, patients: int, kills: int, seed: int = 7) -> Result:
    rng = random.Random(seed)
    c = make_clinic(work / "kill", server.url, patients)
    c.publish_until_done()
    killed = finished = 0
    for k in range(kills):
        c.edit(rng, max(3, patients // 15))  # enough objects that most kills land mid-upload
        if k % 5 == 4:
            c.delete_one(rng)
        proc = subprocess.Popen([CHARTSEAL, "publish", "--home", str(c.home)], env=c.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 2.0))  # export first, then uploads: kills land in both
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        else:
            finished += 1
        proc.wait()
        check_online(c, strict=False)  # right after the kill: nothing dangling, nothing damaged
    runs = c.publish_until_done()
    stats = check_online(c)
    return Result("kill -9 during publish", kills, "converged, checks passed",
                  f"{killed} killed mid-run, {finished} finished first; {runs} run(s) to converge; "
                  f"{stats['objects']} objects, {stats['records_opened']} records opened")


def fault_proxy(work: Path, server: MotoServer, patients: int, rounds: int = 4, seed: int = 3) -> Result:
    rng = random.Random(seed)
    c = make_clinic(work / "faults", server.url, patients)
    proxy = FaultProxy(server.url, rate=0.3, modes=FaultProxy.ALL_MODES, seed=seed, slow_seconds=0.2)
    runs = 0
    try:
        c.run("config", "set", "endpoint_url", proxy.url)
        for r in range(rounds):
            if r:
                c.edit(rng, 5)
                c.delete_one(rng)
            runs += c.publish_until_done(20, extra={"CHARTSEAL_PUBLISH_S3_ATTEMPTS": "2"})
        c.run("config", "set", "endpoint_url", server.url)
        sync = c.run("sync", "--json", check=False)
        problems = json.loads(sync.stdout.strip().splitlines()[-1])
        assert sync.returncode == 0, sync.stdout + sync.stderr
    finally:
        proxy.close()
    stats = check_online(c)
    faults = ", ".join(f"{k} {v}" for k, v in sorted(proxy.faults.items()))
    return Result("fault proxy at 30 %", rounds, "converged, sync clean, checks passed",
                  f"{proxy.requests} requests, faults: {faults}; {runs} publish runs; "
                  f"sync: {problems['damaged']} damaged, {problems['missing']} missing; "
                  f"{stats['records_opened']} records opened")


def lost_state(work: Path, server: MotoServer, patients: int, seed: int = 11) -> Result:
    rng = random.Random(seed)
    c = make_clinic(work / "lost", server.url, patients)
    c.publish_until_done()
    for _ in range(2):
        c.delete_one(rng)
    c.edit(rng, 4)
    for p in c.home.glob("state.sqlite*"):
        p.unlink()
    done = c.run("publish")
    assert "listed it once" in done.stdout, done.stdout
    stats = check_online(c)
    sync = c.run("sync", "--json", check=False)
    orphaned = json.loads(sync.stdout.strip().splitlines()[-1])["orphaned"]
    assert sync.returncode == 0 and orphaned == 0, sync.stdout
    return Result("lost state database", 1, "healed, sync clean, checks passed",
                  f"2 patients deleted while it was lost ({stats['deleted_doors_checked']} of their "
                  f"doors checked offline); listed once: {_kept(done.stdout)}; "
                  f"{stats['records_opened']} records opened")


def _kept(out: str) -> str:
    import re

    m = re.search(r"kept (\d+) objects already there, (\d+) no longer published", out)
    return f"{m.group(1)} objects adopted, {m.group(2)} found objects deleted" if m else "?"


def damaged_state(work: Path, server: MotoServer, patients: int) -> Result:
    c = make_clinic(work / "dmgstate", server.url, patients)
    c.publish_until_done()
    state = c.home / "state.sqlite"
    con = sqlite3.connect(state)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for extra in ("-wal", "-shm"):
        Path(str(state) + extra).unlink(missing_ok=True)
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 3])
    done = c.run("publish")
    assert "damaged" in done.stderr and list(c.home.glob("state.sqlite.damaged-*")), done.stderr
    stats = check_online(c)
    return Result("truncated state database", 1, "moved aside, rebuilt, checks passed",
                  f"{stats['records_opened']} records opened")


def damaged_site_file(work: Path, server: MotoServer, patients: int, seed: int = 5) -> Result:
    rng = random.Random(seed)
    c = make_clinic(work / "dmgsite", server.url, patients)
    c.publish_until_done()
    c.edit(rng, 2)
    c.run("export")
    files = sorted((c.home / "site").rglob("*.bin"), key=lambda p: p.stat().st_mtime)[-3:]
    for i, path in enumerate(files):
        data = bytearray(path.read_bytes())
        if i % 2:
            data[len(data) // 2] ^= 0xFF  # same size
            path.write_bytes(bytes(data))
        else:
            path.write_bytes(bytes(data[:-7]))  # truncated
    t0 = time.monotonic()
    c.run("publish")
    took = time.monotonic() - t0
    sync = c.run("sync", check=False)
    assert sync.returncode == 0, sync.stdout
    stats = check_online(c)
    return Result("damaged site-folder files", len(files), "re-sealed in the same publish, checks passed",
                  f"publish took {took:.1f} s; {stats['records_opened']} records opened")


def disk_full(work: Path, server: MotoServer, patients: int, seed: int = 9) -> Result:
    rng = random.Random(seed)
    mnt = work / "tmpfs"
    mnt.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    if not mounted:
        return Result("full disk (tmpfs)", 0, "skipped", "cannot mount a tmpfs here (not root)")
    try:
        c = make_clinic(work / "full", server.url, patients, home=mnt / "home")
        c.publish_until_done()
        c.edit(rng, patients // 2)
        filler = mnt / "filler"
        with open(filler, "wb", buffering=0) as fh:  # unbuffered: close() has nothing left to flush
            try:
                while True:
                    fh.write(b"\0" * 65536)
            except OSError:
                pass
        before = {p: p.stat().st_size for p in (c.home / "site").rglob("*") if p.is_file()}
        done = c.run("publish", check=False)
        after = {p: p.stat().st_size for p in (c.home / "site").rglob("*") if p.is_file()}
        ok = (done.returncode == 1 and "error: the disk holding" in done.stderr
              and "hint:" in done.stderr and "Traceback" not in done.stderr)
        assert ok, done.stdout + done.stderr
        half = [p for p in after if p.name.endswith(".tmp")]
        assert not half, half[:3]
        filler.unlink()
        c.publish_until_done()
        stats = check_online(c)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    first = next(line for line in done.stderr.splitlines() if line.startswith("error:"))
    return Result("full disk (24 MB tmpfs)", 1, "error + hint, nothing half-written, then converged",
                  f"`{first[:90]}`; {len(before)}→{len(after)} site files; {stats['records_opened']} records opened")


def locked_db(work: Path, server: MotoServer, patients: int) -> Result:
    c = make_clinic(work / "locked", server.url, patients)
    c.publish_until_done()
    c.run("config", "set", "db_busy_wait_seconds", "3")
    con = sqlite3.connect(c.db, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("BEGIN EXCLUSIVE")
    con.execute("UPDATE patients SET mobile = '0790000001' WHERE id = (SELECT min(id) FROM patients)")
    gave_up = c.run("publish", check=False)
    assert gave_up.returncode == 1 and "the clinic program is writing to" in gave_up.stderr, gave_up.stderr
    assert "db remove" not in gave_up.stderr

    def release() -> None:
        time.sleep(2.0)
        con.execute("COMMIT")
        con.close()

    t = threading.Thread(target=release)
    t.start()
    waited = c.run("publish")
    t.join()
    assert "waiting: the clinic program is writing" in waited.stderr
    stats = check_online(c)
    return Result("locked clinic database", 2, "gave up clearly at 3 s; waited and published when released",
                  f"{stats['records_opened']} records opened")


def kill_notes_fetch(work: Path, kills: int, notes: int = 300) -> Result:
    from notes_kit import export_clinic, new_home, server_notes, use_inbox
    from test_notes_reliability import _count, _fill

    home = new_home(work / "notes")
    clinic = export_clinic(home)
    inbox = work / "notes-inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    use_inbox(home, inbox)
    db = home.databases["main"].path
    env = {**os.environ, "CHARTSEAL_HOME": str(home.root)}
    ids: set[str] = set()
    killed = 0
    for _ in range(kills):
        ids |= _fill(clinic, inbox, notes)  # new notes each time: each fetch has work to kill
        proc = subprocess.Popen([CHARTSEAL, "notes", "fetch"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        before = _count(db)
        while proc.poll() is None and _count(db) == before:
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait()
    final = subprocess.run([CHARTSEAL, "notes", "fetch"], env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    rows = server_notes(db)
    assert len(rows) == len(ids) and {r["note_id"] for r in rows} == ids
    assert list((inbox / clinic.id).glob("*.json")) == []
    return Result("kill -9 during notes fetch", kills, "each note stored exactly once, inbox empty",
                  f"{killed} killed mid-fetch; {len(ids)} notes")




def run_all(work: Path, patients: int, kills: int, note_kills: int,
            only: list[str] | None = None) -> list[Result]:
    server = MotoServer()
    server.start()
    results: list[Result] = []
    plan = [
        ("kill", lambda: kill_publish(work, server, patients, kills)),
        ("faults", lambda: fault_proxy(work, server, patients)),
        ("notes", lambda: kill_notes_fetch(work, note_kills)),
        ("lost", lambda: lost_state(work, server, patients)),
        ("state", lambda: damaged_state(work, server, patients)),
        ("site", lambda: damaged_site_file(work, server, patients)),
        ("full", lambda: disk_full(work, server, patients)),
        ("locked", lambda: locked_db(work, server, patients)),
    ]
    try:
        for name, fn in plan:
            if only and name not in only:
                continue
            t0 = time.monotonic()
            try:
                r = fn()
            except AssertionError as exc:
                r = Result(name, 0, "FAILED", str(exc).splitlines()[0][:200])
            r.detail += f" ({time.monotonic() - t0:.0f} s)"
            print(f"{r.scenario}: {r.outcome} — {r.detail}", flush=True)
            results.append(r)
    finally:
        server.stop()
    return results


def table(results: list[Result]) -> str:
    rows = ["| scenario | trials | result | details |", "|---|---|---|---|"]
    rows += [f"| {r.scenario} | {r.trials} | {r.outcome} | {r.detail} |" for r in results]
    return "\n".join(rows)


def write_doc(text: str, command: str) -> None:
    path = ROOT / "docs" / "RELIABILITY.md"
    doc = path.read_text(encoding="utf-8")
    start, end = "<!-- results -->", "<!-- /results -->"
    block = f"{start}\n`{command}` on {time.strftime('%Y-%m-%d')}:\n\n{text}\n{end}"
    head, _, rest = doc.partition(start)
    _, _, tail = rest.partition(end)
    path.write_text(head + block + tail, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--note-kills", type=int, default=25)
    ap.add_argument("--only", nargs="*", help="kill faults notes lost state site full locked")
    ap.add_argument("--write", action="store_true", help="put the table in docs/RELIABILITY.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="chartseal-rel-") as tmp:
        results = run_all(Path(tmp), args.patients, args.kills, args.note_kills, args.only)
    text = table(results)
    print(text)
    if args.write:
        cmd = " ".join(["python bench/reliability.py"] + sys.argv[1:])
        write_doc(text, cmd)
    if any(r.outcome == "FAILED" for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
