"""Shared fixtures: real clinic homes and real SQLite clinic databases in temp folders."""
from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

# Argon2id at 64 MiB would make the suite take many minutes; the format allows weak
# parameters only when this is set, and marks such sites as test sites.
os.environ["CHARTSEAL_TEST_WEAK_KDF"] = "1"

from exporter import access, keystore  # noqa: E402
from exporter.clinic_db import schema_sql  # noqa: E402
from exporter.crypto import KdfParams  # noqa: E402
from exporter.home import Database, Home, create_home, load_home  # noqa: E402

WEAK = KdfParams(ops=1, mem=8192)


def make_clinic_db(path: Path, rows: list[dict] | None = None) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(schema_sql())
    for row in [dict(r) for r in (rows or _sample())]:
        table = row.pop("_table", "patients")
        cols = ", ".join(row)
        conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in row)})",
                     tuple(row.values()))
    conn.commit()
    conn.close()
    return path


def _sample() -> list[dict]:
    return [
        dict(id=1, card="1001", first_name="Amal", surname="Haddad", birth_date="1980-02-03",
             gender="F", mobile="0791234567", phone="065551234", address="12 Rainbow St",
             modified_at="2026-11-01T10:00:00"),
        dict(id=2, card="1002", first_name="<img src=x onerror=alert(1)>", surname="Zed",
             birth_date="2015-02-03", gender="M", mobile="0791234568", modified_at="2026-11-02T09:00:00"),
        dict(id=3, card="1003", first_name="سامي", surname="الخطيب", birth_date="1950-07-20",
             gender="M", mobile="0799999999", modified_at="2026-10-01T12:00:00"),
        dict(_table="visits", id=1, patient_id=1, date="2026-11-26", paid=50, action="Filling",
             notes="upper left 6", next_date="2026-12-10", next_duration_min=30),
        dict(_table="visits", id=2, patient_id=3, date="2026-11-26", paid=25.5, action="Scaling",
             notes=""),
        dict(_table="appointments", id=1, patient_id=2, date="2026-11-26", time="10:30",
             duration_min=30, reason="Checkup"),
        dict(_table="health", patient_id=1, kind="allergy", name="Penicillin", detail="rash"),
        dict(_table="deals", id=1, patient_id=1, title="Crown", total=400, deduction=20, tax=0,
             paid=100, start_date="2026-10-01", expired=0),
    ]



@pytest.fixture
def clinic_db(tmp_path: Path) -> Path:
    return make_clinic_db(tmp_path / "main.sqlite", _sample())


@pytest.fixture
def home(tmp_path: Path, clinic_db: Path) -> Home:
    """A clinic home with one database ('main') and the built-in admin account."""
    h = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(h.keys_path)
    access.init_keys(conn)
    conn.close()
    h.databases["main"] = Database("main", clinic_db)
    h.save()
    return load_home(h.root)


def keys(home: Home) -> sqlite3.Connection:
    return keystore.connect(home.keys_path)


def secret(home: Home, name: str) -> str:
    """A clinic password from the keystore ('login_password', 'general_password', ...)."""
    conn = keys(home)
    try:
        return keystore.get_text(conn, name)
    finally:
        conn.close()


def plan_map(home: Home) -> dict:
    """The plan as the last export committed it: name -> PlanObject."""
    from exporter import plan

    conn = home.connect_state()
    try:
        return {o.name: o for o in plan.read_plan(conn)}
    finally:
        conn.close()


def files_on_disk(home: Home) -> set[str]:
    return {str(p.relative_to(home.site_dir)) for p in home.site_dir.rglob("*") if p.is_file()}


@contextlib.contextmanager
def shard_rows(rows: int):
    """Writers' shards of ``rows`` rows on average (crypto.SHARD_ROWS) for a while: what lets
    a test get several index shards out of a few hundred patients."""
    from exporter import crypto

    was, crypto.SHARD_ROWS = crypto.SHARD_ROWS, rows
    try:
        yield
    finally:
        crypto.SHARD_ROWS = was
