"""The clinic's patients as the console lists them: card, name, and their page settings.

Names come from the clinic databases (read-only, only the patients table); page on/off and
whether the patient has keys yet come from the keystore, which knows a patient only after
the first export.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .clinic_db import ClinicDbError, check_clinic_file, connect_readonly
from .home import Home
from .normalize import normalize_card, normalize_search


@dataclass(frozen=True)
class PatientRow:
    db: str
    card: str
    name: str
    exported: bool       # has keys (a page, a password) since the last export
    page_enabled: bool
    has_password: bool


def _names(path: Path) -> list[tuple[str, str]]:
    """(card, full name) of every patient with a card, in card order."""
    check_clinic_file(path)
    conn = connect_readonly(path)
    try:
        rows = conn.execute("SELECT card, trim(coalesce(first_name, '') || ' ' || "
                            "coalesce(surname, '')) FROM patients WHERE card IS NOT NULL").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ClinicDbError(f"cannot read patients from {path}: {exc}",
                            "check that the file is the clinic program's database") from exc
    finally:
        conn.close()
    out = [(normalize_card(str(card)), str(name or "")) for card, name in rows]
    return sorted((c, n) for c, n in out if c)


def list_patients(home: Home, keys: sqlite3.Connection, query: str = "",
                  db: str | None = None) -> list[PatientRow]:
    """Patients whose card or name contains ``query`` (folded like the portal's search)."""
    want = normalize_search(query.strip())
    known = {(r[0], r[1]): (bool(r[2]), bool(r[3])) for r in keys.execute(
        "SELECT db, card, page_enabled, password != '' FROM patients")}
    out: list[PatientRow] = []
    for name in sorted(home.databases):
        if db and name != db:
            continue
        for card, full in _names(home.databases[name].path):
            if want and want not in normalize_search(card) and want not in normalize_search(full):
                continue
            page, pw = known.get((name, card), (False, False))
            out.append(PatientRow(name, card, full, (name, card) in known, page, pw))
    return out
