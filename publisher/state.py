"""The publisher's tables in the clinic's state database.

``published``: what we know each target holds (one row per object, per target URL), so a
publish sends only what changed without listing the target. A row is written only after the
target confirmed the upload, so after a crash the table may under-state the target (the
object is sent again) but never over-state it.

``sending``: objects whose upload has started but is not confirmed yet, written (and made
durable) before the first byte is sent. After a kill -9 such an object may or may not be on
the target; if it has left the plan meanwhile it is deleted like a superseded object, so an
interrupted publish never leaves strays behind.

``jobs``: the durable upload queue, one row per group (a patient's rid, 'clinic' or 'app')
that has objects waiting, with its lease, attempt count and next try.

``upload_log``: one row per finished or failed job, what ``chartseal log`` shows.

``links`` (publisher/links.py): what each published or sending object names, indexed by the
name referred to, so delete planning looks up a candidate's referrers instead of reading
every row's references. The ``refs`` columns below stay empty (kept so a state database of
the previous layout opens unchanged; its references are moved to ``links`` once).
"""
from __future__ import annotations

import sqlite3
from typing import Iterable

from exporter import plan

from . import links

# `published` and `sending` are ordinary (rowid) tables: when an index's refs (half a
# megabyte) were kept in the row, a WITHOUT ROWID table made such a row a key in the interior
# pages, which every lookup then read whole. The refs now live in `links`.
TABLES = {
    "published": """
CREATE TABLE IF NOT EXISTS published (
    target        TEXT NOT NULL,
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    grp           TEXT NOT NULL,
    refs          TEXT NOT NULL DEFAULT '',
    etag          TEXT NOT NULL DEFAULT '',   -- as the target reported it, for sync
    resend        INTEGER NOT NULL DEFAULT 0, -- 1: send again even if unchanged (publish --all)
    superseded_at REAL,                       -- when it left the plan; deleted after the grace
    published_at  REAL NOT NULL,
    PRIMARY KEY (target, name)
)
""",
    "sending": """
CREATE TABLE IF NOT EXISTS sending (
    target     TEXT NOT NULL,
    name       TEXT NOT NULL,
    refs       TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    PRIMARY KEY (target, name)
)
""",
}
SCHEMA = TABLES["published"] + ";\n" + TABLES["sending"] + """;
CREATE TABLE IF NOT EXISTS jobs (
    target      TEXT NOT NULL,
    grp         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (target, grp)
);
CREATE TABLE IF NOT EXISTS upload_log (
    id      INTEGER PRIMARY KEY,
    ts      REAL NOT NULL,
    target  TEXT NOT NULL,
    grp     TEXT NOT NULL,
    ok      INTEGER NOT NULL,
    objects INTEGER NOT NULL,
    bytes   INTEGER NOT NULL,
    error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS upload_log_grp ON upload_log (target, grp, id);
-- Comparing the plan with what a target holds reads only this index (one lookup per planned
-- object, not two): the whole of a no-op publish's work, 150,000 lookups at 50,000 patients.
CREATE INDEX IF NOT EXISTS published_cover ON published (target, name, digest, resend);
CREATE TABLE IF NOT EXISTS reconciled (
    target TEXT PRIMARY KEY,   -- this target was listed once and `published` rebuilt from it
    at     REAL NOT NULL
);
"""
KEYED_TABLES = ("published", "sending", "jobs", "upload_log", "links")

# A plan row needs sending when the target lacks it, holds other bytes, or --all asked.
PENDING_SQL = """
SELECT p.name, p.digest, p.size, p.kind, p.grp, p.refs FROM plan p
LEFT JOIN published q INDEXED BY published_cover ON q.target = :target AND q.name = p.name
WHERE (q.name IS NULL OR q.digest != p.digest OR q.resend = 1) {extra}
ORDER BY p.name
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    plan.ensure_schema(conn)
    _rebuild_without_rowid_tables(conn)
    conn.executescript(SCHEMA)
    links.ensure_schema(conn)
    _migrate_endpoint_keys(conn)


def _migrate_endpoint_keys(conn: sqlite3.Connection) -> None:
    """S3 targets were keyed "<s3 url> at <endpoint>"; now by bucket and prefix alone.

    Rows move to the new key; where two endpoints named the same bucket, the first kept
    wins and the rest are dropped (at worst an object is listed or sent once more), and
    their queued jobs with them, so nothing waits forever under a key no run uses.
    """
    if conn.execute("SELECT 1 FROM published WHERE target GLOB 's3://* at *' UNION ALL "
                    "SELECT 1 FROM jobs WHERE target GLOB 's3://* at *' LIMIT 1").fetchone() is None:
        return
    new = "substr(target, 1, instr(target, ' at ') - 1)"
    outer = conn.in_transaction
    if not outer:
        conn.execute("BEGIN IMMEDIATE")
    for table in KEYED_TABLES:
        conn.execute(f"UPDATE OR IGNORE {table} SET target = {new} WHERE target GLOB 's3://* at *'")
        if table != "upload_log":
            conn.execute(f"DELETE FROM {table} WHERE target GLOB 's3://* at *'")
    if not outer:
        conn.execute("COMMIT")


def needs_reconcile(conn: sqlite3.Connection, target: str) -> bool:
    """True when nothing is known of this target: a new or emptied state database, or a
    target never published to. Publishing then must list it once before deciding."""
    return conn.execute(
        "SELECT 1 FROM published WHERE target = ? UNION ALL SELECT 1 FROM reconciled "
        "WHERE target = ? LIMIT 1", (target, target)).fetchone() is None


def adopt(conn: sqlite3.Connection, target: str, obj: plan.PlanObject, etag: str, now: float) -> None:
    """A planned object found on the target with exactly the planned bytes."""
    record_published(conn, target, obj, etag, now)


def adopt_orphan(conn: sqlite3.Connection, target: str, name: str, size: int, etag: str,
                 now: float) -> None:
    """An object of this clinic found on the target that the plan no longer holds: recorded
    as superseded now, so the usual delete rules (doors at once, the rest after the grace
    period, capped) remove it."""
    conn.execute(
        "INSERT INTO published (target, name, digest, size, kind, grp, refs, etag, resend, "
        "superseded_at, published_at) VALUES (?, ?, '', ?, 'found', '', '', ?, 0, ?, ?) "
        "ON CONFLICT (target, name) DO NOTHING", (target, name, size, etag, now, now))


def drop_satisfied_jobs(conn: sqlite3.Connection, target: str) -> None:
    """Jobs of groups whose planned objects are all on the target (found by a listing)."""
    busy = pending_groups(conn, target)
    conn.executemany("DELETE FROM jobs WHERE target = ? AND grp = ?",
                     [(target, g) for (g,) in conn.execute(
                         "SELECT grp FROM jobs WHERE target = ?", (target,)).fetchall()
                      if g not in busy])


def mark_reconciled(conn: sqlite3.Connection, target: str, now: float) -> None:
    conn.execute("INSERT OR REPLACE INTO reconciled (target, at) VALUES (?, ?)", (target, now))


def _rebuild_without_rowid_tables(conn: sqlite3.Connection) -> None:
    """State databases made before these tables were rowid tables are rebuilt once, rows kept."""
    old = [name for name, sql in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('published', 'sending')")
        if "WITHOUT ROWID" in sql.upper()]
    if not old:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in old:
            conn.execute(f"ALTER TABLE {name} RENAME TO {name}_without_rowid")
            conn.execute(TABLES[name])
            conn.execute(f"INSERT INTO {name} SELECT * FROM {name}_without_rowid")
            conn.execute(f"DROP TABLE {name}_without_rowid")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def row_object(row: Iterable) -> plan.PlanObject:
    name, dig, size, kind, grp, refs = row
    return plan.PlanObject(name, dig, size, kind, grp, tuple(refs.split()) if refs else ())


def pending(conn: sqlite3.Connection, target: str, groups: list[str] | None = None) -> list[plan.PlanObject]:
    """Plan objects the target still needs, optionally only those of ``groups``."""
    if groups is None:
        rows = conn.execute(PENDING_SQL.format(extra=""), {"target": target})
    else:
        _temp_names(conn, "want_groups", groups)
        rows = conn.execute(PENDING_SQL.format(extra="AND p.grp IN (SELECT v FROM want_groups)"),
                            {"target": target})
    return [row_object(r) for r in rows]


def pending_groups(conn: sqlite3.Connection, target: str) -> dict[str, int]:
    # The plan in table order (not by its group index, which costs a lookup per row more),
    # the published side from its covering index; only pending rows reach the GROUP BY.
    sql = ("SELECT p.grp, count(*) FROM plan p NOT INDEXED LEFT JOIN published q INDEXED BY "
           "published_cover ON q.target = ? AND q.name = p.name "
           "WHERE q.name IS NULL OR q.digest != p.digest OR q.resend = 1 GROUP BY p.grp")
    return dict(conn.execute(sql, (target,)).fetchall())


def ref_status(conn: sqlite3.Connection, target: str, names: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """For each name in the plan: (its group, whether the target holds its planned bytes).

    The group is given for the names the target lacks, the only ones a job can wait for.
    An index refers to every bundle it lists, so ``names`` may be thousands: they are
    joined in one statement (two primary-key lookups each), never by a scan of the whole
    plan per round, which made a first upload at 50,000 patients quadratic.
    """
    _temp_names(conn, "want_status", names)
    out: dict[str, tuple[str, bool]] = {}
    for name, grp, held in conn.execute(
            "SELECT p.name, p.grp, q.name IS NOT NULL AND q.digest = p.digest AND q.resend = 0 "
            "FROM want_status w CROSS JOIN plan p ON p.name = w.v "
            "LEFT JOIN published q ON q.target = ? AND q.name = p.name", (target,)):
        out[name] = ("", True) if held else (grp, False)
    return out


def record_published(conn: sqlite3.Connection, target: str, obj: plan.PlanObject, etag: str,
                     now: float) -> None:
    conn.execute(
        "INSERT INTO published (target, name, digest, size, kind, grp, refs, etag, resend, "
        "superseded_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?) "
        "ON CONFLICT (target, name) DO UPDATE SET digest = excluded.digest, size = excluded.size, "
        "kind = excluded.kind, grp = excluded.grp, refs = excluded.refs, etag = excluded.etag, "
        "resend = 0, superseded_at = NULL, published_at = excluded.published_at",
        (target, obj.name, obj.digest, obj.size, obj.kind, obj.group, "", etag, now))
    conn.execute("DELETE FROM sending WHERE target = ? AND name = ?", (target, obj.name))
    links.set_published(conn, target, obj.name, obj.refs)


def record_many(conn: sqlite3.Connection, target: str,
                confirmed: list[tuple[plan.PlanObject, str, float]]) -> None:
    """:func:`record_published` for many (object, etag, when) at once, in the caller's
    transaction: a few statements per batch instead of four per object."""
    conn.executemany(
        "INSERT INTO published (target, name, digest, size, kind, grp, refs, etag, resend, "
        "superseded_at, published_at) VALUES (?, ?, ?, ?, ?, ?, '', ?, 0, NULL, ?) "
        "ON CONFLICT (target, name) DO UPDATE SET digest = excluded.digest, size = excluded.size, "
        "kind = excluded.kind, grp = excluded.grp, refs = '', etag = excluded.etag, "
        "resend = 0, superseded_at = NULL, published_at = excluded.published_at",
        [(target, o.name, o.digest, o.size, o.kind, o.group, etag, now) for o, etag, now in confirmed])
    conn.executemany("DELETE FROM sending WHERE target = ? AND name = ?",
                     [(target, o.name) for o, _e, _n in confirmed])
    links.forget(conn, target, (o.name for o, _e, _n in confirmed))
    links.add(conn, target, links.PUBLISHED, ((o.name, r) for o, _e, _n in confirmed for r in o.refs))


def note_sending(conn: sqlite3.Connection, target: str, objs: Iterable[plan.PlanObject],
                 now: float) -> None:
    """Record intent before uploading (the caller commits, with one fsync, before sending).

    An object sent before and not confirmed keeps its earlier references as well: either
    version may be on the target.
    """
    objs = list(objs)
    conn.executemany(
        "INSERT INTO sending (target, name, refs, started_at) VALUES (?, ?, '', ?) "
        "ON CONFLICT (target, name) DO NOTHING", [(target, o.name, now) for o in objs])
    links.add(conn, target, links.SENDING, ((o.name, r) for o in objs for r in o.refs))


def mark_resend(conn: sqlite3.Connection, target: str) -> None:
    conn.execute("UPDATE published SET resend = 1 WHERE target = ? AND name IN (SELECT name FROM plan)",
                 (target,))


def _temp_names(conn: sqlite3.Connection, table: str, values: Iterable[str]) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} (v TEXT PRIMARY KEY)")
    conn.execute(f"DELETE FROM {table}")
    conn.executemany(f"INSERT OR IGNORE INTO {table} (v) VALUES (?)", ((v,) for v in values))
