"""Time the demo clinic generator and the clinic database reader.

    .venv/bin/python bench/demo_data_bench.py [--patients 10000 1000] [--repeat 3]

Prints one row per size: seconds to generate the file, and the best of ``--repeat`` reads
(wall and CPU seconds; CPU is the steadier number on a busy machine). Targets
(docs/CLINIC_DB.md): 10,000 patients generate in under 30 s and read in well under 2 s.
"""
from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path

from exporter.clinic_db import read_clinic
from exporter.demo_data import write_demo_clinic


def related_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                   for t in ("health", "deals", "visits", "appointments"))
    finally:
        conn.close()


def measure(folder: Path, patients: int, repeat: int) -> tuple[int, float, float, float]:
    path = folder / f"clinic-{patients}.db"
    start = time.perf_counter()
    write_demo_clinic(path, patients=patients, seed=1, start=date(2025, 3, 10), overwrite=True)
    generate = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        data = read_clinic(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        assert len(data.patients) == patients and not data.problems
    return related_rows(path), generate, min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    header = ("patients", "related rows", "generate s", "read s", "read cpu s")
    print("{:>9} {:>13} {:>11} {:>8} {:>11}".format(*header))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.patients:
            rel, gen, wall, cpu = measure(Path(tmp), n, args.repeat)
            print(f"{n:>9} {rel:>13} {gen:>11.2f} {wall:>8.2f} {cpu:>11.2f}")


if __name__ == "__main__":
    main()
