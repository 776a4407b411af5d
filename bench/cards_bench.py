"""Access-card benchmark: time and size of the PDF for N patients, with and without
--new-password, against one Argon2id derivation at the production parameters.

    .venv/bin/python bench/cards_bench.py --patients 1000

The target (issue 14): with --new-password, under one Argon2id derivation per card (the
door the next export must derive for the new password) plus 20 ms a card. The clinic is
exported with the test KDF parameters to get its keys quickly; cards do no key derivation.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"  # only to export the bench clinic quickly

from exporter import access, cards, crypto, keystore  # noqa: E402
from exporter.home import Database, create_home, load_home  # noqa: E402
from exporter.site import export_site  # noqa: E402


def make_home(tmp: Path, patients: int):
    from exporter.demo_data import write_demo_clinic

    db = tmp / "main.sqlite"
    write_demo_clinic(db, patients=patients, seed=7)
    home = create_home(tmp / "home", crypto.KdfParams(ops=1, mem=8192))
    conn = keystore.create(home.keys_path)
    access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", db)
    home.config.update(site_url="https://records.example-clinic.org", clinic_name="Al Noor Dental")
    home.save()
    home = load_home(home.root)
    export_site(home)
    return home


def one_argon2id() -> float:
    start = time.perf_counter()
    crypto.derive_door(b"correct-horse-battery", crypto.salt("patient", "1234567890", "1"),
                       crypto.KdfParams())
    return time.perf_counter() - start


def timed(label: str, n: int, fn) -> float:
    """Wall and CPU time: on a shared machine the CPU time is the steadier of the two."""
    start, cpu = time.perf_counter(), time.process_time()
    pdf = fn()
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"| {label} | {took:.2f} s | {took / n * 1000:.1f} ms | {cpu / n * 1000:.1f} ms |"
          f" {len(pdf) / 1e6:.2f} MB | {len(pdf) / n / 1000:.1f} kB |")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp), args.patients)
        n = args.patients
        print(f"{n} cards\n\n| run | time | per card | CPU per card | PDF | per card |\n|---|---:|---:|---:|---:|---:|")
        timed("English, A4 sheets", n, lambda: cards.render_pdf(home, all=True))
        timed("Arabic, A4 sheets", n, lambda: cards.render_pdf(home, all=True, lang="ar"))
        timed("English, --single", n, lambda: cards.render_pdf(home, all=True, single=True))
        took = timed("English, --new-password", n,
                     lambda: cards.render_pdf(home, all=True, new_password=True))
        kdf = one_argon2id()
        print(f"\none Argon2id derivation (64 MiB, 3 passes): {kdf * 1000:.0f} ms;"
              f" target per card with --new-password: < {kdf * 1000 + 20:.0f} ms,"
              f" measured {took / n * 1000:.1f} ms")


if __name__ == "__main__":
    main()
