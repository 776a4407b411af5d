"""Deriving door keys (Argon2id, in parallel) for patients, accounts and the general door.

This is the only expensive step of an export: one Argon2id per new door. A door key is
kept in the keystore, so it is derived once per password, not once per export.
"""
from __future__ import annotations

import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from . import crypto, keystore


def _derive_all(jobs: list[tuple[bytes, bytes]], params: crypto.KdfParams,
                progress: Callable[[int, int], None] | None) -> list[tuple[bytes, str]]:
    # libsodium releases the GIL inside crypto_pwhash, so threads use every core.
    workers = max(1, os.cpu_count() or 1)
    out: list[tuple[bytes, str]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda job: crypto.derive_door(job[0], job[1], params), jobs):
            out.append(result)
            if progress:
                progress(len(out), len(jobs))
    return out


def derive_missing(conn: sqlite3.Connection, clinic: str, params: crypto.KdfParams,
                   patients: Iterable[tuple[str, str]],
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Derive every door key the keystore lacks; ``patients`` are (db, card) with pages on."""
    login = keystore.get_text(conn, "login_password")
    jobs: list[tuple[bytes, bytes]] = []
    targets: list[tuple[str, tuple[str, ...]]] = []
    wanted = set(patients)
    for row in conn.execute("SELECT db, card, password FROM patients WHERE door_id IS NULL "
                            "ORDER BY db, card"):
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
    results = _derive_all(jobs, params, progress)
    with conn:
        for (kind, key), (door_key, door_id) in zip(targets, results):
            if kind == "patient":
                conn.execute("UPDATE patients SET door_id = ?, door_key = ? WHERE db = ? AND card = ?",
                             (door_id, door_key, *key))
            elif kind == "account":
                conn.execute("UPDATE accounts SET door_id = ?, door_key = ? WHERE name = ?",
                             (door_id, door_key, *key))
            else:
                keystore.put_secret(conn, "general_door_id", door_id)
                keystore.put_secret(conn, "general_door_key", door_key)
    return len(jobs)
