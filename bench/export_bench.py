"""Export benchmark: full export against the bare Argon2id work, one-change re-export, memory.

    .venv/bin/python bench/export_bench.py --patients 10000          # real Argon2id (64 MiB, 3)
    .venv/bin/python bench/export_bench.py --memory 50000            # peak RSS of a 50k export
    .venv/bin/python bench/export_bench.py --edits 10 --patients 10000   # edits with a memo, index bytes
    .venv/bin/python bench/export_bench.py --memory 10000 --memo     # where the service's memory goes
    .venv/bin/python bench/export_bench.py --memo --home /tmp/svc50k/home   # the same, on a home already made

The peer of a full export is the Argon2id work it cannot avoid: one derivation per door,
run on the same thread pool with nothing else. The target is export / bare <= 1.2.
"""
from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter import access, crypto, keystore  # noqa: E402
from exporter.home import Database, create_home, load_home  # noqa: E402
from exporter.site import export_site  # noqa: E402


def make_home(tmp: Path, patients: int, params: crypto.KdfParams, seed: int = 7):
    from exporter.demo_data import write_demo_clinic  # Faker is large: not in the export's process

    db = tmp / "main.sqlite"
    write_demo_clinic(db, patients=patients, seed=seed)
    home = create_home(tmp / "home", params)
    conn = keystore.create(home.keys_path)
    access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", db)
    home.save()
    return load_home(home.root), db


def bare_kdf(n: int, params: crypto.KdfParams) -> float:
    jobs = [(b"password-%d" % i, crypto.salt("patient", "1234567890", str(i))) for i in range(n)]
    start = time.perf_counter()
    # The exporter's pool (exporter.doors): one thread per core, libsodium drops the GIL.
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        list(pool.map(lambda job: crypto.derive_door(job[0], job[1], params), jobs))
    return time.perf_counter() - start


def full_and_incremental(patients: int, params: crypto.KdfParams) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home, db = make_home(Path(tmp), patients, params)
        start = time.perf_counter()
        result = export_site(home)
        full = time.perf_counter() - start
        bare = bare_kdf(result.derived, params)
        published = site_bytes(home.site_dir)
        start = time.perf_counter()
        noop = export_site(home)
        noop_s = time.perf_counter() - start
        conn = sqlite3.connect(db)
        conn.execute("UPDATE visits SET notes = 'bench edit' WHERE id = (SELECT MIN(id) FROM visits)")
        conn.commit()
        conn.close()
        start = time.perf_counter()
        one = export_site(home)
        one_s = time.perf_counter() - start
    print(f"Argon2id ops={params.ops} mem={params.mem // (1 << 20)} MiB, {os.cpu_count()} cores")
    print(f"{'run':<28}{'seconds':>10}{'sealed':>10}{'derived':>10}")
    print(f"{'full export':<28}{full:>10.2f}{result.sealed:>10}{result.derived:>10}")
    print(f"{'bare Argon2id (same pool)':<28}{bare:>10.2f}{'':>10}{result.derived:>10}")
    print(f"{'no-op re-export':<28}{noop_s:>10.2f}{noop.sealed:>10}{noop.derived:>10}")
    print(f"{'one visit edited':<28}{one_s:>10.2f}{one.sealed:>10}{one.derived:>10}")
    print(f"ratio full / bare Argon2id: {full / bare:.3f} (target <= 1.2)")
    print("published bytes after the full export (FORMAT.md 5.2, 6: padded doors and bodies):")
    for folder, (count, size, sizes) in sorted(published.items()):
        print(f"  {folder:<8}{count:>8} files{size:>14,} B{len(sizes):>6} distinct sizes")
    print(f"  {'total':<8}{sum(c for c, _, _ in published.values()):>8} files"
          f"{sum(s for _, s, _ in published.values()):>14,} B")


def site_bytes(site_dir: Path) -> dict[str, tuple[int, int, set[int]]]:
    """Per folder of the clinic (door, obj) and the app: files, bytes, distinct sizes."""
    out: dict[str, tuple[int, int, set[int]]] = {}
    for path in site_dir.rglob("*"):
        if path.is_file():
            parts = path.relative_to(site_dir).parts
            folder = parts[2] if parts[0] == "c" and len(parts) > 3 else "app"
            count, size, sizes = out.get(folder, (0, 0, set()))
            out[folder] = (count + 1, size + path.stat().st_size, sizes | {path.stat().st_size})
    return out


def index_bytes(home) -> tuple[int, int, int]:
    """(objects, bytes, largest object) of the admin's account index as published: the one
    index body, or the root and its shards (writer cache keys 'index:admin',
    'index-shard:admin:...')."""
    conn = home.connect_state()
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sealed_cache WHERE key = 'index:admin' OR key LIKE 'index-shard:admin:%'")]
    finally:
        conn.close()
    sizes = [(home.site_dir / name).stat().st_size for name in names]
    return len(sizes), sum(sizes), max(sizes)


def edits(patients: int, count: int) -> None:
    """One patient edited at a time (a surname, then a mobile number), each exported in one
    process with a memo, as the service does: CPU seconds and objects sealed per edit, after
    a full export and a no-op."""
    from exporter.memo import ExportMemo

    os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        home, db = make_home(Path(tmp), patients, crypto.KdfParams(ops=1, mem=8192))
        memo = ExportMemo()
        start = time.perf_counter()
        export_site(home, memo=memo)
        full = time.perf_counter() - start
        export_site(home, memo=memo)
        ids = [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM patients ORDER BY id")]
        runs = {}
        # A surname shows in the list and in the diary of every month the patient has visits
        # in; a mobile number only in the list.
        for column in ("surname", "mobile"):
            cpu, sealed = [], []
            for k in range(count):
                conn = sqlite3.connect(db)
                with conn:
                    conn.execute(f"UPDATE patients SET {column} = ? WHERE id = ?",
                                 (f"Edited{k}", ids[(k * 7919 + len(runs)) % len(ids)]))
                conn.close()
                start = time.process_time()
                result = export_site(home, memo=memo)
                cpu.append(time.process_time() - start)
                sealed.append(result.sealed)
            runs[column] = (sorted(cpu), sealed)
        n, size, largest = index_bytes(home)
    print(f"{patients} patients, weak Argon2id, {os.cpu_count()} cores; full export {full:.1f} s")
    for column, (cpu, sealed) in runs.items():
        print(f"one patient's {column} edited, exported with a memo ({count} edits): CPU median "
              f"{cpu[len(cpu) // 2]:.3f} s, max {cpu[-1]:.3f} s; objects sealed per edit {sorted(set(sealed))}")
    print(f"admin's index: {n} objects, {size:,} B, largest {largest:,} B")


def memory_child(root: str) -> None:
    """Export an already generated clinic, in a process that did nothing else first."""
    home = load_home(Path(root))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = export_site(home)
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{result.patients} patients: export {took:.1f} s, {result.sealed} objects, "
          f"peak RSS {peak / 1024:.0f} MiB (at start {before / 1024:.0f} MiB; "
          f"Argon2id at 64 MiB adds at most 64 MiB per core)")
    n, size, largest = index_bytes(home)
    print(f"admin's index: {n} objects, {size:,} B, largest {largest:,} B")


def memo_child(root: str) -> None:
    """Where the service's memory goes after its first export and one stamped edit: the
    process's RSS against Python's live allocations (tracemalloc) and glibc's heap, then the
    live allocations freed by dropping each part of the memo in turn. RSS above the live
    bytes is allocator overhead (freed memory kept mapped); tracemalloc's own tables are
    left out of the live bytes but not of the RSS."""
    import gc
    import tracemalloc
    from datetime import datetime

    from exporter.memo import ExportMemo

    home = load_home(Path(root))
    tracemalloc.start()
    memo = ExportMemo()
    export_site(home, auto=True, memo=memo)
    db = home.databases["main"].path
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE visits SET paid = paid + 1, modified_at = ? WHERE id = 17",
                      (datetime.now().isoformat(timespec="seconds"),))
    conn.close()
    result = export_site(home, auto=True, memo=memo)

    def traced() -> float:
        gc.collect()
        return tracemalloc.get_traced_memory()[0] / 2**20

    live = traced()
    rss, heap = process_memory()
    print(f"{result.patients} patients, after the first export and one edit: RSS {rss:.0f} MiB, of which "
          f"tracemalloc's tables {tracemalloc.get_tracemalloc_memory() / 2**20:.0f} MiB; live Python "
          f"allocations {live:.1f} MiB; glibc heap in use {heap:.0f} MiB")
    parts = [(f"table {kind}", lambda k=kind: memo._tables.pop(k)) for kind in list(memo._tables)]
    parts += [("plan and cache (state)", lambda: setattr(memo, "state", None)),
              ("clinic reads (patients)", memo.reads.clear)]
    for name, drop in parts:
        before = traced()
        drop()
        print(f"  {name:<26}{before - traced():8.1f} MiB")
    print(f"  {'left (modules, caches)':<26}{traced():8.1f} MiB")


def process_memory() -> tuple[float, float]:
    """This process's RSS and glibc's heap bytes in use (all arenas), in MiB; 0 for the heap
    where glibc's mallinfo2 is missing."""
    import ctypes

    status = Path("/proc/self/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                   "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return rss, 0.0
    mallinfo2.restype = Info
    info = mallinfo2()
    return rss, (info.uordblks + info.hblkhd) / 2**20


def memory(patients: int, memo: bool = False) -> None:
    os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        # Generate and export in two fresh processes: Linux carries a process's peak RSS
        # across exec, so the export must not start from the generator's process.
        subprocess.run([sys.executable, __file__, "--generate", tmp, "--memory", str(patients)],
                       check=True)
        subprocess.run([sys.executable, __file__, "--memo-child" if memo else "--child",
                        str(Path(tmp) / "home")], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--memory", type=int, default=0, help="measure peak memory for N patients")
    ap.add_argument("--weak", action="store_true", help="weak Argon2id (quick smoke run)")
    ap.add_argument("--edits", type=int, default=0,
                    help="rename N patients one at a time, exported with a memo (weak Argon2id)")
    ap.add_argument("--memo", action="store_true", help="with --memory: what the service's memo holds")
    ap.add_argument("--home", help="with --memo: measure this home (its clinic gets one edit) instead of a new one")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--memo-child", help=argparse.SUPPRESS)
    ap.add_argument("--generate", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
        make_home(Path(args.generate), args.memory, crypto.KdfParams(ops=1, mem=8192))
        return
    if args.child:
        os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
        memory_child(args.child)
        return
    if args.memo_child:
        os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
        memo_child(args.memo_child)
        return
    if args.memo and args.home:
        subprocess.run([sys.executable, __file__, "--memo-child", args.home], check=True)
        return
    if args.memory:
        memory(args.memory, args.memo)
        return
    if args.edits:
        edits(args.patients, args.edits)
        return
    if args.weak:
        os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"
        params = crypto.KdfParams(ops=1, mem=8192)
    else:
        params = crypto.KdfParams()
    full_and_incremental(args.patients, params)


if __name__ == "__main__":
    main()
