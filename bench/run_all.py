"""`make bench`: every bench of this folder once, at sizes that finish in minutes.

Each bench prints its own table with ratios against its peer measured in the same run. The
sizes here are for a quick look; docs/PERFORMANCE.md gives the command and size behind every
recorded number (50,000 patients takes hours of Argon2id and is run by hand). Set
CHARTSEAL_BENCH_SCALE=large for the issue-sized runs that need no real Argon2id.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK = [
    ("export", ["export_bench.py", "--patients", "300", "--weak"]),
    ("export edits", ["export_bench.py", "--patients", "2000", "--edits", "10"]),
    ("publish", ["publish_bench.py", "--patients", "500", "--noop-patients", "500", "--no-write"]),
    ("service", ["service_bench.py", "--patients", "1000", "--edits", "20", "--idle", "5"]),
    ("portal", ["browser_bench.py", "--patients", "2000", "--runs", "3", "--doctor-only"]),
    ("notes", ["notes_bench.py", "--notes", "300", "--clients", "10"]),
    ("cards", ["cards_bench.py", "--patients", "100"]),
    ("demo data", ["demo_data_bench.py", "--patients", "1000"]),
]

LARGE = [
    ("export memory", ["export_bench.py", "--memory", "50000"]),
    ("export edits", ["export_bench.py", "--patients", "10000", "--edits", "20"]),
    ("service", ["service_bench.py", "--patients", "10000", "--edits", "100"]),
    ("portal", ["browser_bench.py", "--patients", "10000,50000", "--runs", "5", "--doctor-only"]),
    ("publish", ["publish_bench.py", "--patients", "3000", "--noop-patients", "50000", "--no-write"]),
]


def main() -> int:
    runs = LARGE if os.environ.get("CHARTSEAL_BENCH_SCALE") == "large" else QUICK
    failed = []
    for name, argv in runs:
        print(f"\n=== {name}: bench/{' '.join(argv)}", flush=True)
        start = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]])
        print(f"=== {name}: {'ok' if code == 0 else f'exit {code}'} in {time.monotonic() - start:.0f} s",
              flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nerror: {len(failed)} bench(es) failed: {', '.join(failed)}", file=sys.stderr)
        print("hint: run the failed one alone with the command above to see its output", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
