"""Service benchmark: latency from a committed change to the object on the target, idle CPU.

    .venv/bin/python bench/service_bench.py                      # 10,000 patients, 100 edits, 30 s idle
    .venv/bin/python bench/service_bench.py --patients 2000 --edits 20 --idle 10

A clinic of N demo patients is exported and published to a folder once; then
`chartseal service run` is started as a real process and each edit is committed the way a
clinic program does (WAL mode, its connection kept open): a patient's address, a visit's
amount, an appointment's reason and an agreement's payment, in turn. The latency of one edit is from
the COMMIT returning to the moment the state database records the upload of every object
the edit changed (rows are written only after the target confirmed them), read every 10 ms.
Edits are spaced out so they do not overlap. Idle CPU is the service's user+system time over
a quiet period, from /proc.

Run it from a copy of a commit when others edit the working tree (a template change makes the
next export re-seal every patient):

    git archive HEAD | tar -x -C /tmp/cs && ln -s $PWD/node_modules /tmp/cs/ && .venv/bin/python /tmp/cs/bench/service_bench.py

Argon2id runs with the weak test parameters (ops=1, mem=8 MiB): derivation is not on the
path of an edit (doors are derived only for new passwords), but the first export would take
an hour at the real parameters.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"

from exporter import access, crypto, keystore  # noqa: E402
from exporter.demo_data import write_demo_clinic  # noqa: E402
from exporter.home import Database, create_home, load_home  # noqa: E402
from publisher.publish import publish  # noqa: E402



def make_home(tmp: Path, patients: int):
    db = tmp / "main.sqlite"
    write_demo_clinic(db, patients=patients, seed=11)
    home = create_home(tmp / "home", crypto.KdfParams(ops=1, mem=8192))
    conn = keystore.create(home.keys_path)
    access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", db)
    home.save()
    return load_home(home.root), db


def wait_idle(root: Path, since: float, patience: float = 600) -> None:
    """Until the service's heartbeat says it is idle after its startup check."""
    end = time.time() + patience
    while time.time() < end:
        try:
            beat = json.loads((root / "service.json").read_text())
        except (OSError, ValueError):
            beat = {}
        if beat.get("activity") == "idle" and (beat.get("last_publish") or 0) > since:
            return
        time.sleep(0.1)
    raise SystemExit("error: the service did not become idle")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> tuple[float, float]:
    """The process's resident set now and at its peak (VmRSS, VmHWM), in MiB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if ":" in line)
    return tuple(int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def state_mark(state: sqlite3.Connection) -> tuple[float, int]:
    ts = state.execute("SELECT coalesce(max(ts), 0) FROM upload_log WHERE ok = 1").fetchone()[0]
    # this home's target only: a workdir copied from another keeps that one's jobs
    queued = state.execute("SELECT count(*) FROM jobs WHERE target = ?", (TARGET[0],)).fetchone()[0]
    return ts, queued


TARGET = [""]  # the state key of the service's target, set in main


def wait_published(state: sqlite3.Connection, after: float, patience: float = 120) -> float:
    end = time.time() + patience
    while time.time() < end:
        ts, queued = state_mark(state)
        if ts > after and queued == 0:
            return time.time()
        time.sleep(0.01)
    raise SystemExit("error: an edit did not reach the target within the patience period")


# One kind of edit after another, as a clinic makes them: each touches a different table,
# and a visit or an appointment also changes a diary month. A value never written before
# each time: SQLite skips writing a row that is unchanged. Each edit moves the row's
# modified_at, as the clinic program does.
EDIT_KINDS = {
    "patient address": "UPDATE patients SET address = ? || ' Bench Street', modified_at = ? WHERE id = "
                       "(SELECT id FROM patients LIMIT 1 OFFSET ?)",
    "visit paid": "UPDATE visits SET paid = 10 + ? % 97, modified_at = ? WHERE id = "
                  "(SELECT id FROM visits LIMIT 1 OFFSET ?)",
    "appointment reason": "UPDATE appointments SET reason = 'Check ' || ?, modified_at = ? WHERE id = "
                          "(SELECT id FROM appointments LIMIT 1 OFFSET ?)",
    "agreement paid": "UPDATE deals SET paid = ? % 400, modified_at = ? WHERE id = "
                      "(SELECT id FROM deals LIMIT 1 OFFSET ?)",
}


def edits(db: Path, state: sqlite3.Connection, count: int, patience: float = 120) -> list[tuple[str, float]]:
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    sizes = {t: writer.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
             for t in ("patients", "visits", "appointments", "deals")}
    rng = random.Random(5)
    kinds = list(EDIT_KINDS)
    out = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        table = EDIT_KINDS[kind].split()[1]
        with writer:
            # stamped as a clinic program stamps its edits (the service reads only what changed)
            stamp = datetime.now().isoformat(timespec="seconds")
            writer.execute(EDIT_KINDS[kind], (time.time_ns(), stamp, rng.randrange(sizes[table])))
        t0 = time.time()
        done = wait_published(state, t0, patience)
        out.append((kind, done - t0))
        print(f"  edit {i + 1} ({kind}): {done - t0:.2f} s", flush=True)
        time.sleep(0.3 + rng.random() * 0.4)  # spaced out: each edit measured alone
    writer.close()
    return out


def export_seconds(log_dir: Path) -> list[float]:
    """Export times the service logged ("exported ... in X s"), oldest first."""
    times = []
    for path in sorted(log_dir.glob("service.log*"), reverse=True):
        times += [float(m) for m in re.findall(r"objects sealed, .*? in ([0-9.]+) s", path.read_text())]
    return times


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=10000)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    ap.add_argument("--patience", type=float, default=120, help="longest wait for one edit, in seconds")
    ap.add_argument("--workdir", help="keep the clinic here and reuse it on the next run")
    ap.add_argument("--no-publish", action="store_true",
                    help="with --workdir: skip the setup publish (the last run's service published "
                         "every edit; saves minutes at 50,000 patients)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(args.workdir or tmpname)
        t = time.perf_counter()
        if (tmp / "home" / "config.toml").exists():
            home, db = load_home(tmp / "home"), tmp / "main.sqlite"
        else:
            tmp.mkdir(parents=True, exist_ok=True)
            home, db = make_home(tmp, args.patients)
        if home.databases["main"].path.resolve() != db.resolve():
            # a workdir copied with `cp -a` still names the original's clinic database: the
            # service would read (and the edits miss) that one
            raise SystemExit(f"error: {home.root} reads {home.databases['main'].path}, not {db}\n"
                             f"hint: set its [databases] path in {home.root / 'config.toml'} to {db}")
        from publisher.policy import Policy
        from publisher.publish import make_target

        TARGET[0] = make_target(home, None, None, None, Policy.from_env()).state_key
        if not args.no_publish:
            publish(home)  # the service starts on an up-to-date target, as in a clinic
        patients = sqlite3.connect(db).execute("SELECT count(*) FROM patients").fetchone()[0]
        print(f"setup: {patients} patients {'' if args.no_publish else 'exported and published '}"
              f"in {time.perf_counter() - t:.0f} s")
        log = open(tmp / "service.out", "wb")
        started = time.time()
        # `python -m cli` from this checkout (PYTHONPATH first): the service runs the same
        # code as this script, even from a copy made with `git archive` for a stable run.
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "cli", "service", "run", "--home", str(home.root)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
        try:
            state = sqlite3.connect(home.state_path, timeout=30)
            wait_idle(home.root, started)  # its startup check (one no-op export) has ended
            time.sleep(1)
            c0, w0 = cpu_seconds(proc.pid), time.time()
            time.sleep(args.idle)
            idle = (cpu_seconds(proc.pid) - c0) / (time.time() - w0) * 100
            print(f"idle CPU over {args.idle:.0f} s: {idle:.2f} % of one core", flush=True)
            print("service RSS idle: %.0f MiB (peak so far %.0f MiB)" % rss_mib(proc.pid), flush=True)
            before = len(export_seconds(home.log_dir))
            results = edits(db, state, args.edits, args.patience)
            lat = [t for _, t in results]
            print(f"{'edits':<22}{'count':>6}{'median':>9}{'p95':>9}{'min':>9}{'max':>9}")
            for kind in [*EDIT_KINDS, "all"]:
                ts = [t for k, t in results if kind in (k, "all")]
                print(f"{kind:<22}{len(ts):>6}{statistics.median(ts):>8.2f}s{pct(ts, 95):>8.2f}s"
                      f"{min(ts):>8.2f}s{max(ts):>8.2f}s")
            exports = export_seconds(home.log_dir)[before:]
            if exports:
                print(f"of which the export (service log): median {statistics.median(exports):.2f} s "
                      f"over {len(exports)} exports")
            print(f"target: p95 < 3 s; all edits p95 {pct(lat, 95):.2f} s")
            time.sleep(2)
            print("service RSS after %d edits: %.0f MiB (peak %.0f MiB)" % (args.edits, *rss_mib(proc.pid)),
                  flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=120)
            log.close()
        print(f"service exit status after SIGTERM: {proc.returncode}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the cleanup: stop the service
    main()
