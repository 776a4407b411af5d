"""The durable upload queue: one job per group, leased by one worker at a time.

A job means "this group has objects the target still needs"; what exactly is worked out from
the plan and the published table when the job runs, so a job never goes stale. A worker
leases the jobs it runs; a lease ends when it expires or when its owner process is gone (kill
-9), so a rerun resumes at once. Failures back off exponentially with jitter.
"""
from __future__ import annotations

import os
import random
import secrets
import socket
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .policy import Policy

APP, CLINIC = "app", "clinic"
# Patients first, then the clinic's indexes and site.json, then the app pages.
PRIORITY_SQL = "CASE grp WHEN 'app' THEN 2 WHEN 'clinic' THEN 1 ELSE 0 END"


@dataclass(frozen=True)
class Job:
    target: str
    grp: str
    reason: str
    attempts: int
    next_at: float
    lease_owner: str | None
    lease_until: float | None
    last_error: str
    created_at: float


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_alive(owner: str) -> bool:
    """False when the owner ran on this host and its process is gone."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine: only its lease expiry tells
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken up front so two workers never interleave (autocommit conn)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def backoff(attempts: int, policy: Policy, rng: random.Random | None = None) -> float:
    """Delay before the next try after ``attempts`` failures: exponential, capped, jittered.

    The jitter keeps a few hundred patients that failed together from retrying together.
    """
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def enqueue(conn: sqlite3.Connection, target: str, groups: dict[str, str], now: float) -> None:
    """Queue a job per group (reason: why); a job already queued keeps its backoff."""
    conn.executemany(
        "INSERT INTO jobs (target, grp, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (target, grp) DO UPDATE SET updated_at = excluded.updated_at, "
        "reason = CASE WHEN jobs.attempts = 0 THEN excluded.reason ELSE jobs.reason END",
        [(target, g, reason, now, now) for g, reason in groups.items()])


def list_jobs(conn: sqlite3.Connection, target: str | None = None) -> list[Job]:
    sql = ("SELECT target, grp, reason, attempts, next_at, lease_owner, lease_until, last_error, "
           f"created_at FROM jobs {'WHERE target = ?' if target else ''} "
           f"ORDER BY target, {PRIORITY_SQL}, created_at, grp")
    return [Job(*row) for row in conn.execute(sql, (target,) if target else ())]


def _leased_by_other(job: Job, owner: str, now: float) -> bool:
    if not job.lease_owner or job.lease_owner == owner:
        return False
    return (job.lease_until or 0) > now and owner_alive(job.lease_owner)


def claim(conn: sqlite3.Connection, target: str, owner: str, now: float, limit: int,
          skip: set[str], policy: Policy) -> list[str]:
    """Lease up to ``limit`` due jobs (highest priority first) and return their groups."""
    with immediate(conn):
        groups: list[str] = []
        # Read in pages: a first upload at 50,000 patients has 50,000 jobs, and reading them
        # all for every round of 200 made the rounds quadratic.
        page, offset = max(64, 2 * limit), 0
        while len(groups) < limit:
            rows = conn.execute(
                "SELECT target, grp, reason, attempts, next_at, lease_owner, lease_until, "
                "last_error, created_at FROM jobs WHERE target = ? AND next_at <= ? "
                f"ORDER BY {PRIORITY_SQL}, created_at, grp LIMIT ? OFFSET ?",
                (target, now, page, offset)).fetchall()
            for row in rows:
                job = Job(*row)
                if job.grp in skip or _leased_by_other(job, owner, now):
                    continue
                groups.append(job.grp)
                if len(groups) >= limit:
                    break
            if len(rows) < page:
                break
            offset += page
        conn.executemany(
            "UPDATE jobs SET lease_owner = ?, lease_until = ?, updated_at = ? "
            "WHERE target = ? AND grp = ?",
            [(owner, now + policy.lease_seconds, now, target, g) for g in groups])
    return groups


def next_due(conn: sqlite3.Connection, target: str, owner: str, skip: set[str],
             now: float) -> float | None:
    """When the earliest job this worker could still run falls due (None: nothing left)."""
    best = None
    for job in list_jobs(conn, target):
        if job.grp in skip or _leased_by_other(job, owner, now):
            continue
        best = job.next_at if best is None else min(best, job.next_at)
    return best


def renew(conn: sqlite3.Connection, target: str, owner: str, now: float, policy: Policy) -> None:
    with immediate(conn):
        conn.execute("UPDATE jobs SET lease_until = ? WHERE target = ? AND lease_owner = ?",
                     (now + policy.lease_seconds, target, owner))


def complete(conn: sqlite3.Connection, target: str, grp: str, objects: int, size: int,
             now: float) -> None:
    conn.execute("DELETE FROM jobs WHERE target = ? AND grp = ?", (target, grp))
    _log(conn, target, grp, True, objects, size, "", now)


def fail(conn: sqlite3.Connection, target: str, grp: str, error: str, now: float,
         policy: Policy, objects: int = 0, size: int = 0) -> float:
    """Count a failed attempt; return when the job may run again."""
    row = conn.execute("SELECT attempts FROM jobs WHERE target = ? AND grp = ?",
                       (target, grp)).fetchone()
    attempts = (row[0] if row else 0) + 1
    due = now + backoff(attempts, policy)
    conn.execute(
        "UPDATE jobs SET attempts = ?, next_at = ?, last_error = ?, lease_owner = NULL, "
        "lease_until = NULL, reason = 'retry after error', updated_at = ? "
        "WHERE target = ? AND grp = ?", (attempts, due, error, now, target, grp))
    _log(conn, target, grp, False, objects, size, error, now)
    return due


def wait(conn: sqlite3.Connection, target: str, grp: str, reason: str, due: float,
         now: float) -> None:
    """Put a job back without counting a failure: it needs other groups' objects first."""
    conn.execute(
        "UPDATE jobs SET reason = ?, next_at = ?, lease_owner = NULL, lease_until = NULL, "
        "updated_at = ? WHERE target = ? AND grp = ?", (reason, due, now, target, grp))


def release(conn: sqlite3.Connection, target: str, owner: str) -> None:
    with immediate(conn):
        conn.execute("UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
                     "WHERE target = ? AND lease_owner = ?", (target, owner))


def job_next_at(conn: sqlite3.Connection, target: str, groups: set[str]) -> dict[str, float]:
    if not groups:
        return {}
    marks = ",".join("?" * len(groups))
    return dict(conn.execute(f"SELECT grp, next_at FROM jobs WHERE target = ? AND grp IN ({marks})",
                             (target, *groups)).fetchall())


def _log(conn: sqlite3.Connection, target: str, grp: str, ok: bool, objects: int, size: int,
         error: str, now: float) -> None:
    conn.execute("INSERT INTO upload_log (ts, target, grp, ok, objects, bytes, error) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (now, target, grp, int(ok), objects, size, error))


def now() -> float:
    return time.time()
