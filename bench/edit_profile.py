"""Edit profile: what one edit costs an export that runs with a memo, as the service's do.

    .venv/bin/python bench/edit_profile.py WORKDIR visit      # a visit's amount, stamped
    .venv/bin/python bench/edit_profile.py WORKDIR patient    # a patient's address, stamped

WORKDIR is a folder with a home made by `bench/service_bench.py --workdir WORKDIR` (any size).
The script EDITS the clinic database that home's config names, as a clinic program would:
run it on a copy whose config points at a copy of the database. It exports once with a memo
(the service's first export), once more (a no-op), times three edits one at a time, then
prints cProfile's view of a fourth (cumulative and own time). Argon2id uses the weak test
parameters; no key is derived on the path of an edit.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"

from exporter.home import load_home  # noqa: E402
from exporter.memo import ExportMemo  # noqa: E402
from exporter.site import export_site  # noqa: E402


def edit(db: Path, kind: str, k: int) -> None:
    conn = sqlite3.connect(db)
    now = datetime.now().isoformat(timespec="seconds")
    with conn:
        if kind == "visit":
            conn.execute("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = ?", (now, 17 + k * 101))
        else:
            conn.execute("UPDATE patients SET address = ?, modified_at = ? WHERE id = ?", (f"x{k}", now, 17 + k * 101))
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("kind", choices=("visit", "patient"), nargs="?", default="visit")
    ap.add_argument("--lines", type=int, default=40, help="profile lines printed per view")
    args = ap.parse_args()
    home = load_home(args.workdir / "home")
    db = home.databases["main"].path
    memo = ExportMemo()
    for what in ("first export", "no-op"):
        start = time.perf_counter()
        export_site(home, auto=True, memo=memo)
        print(f"{what}: {time.perf_counter() - start:.2f} s")
    for k in range(3):
        edit(db, args.kind, k)
        start, cpu = time.perf_counter(), time.process_time()
        result = export_site(home, auto=True, memo=memo)
        print(f"edit {k + 1}: {time.perf_counter() - start:.2f} s wall, "
              f"{time.process_time() - cpu:.2f} s CPU, {result.sealed} objects sealed")
    edit(db, args.kind, 5)
    profile = cProfile.Profile()
    profile.enable()
    export_site(home, auto=True, memo=memo)
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.lines)
    stats.sort_stats("tottime").print_stats(args.lines)


if __name__ == "__main__":
    main()
