"""keys.sqlite: every secret of the clinic, readable by its owner only.

Holds the clinic passwords, the general and notes keys, accounts and their door keys, shares,
and per patient the record id, content key, password and door keys. Door keys are kept so a
door can be rewritten without repeating Argon2id (docs/FORMAT.md 5.2). Also the site
signing key and the publish counter (FORMAT.md 4, 5.4): ``seq``, ``at``, ``floor``, and a
``revocations`` count that the triggers below raise whenever access is taken away, so the
next export raises the floor whichever command took it away (a count, not a flag: one taken
away while an export runs is still pending after it).

An existing keystore is only ever opened (:func:`connect`), never made again: a missing or
damaged one is refused with a hint to restore it from a backup, since a new one would give
every patient a new password in silence. Only ``chartseal init`` makes one (:func:`create`).
``keys_changes`` counts every change of key material (the triggers below), so the service
knows when a new backup is due (exporter/backup.py).
"""
from __future__ import annotations

import os
import time
import sqlite3
from pathlib import Path
from typing import NamedTuple

from .errors import HomeError

SCHEMA = """
CREATE TABLE IF NOT EXISTS secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    name       TEXT PRIMARY KEY,          -- normalized user name
    password   TEXT NOT NULL DEFAULT '',  -- may be empty: the login password alone opens it
    created_at TEXT NOT NULL,
    builtin    INTEGER NOT NULL DEFAULT 0,
    note_pk    BLOB NOT NULL,
    note_sk    BLOB NOT NULL,
    ik         BLOB NOT NULL,             -- index key
    door_id    TEXT,                      -- NULL until derived (after a password change too)
    door_key   BLOB
);
CREATE TABLE IF NOT EXISTS shares (
    db      TEXT NOT NULL,
    account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    card    TEXT NOT NULL DEFAULT '',     -- '' = the whole database
    until   TEXT NOT NULL DEFAULT '',     -- '' = no expiry, else ISO date (last day included)
    PRIMARY KEY (db, account, card)
);
CREATE TABLE IF NOT EXISTS patients (
    db           TEXT NOT NULL,
    card         TEXT NOT NULL,
    rid          TEXT NOT NULL UNIQUE,
    ck           BLOB NOT NULL,           -- content key; replaced on rotation
    password     TEXT NOT NULL,
    page_enabled INTEGER NOT NULL DEFAULT 1,
    door_id      TEXT,                    -- patient door, NULL until derived
    door_key     BLOB,
    note_pk      BLOB NOT NULL,           -- patient door's note key
    note_sk      BLOB NOT NULL,
    entry_note_pk BLOB NOT NULL,          -- general entry's note key
    entry_note_sk BLOB NOT NULL,
    PRIMARY KEY (db, card)
);
CREATE TABLE IF NOT EXISTS retired_doors (
    door_id  TEXT PRIMARY KEY,            -- doors no longer published, for late notes
    kind     TEXT NOT NULL,
    owner    TEXT NOT NULL,
    note_pk  BLOB NOT NULL,
    retired_at TEXT NOT NULL
);
-- Access taken away: a content key rotated, a door retired, an account deleted, a page
-- disabled. The next export raises the floor (FORMAT.md 5.4).
CREATE TRIGGER IF NOT EXISTS floor_on_rotate AFTER UPDATE OF ck ON patients
    WHEN old.ck IS NOT new.ck
    BEGIN INSERT INTO secrets (name, value) VALUES ('revocations', '1') ON CONFLICT (name)
          DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT); END;
CREATE TRIGGER IF NOT EXISTS floor_on_page_off AFTER UPDATE OF page_enabled ON patients
    WHEN old.page_enabled = 1 AND new.page_enabled = 0
    BEGIN INSERT INTO secrets (name, value) VALUES ('revocations', '1') ON CONFLICT (name)
          DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT); END;
CREATE TRIGGER IF NOT EXISTS floor_on_retire AFTER INSERT ON retired_doors
    BEGIN INSERT INTO secrets (name, value) VALUES ('revocations', '1') ON CONFLICT (name)
          DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT); END;
CREATE TRIGGER IF NOT EXISTS floor_on_account_delete AFTER DELETE ON accounts
    BEGIN INSERT INTO secrets (name, value) VALUES ('revocations', '1') ON CONFLICT (name)
          DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT); END;
"""

# Secrets that change without any key changing (the publish counter and its bookkeeping):
# counting them would make the service write a backup after every publish.
UNCOUNTED = ("keys_changes", "revocations", "publish_seq", "publish_at", "publish_floor",
             "floor_done")
_BUMP = ("INSERT INTO secrets (name, value) VALUES ('keys_changes', '1') ON CONFLICT (name) "
         "DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT);")
_SKIP = ", ".join(f"'{n}'" for n in UNCOUNTED)
SCHEMA += "".join(
    f"CREATE TRIGGER IF NOT EXISTS keys_changed_{table}_{op.lower()} AFTER {op} ON {table}\n"
    f"    BEGIN {_BUMP} END;\n"
    for table in ("patients", "accounts", "shares", "retired_doors")
    for op in ("INSERT", "UPDATE", "DELETE"))
SCHEMA += "".join(
    f"CREATE TRIGGER IF NOT EXISTS keys_changed_secrets_{op.lower()} AFTER {op} ON secrets\n"
    f"    WHEN new.name NOT IN ({_SKIP}) BEGIN {_BUMP} END;\n"
    for op in ("INSERT", "UPDATE"))

# ``export_token``: a random value that every change to the rows an export reads (patients,
# accounts, shares) replaces, so a process that remembers its last export (exporter.memo)
# knows the keystore is unchanged without reading it. Random, not a counter: a keystore put
# back from a backup, or changed by another program, never matches unless it is the very
# content the process last saw.
SCHEMA += """
CREATE TABLE IF NOT EXISTS export_token (token BLOB NOT NULL);
"""
SCHEMA += "".join(
    f"CREATE TRIGGER IF NOT EXISTS export_token_{table}_{op.lower()} AFTER {op} ON {table}\n"
    f"    BEGIN UPDATE export_token SET token = randomblob(16); END;\n"
    for table in ("patients", "accounts", "shares")
    for op in ("INSERT", "UPDATE", "DELETE"))

# What init writes; a keystore without any of them is not one chartseal can use.
REQUIRED = ("login_password", "admin_password", "general_password", "gk", "lk", "notes_pk",
            "notes_sk")
RESTORE_HINT = "restore it from a backup (chartseal backup restore FILE)"


class KeystoreError(HomeError):
    """The keystore of an initialised home is missing or damaged."""


class KeystoreMissing(KeystoreError):
    """keys.sqlite is not there."""


class KeystoreDamaged(KeystoreError):
    """keys.sqlite is not a whole, readable chartseal keystore."""


def create(path: Path) -> sqlite3.Connection:
    """Make a new, empty keystore (init only); refuses to replace any file already there."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise HomeError(f"a keystore already exists at {path}",
                        hint="keep it; pick another folder with --home for a new clinic") from None
    os.close(fd)
    conn = sqlite3.connect(path, timeout=30)
    return _ready(path, conn)


def connect(path: Path) -> sqlite3.Connection:
    """Open the keystore of an initialised home; refuse a missing or damaged one."""
    conn = check(path)
    try:
        return _ready(path, conn)  # adds the triggers a keystore of an older version lacks
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _damaged(path, exc) from exc


def check(path: Path) -> sqlite3.Connection:
    """Open ``path`` and prove it is a whole keystore before anything writes to it."""
    if not path.exists():
        raise KeystoreMissing(f"the keystore is missing ({path})", hint=RESTORE_HINT)
    # Never open the file ourselves: closing that descriptor would drop the SQLite locks
    # other threads of this process hold on it (POSIX advisory locks) and corrupt it.
    try:
        empty = path.stat().st_size == 0
    except OSError as exc:
        raise KeystoreDamaged(f"the keystore is damaged ({path}: {exc.strerror})",
                              hint=RESTORE_HINT) from exc
    if empty:  # an emptied file: sqlite would start a new database in it
        raise _damaged(path, "not an SQLite file")
    # Real damage stays; a reader racing another process's checkpoint may fail once: look again.
    for attempt in range(_CHECK_TRIES):
        conn = sqlite3.connect(path, timeout=30)
        try:
            _prove_whole(path, conn)
            return conn
        except (sqlite3.DatabaseError, KeystoreDamaged) as exc:
            conn.close()
            if attempt == _CHECK_TRIES - 1:
                if isinstance(exc, KeystoreDamaged):
                    raise
                raise _damaged(path, exc) from exc
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


_CHECK_TRIES = 4


def _prove_whole(path: Path, conn: sqlite3.Connection) -> None:
    problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if problem != "ok":
        raise _damaged(path, problem)
    have = {r[0] for r in conn.execute("SELECT name FROM secrets")}
    if any(n not in have for n in REQUIRED) or not conn.execute(
            "SELECT 1 FROM accounts WHERE builtin = 1").fetchone():
        raise _damaged(path, "its clinic keys are not all there")


def _damaged(path: Path, why: object) -> KeystoreDamaged:
    return KeystoreDamaged(f"the keystore is damaged ({path}: {why})", hint=RESTORE_HINT)


def _ready(path: Path, conn: sqlite3.Connection) -> sqlite3.Connection:
    os.chmod(path, 0o600)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    if conn.execute("SELECT 1 FROM export_token").fetchone() is None:  # made or migrated now
        with conn:
            conn.execute("INSERT INTO export_token (token) SELECT randomblob(16) "
                         "WHERE NOT EXISTS (SELECT 1 FROM export_token)")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.chmod(side, 0o600)
    return conn


def tuples(conn: sqlite3.Connection, sql: str, params: tuple = ()) -> sqlite3.Cursor:
    """A query whose rows are plain tuples (far cheaper than sqlite3.Row for many rows)."""
    cur = conn.cursor()
    cur.row_factory = None
    return cur.execute(sql, params)


def export_token(conn: sqlite3.Connection) -> bytes:
    """The keystore's change token (see SCHEMA): equal tokens mean the rows an export reads
    are the ones seen when the token was taken."""
    row = conn.execute("SELECT token FROM export_token").fetchone()
    return bytes(row[0])


def get_secret(conn: sqlite3.Connection, name: str) -> bytes:
    row = conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise KeyError(name)
    return bytes(row[0])


def get_text(conn: sqlite3.Connection, name: str) -> str:
    return get_secret(conn, name).decode("utf-8")


def put_secret(conn: sqlite3.Connection, name: str, value: bytes | str) -> None:
    data = value.encode("utf-8") if isinstance(value, str) else value
    conn.execute(
        "INSERT INTO secrets (name, value) VALUES (?, ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (name, data),
    )


def card_for_rid(conn: sqlite3.Connection, rid: str) -> str | None:
    row = conn.execute("SELECT card FROM patients WHERE rid = ?", (rid,)).fetchone()
    return row[0] if row else None


# -- the site signing key and the publish counter (FORMAT.md 4, 5.4) ------------------------


def site_keys(conn: sqlite3.Connection) -> tuple[bytes, bytes]:
    """The clinic's Ed25519 site signing key ``(public, secret)``, made on first use."""
    from . import crypto  # the keystore module itself never needs libsodium

    try:
        return get_secret(conn, "site_pk"), get_secret(conn, "site_sk")
    except KeyError:
        pk, sk = crypto.sign_keypair()
        with conn:
            put_secret(conn, "site_pk", pk)
            put_secret(conn, "site_sk", sk)
        return pk, sk


class Publish(NamedTuple):
    seq: int        # of the last export that wrote anything (0: never)
    at: str
    floor: int
    revocations: int  # access taken away so far (the triggers' count)
    floor_done: int   # the count the last floor raise acted on

    @property
    def pending(self) -> bool:
        """Access was taken away since the last floor raise: this export raises it."""
        return self.revocations > self.floor_done


def publish_state(conn: sqlite3.Connection) -> Publish:
    def num(name: str) -> int:
        try:
            return int(get_text(conn, name))
        except KeyError:
            return 0
    try:
        at = get_text(conn, "publish_at")
    except KeyError:
        at = ""
    row = conn.execute("SELECT CAST(value AS TEXT) FROM secrets WHERE name = 'revocations'").fetchone()
    return Publish(num("publish_seq"), at, num("publish_floor"), int(row[0]) if row else 0,
                   num("floor_done"))


def record_publish(conn: sqlite3.Connection, done: Publish) -> None:
    """Keep the counter of an export that wrote objects, and the revocations it covered."""
    with conn:
        put_secret(conn, "publish_seq", str(done.seq))
        put_secret(conn, "publish_at", done.at)
        put_secret(conn, "publish_floor", str(done.floor))
        put_secret(conn, "floor_done", str(done.floor_done))
