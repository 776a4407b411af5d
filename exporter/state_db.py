"""Opening the clinic's state database, and setting a damaged one aside.

The state database only caches what can be rebuilt: the plan and the sealed-object cache
(the next export writes them again) and what the target holds (the next publish lists the
target once, publisher/sync.py ``reconcile``). So a damaged one is moved aside, never
repaired in place and never deleted, and a new one is started. A damage check that reads
every page would cost the no-op publish its speed, so the header is checked on every open
(cheap) and SQLite's own ``quick_check`` runs only when the header looks wrong; SQLite
errors that mean "corrupt" on the first read count as damage too.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path



def is_corrupt(exc: BaseException) -> bool:
    """True for SQLite's "database disk image is malformed" / "file is not a database"."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (11, 26)
    text = str(exc)
    return "malformed" in text or "not a database" in text


def _size_problem(conn: sqlite3.Connection, path: Path) -> str | None:
    """Why the file is shorter than SQLite says it is (truncated), judged without opening
    the file ourselves: closing another descriptor of a database file would drop this
    process's SQLite locks on it (POSIX advisory locks), which corrupts databases that other
    threads have open."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    wal = path.with_name(path.name + "-wal")
    have = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return "it is shorter than its header says (truncated)" if pages * page_size > have else None


def _open(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=timeout)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _confirm(path: Path, timeout: float) -> str | None:
    """Open and read it; return why it is damaged, or None when it is usable."""
    conn = None
    try:
        conn = _open(path, timeout)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        why = _size_problem(conn, path)
        if why is not None:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
            return None if rows == ["ok"] else f"{why}: {'; '.join(rows)}"
        return None
    except sqlite3.DatabaseError as exc:
        if not is_corrupt(exc):
            raise
        return str(exc)
    finally:
        if conn is not None:
            conn.close()


def set_aside(path: Path, now: float | None = None) -> Path:
    """Rename ``path`` (and its -wal/-shm, which must never meet a new database) aside."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for extra in ("-wal", "-shm"):
        side = path.with_name(path.name + extra)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + extra))
    os.replace(path, aside)
    return aside


def connect(path: Path, timeout: float = 30) -> sqlite3.Connection:
    """The state database at ``path``; a damaged one is moved aside and a new one started."""
    why = _confirm(path, timeout) if path.exists() else None
    if why is not None:
        # Look twice: a file caught in the middle of another process's checkpoint must not be
        # mistaken for a damaged one and moved from under it.
        time.sleep(0.5)
        why = _confirm(path, timeout) if path.exists() else None
    if why is not None:
        aside = set_aside(path)
        print(f"warning: the state database {path} was damaged ({why}); moved it to "
              f"{aside.name} and started a new one: the next export seals the site again and "
              "the next publish lists the target once to rebuild what it holds",
              file=sys.stderr)
    return _open(path, timeout)
