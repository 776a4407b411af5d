"""Memory phases: where a service-like process's resident memory comes from, phase by phase.

    .venv/bin/python bench/memory_phases.py WORKDIR            # phases of the first export, 10 edits
    .venv/bin/python bench/memory_phases.py WORKDIR --edits 30

WORKDIR is a folder with a home made by `bench/service_bench.py --workdir WORKDIR`. The
script EDITS the clinic database that home's config names (stamped edits, as a clinic program
makes them). It runs the service's allocator settings, one export with a memo (the service's
first), then edits one at a time, each exported with the same memo. After each phase of the
first export (read, patients, accounts) and after some edits it prints, once the cyclic
collector ran and the freed heap was given back as the service does:

- RSS: what the target ("service RSS < 500 MB") is about;
- glibc heap: blocks in use in the C heap (objects over 512 bytes, SQLite, libsodium);
- Python blocks / arenas: bytes in use in Python's small-object allocator, and the 1 MiB
  arenas it holds them in. An arena goes back to the system only when all of it is free, so
  arenas well above the blocks in use mean garbage was allocated among long-lived objects
  (a whole clinic's rows read at once did that: docs/PERFORMANCE.md, "Service").

Argon2id uses the weak test parameters; no key is derived on the path of an edit.
"""
from __future__ import annotations

import argparse
import gc
import os
import re
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"

from publisher.service_memory import give_back_memory, tune_allocator  # noqa: E402

tune_allocator()  # before anything else allocates, as the service does

from exporter import site  # noqa: E402
from exporter.home import load_home  # noqa: E402
from exporter.memo import ExportMemo  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from export_bench import process_memory  # noqa: E402


def python_allocator() -> tuple[float, int]:
    """(MiB in use in Python's small-object allocator, arenas it holds), from
    sys._debugmallocstats, which writes to the C stderr."""
    with tempfile.TemporaryFile(mode="w+") as fh:
        saved = os.dup(2)
        os.dup2(fh.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        fh.seek(0)
        text = fh.read()

    def number(label: str) -> int:
        found = re.search(rf"# {label}\s*=\s*([\d,]+)", text)
        return int(found[1].replace(",", "")) if found else 0
    return number("bytes in allocated blocks") / 2**20, number("arenas allocated current")


def row(what: str) -> None:
    gc.collect()
    give_back_memory()
    rss, heap = process_memory()
    used, arenas = python_allocator()
    print(f"{what:<28}{rss:>8.0f}{heap:>14.0f}{used:>16.0f}{arenas:>9}", flush=True)


def after(name: str, label: str) -> None:
    """Print a row after each call of site.<name> (a phase of export_site)."""
    real = getattr(site, name)

    def phase(*args, **kwargs):
        out = real(*args, **kwargs)
        if first_export:
            row(label)
        return out
    setattr(site, name, phase)


first_export = True


def main() -> None:
    global first_export
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--edits", type=int, default=10)
    args = ap.parse_args()
    home = load_home(args.workdir / "home")
    for name, label in (("read_clinic", "  read"), ("seal_patients", "  patients' pass"),
                        ("seal_accounts", "  accounts' pass")):
        after(name, label)
    print(f"{'MiB':<28}{'RSS':>8}{'glibc heap':>14}{'Python blocks':>16}{'arenas':>9}")
    row("start")
    memo = ExportMemo()
    started = time.perf_counter()
    site.export_site(home, auto=True, memo=memo)
    took = time.perf_counter() - started
    first_export = False
    row(f"first export ({took:.0f} s)")
    gc.freeze()  # as the service does after each export
    db = home.databases["main"].path
    conn = sqlite3.connect(db)
    visits, patients = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("visits", "patients"))
    conn.close()
    for i in range(args.edits):
        conn = sqlite3.connect(db)
        with conn:
            stamp = datetime.now().isoformat(timespec="seconds")
            conn.execute("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = "
                         "(SELECT id FROM visits ORDER BY id LIMIT 1 OFFSET ?)", (stamp, 9973 * i % visits))
            conn.execute("UPDATE patients SET address = address || '.', modified_at = ? WHERE id = "
                         "(SELECT id FROM patients ORDER BY id LIMIT 1 OFFSET ?)", (stamp, 7919 * i % patients))
        conn.close()
        site.export_site(home, auto=True, memo=memo)
        gc.freeze()
        if i + 1 in (1, 5, 10, 20, 50, 100) or i + 1 == args.edits:
            row(f"after {i + 1} edits")


if __name__ == "__main__":
    main()
