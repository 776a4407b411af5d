"""Deriving door keys (Argon2id, in parallel) for patients, accounts and the general door.

This is the only expensive step of an export: one Argon2id per new door. A door key is
kept in the keystore, so it is derived once per password, not once per export, and the
ones finished before an interrupted export are kept.
"""
from __future__ import annotations

import os
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Callable, Iterable

from . import crypto, keystore


# Finished derivations are committed at least this often, so an interrupted export (Ctrl-C,
# a crash) loses at most this much Argon2id work; one commit per key would cost a disk sync
# per patient on a first export.
SAVE_EVERY_S = 1.0

Job = tuple[bytes, bytes]
Target = tuple[str, tuple[str, ...]]


def _store(conn: sqlite3.Connection, done: list[tuple[Target, tuple[bytes, str]]]) -> None:
    with conn:
        for (kind, key), (door_key, door_id) in done:
            if kind == "patient":
                conn.execute("UPDATE patients SET door_id = ?, door_key = ? WHERE db = ? AND card = ?",
                             (door_id, door_key, *key))
            elif kind == "account":
                conn.execute("UPDATE accounts SET door_id = ?, door_key = ? WHERE name = ?",
                             (door_id, door_key, *key))
            else:
                keystore.put_secret(conn, "general_door_id", door_id)
                keystore.put_secret(conn, "general_door_key", door_key)
    done.clear()


def _derive_all(conn: sqlite3.Connection, jobs: list[Job], targets: list[Target],
                params: crypto.KdfParams, progress: Callable[[int, int], None] | None) -> None:
    # libsodium releases the GIL inside crypto_pwhash, so threads use every core.
    pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
    futures = {pool.submit(crypto.derive_door, job[0], job[1], params): target
               for job, target in zip(jobs, targets)}
    pending: list[tuple[Target, tuple[bytes, str]]] = []
    collected: set[Future[tuple[bytes, str]]] = set()
    saved_at = time.monotonic()
    try:
        for future in as_completed(futures):
            pending.append((futures[future], future.result()))
            collected.add(future)
            if time.monotonic() - saved_at >= SAVE_EVERY_S:
                _store(conn, pending)
                saved_at = time.monotonic()
            if progress:
                progress(len(collected), len(jobs))
    except BaseException:
        # Ctrl-C or an error: drop the derivations not started, let the running ones end,
        # and keep every finished one, so the next export starts where this one stopped.
        pool.shutdown(wait=True, cancel_futures=True)
        pending += [(target, f.result()) for f, target in futures.items() if f not in collected
                    and f.done() and not f.cancelled() and f.exception() is None]
        _store(conn, pending)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    _store(conn, pending)


def derive_missing(conn: sqlite3.Connection, clinic: str, params: crypto.KdfParams,
                   patients: Iterable[tuple[str, str]],
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Derive every door key the keystore lacks; ``patients`` are (db, card) with pages on."""
    login = keystore.get_text(conn, "login_password")
    jobs: list[Job] = []
    targets: list[Target] = []
    # A plain scan, sorted here: ORDER BY would walk the (db, card) index and look every
    # row up (5x slower at 50,000 patients), and most exports find no row at all. The pages
    # become a set only then, so an export without a new door does nothing per patient.
    lacking = sorted(conn.execute("SELECT db, card, password FROM patients WHERE door_id IS NULL"
                                  ).fetchall(), key=lambda r: (r["db"], r["card"]))
    wanted = set(patients) if lacking else set()
    for row in lacking:
        if (row["db"], row["card"]) in wanted:
            jobs.append((crypto.password_bytes(row["password"]),
                         crypto.salt("patient", clinic, row["card"])))
            targets.append(("patient", (row["db"], row["card"])))
    for row in conn.execute("SELECT name, password FROM accounts WHERE door_id IS NULL").fetchall():
        jobs.append((crypto.password_bytes(login, row["password"]),
                     crypto.salt("account", clinic, row["name"])))
        targets.append(("account", (row["name"],)))
    if conn.execute("SELECT 1 FROM secrets WHERE name = 'general_door_id'").fetchone() is None:
        jobs.append((crypto.password_bytes(keystore.get_text(conn, "general_password")),
                     crypto.salt("general", clinic)))
        targets.append(("general", ()))
    if not jobs:
        return 0
    _derive_all(conn, jobs, targets, params, progress)
    return len(jobs)
