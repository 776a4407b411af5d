"""Write a made-up clinic database (docs/CLINIC_DB.md) for demos, tests and benchmarks.

Deterministic: the same ``patients``, ``seed`` and ``start`` (the reference "today") give the
same rows. Half the patients have Arabic names and text, half English; a few carry hostile
text that a published page must show as text and never run.
"""
from __future__ import annotations

import os
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from . import demo_lists as L
from .clinic_db import create_clinic

NAME_ONLY_SHARE = 0.05
LONG_NOTE_CHARS = 15_000
SLOTS = [f"{h:02d}:{m:02d}" for h in range(9, 18) for m in (0, 30)]  # a day's diary

Row = tuple[Any, ...]


@dataclass
class DemoSummary:
    path: Path
    seed: int
    today: date
    patients: int = 0
    name_only: int = 0
    hostile: int = 0
    health: int = 0
    deals: int = 0
    expired_deals: int = 0
    visits: int = 0
    visits_today: int = 0
    appointments: int = 0
    appointments_today: int = 0

    def lines(self) -> list[str]:
        return [
            f"wrote {self.path} (seed {self.seed}, today {self.today.isoformat()})",
            f"  patients      {self.patients} ({self.name_only} with a name only, "
            f"{self.hostile} with hostile text)",
            f"  health        {self.health}",
            f"  deals         {self.deals} ({self.expired_deals} expired)",
            f"  visits        {self.visits} ({self.visits_today} today)",
            f"  appointments  {self.appointments} ({self.appointments_today} today)",
        ]


@dataclass
class _Rows:
    patients: list[Row] = field(default_factory=list)
    health: list[Row] = field(default_factory=list)
    deals: list[Row] = field(default_factory=list)
    visits: list[Row] = field(default_factory=list)
    appointments: list[Row] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker(["en_US", "ar_AA"])
        self.fake.seed_instance(seed)
        self.today = today
        self.rows = _Rows()

    # -- small helpers ------------------------------------------------------------------

    def _day(self, lo: int, hi: int) -> date:
        """A day between ``lo`` and ``hi`` days from today (inclusive)."""
        return self.today + timedelta(days=self.rng.randint(lo, hi))

    def _stamp(self) -> str:
        back = timedelta(seconds=self.rng.randrange(400 * 86400))
        return (datetime.combine(self.today, time(18, 0)) - back).isoformat(timespec="seconds")

    def _price(self, title: str) -> float:
        lo, hi = L.PROCEDURES.get(title) or L.DEAL_PRICES[title]
        return float(self.rng.randrange(lo, hi + 1, 5))

    def _mobile(self, arabic: bool) -> str:
        if arabic:
            prefix = self.rng.choice(("3", "70", "71", "76", "78", "81"))
            return f"+961 {prefix} {self.rng.randrange(100, 1000)} {self.rng.randrange(100, 1000)}"
        return f"+1 {self.rng.randrange(201, 990)}-555-{self.rng.randrange(10000):04d}"

    def _age(self) -> int:
        band = self.rng.choices(((2, 17), (18, 64), (65, 90)), weights=(20, 60, 20))[0]
        return self.rng.randint(*band)

    # -- one patient -----------------------------------------------------------------------

    def patient(self, pid: int, card: str, name_only: bool) -> list[Any]:
        rng = self.rng
        arabic = rng.random() < 0.5
        loc = self.fake["ar_AA" if arabic else "en_US"]
        gender = rng.choices(("M", "F", None), weights=(48, 48, 4))[0]
        first = {"M": loc.first_name_male, "F": loc.first_name_female}.get(
            gender or "", loc.first_name)()
        row: list[Any] = [pid, card, first, loc.last_name()] + [None] * 9
        if name_only:  # the clinic program allows a patient with nothing else
            return row
        age = self._age()
        row[4] = (self.today - timedelta(days=age * 365 + rng.randrange(365))).isoformat()
        row[5] = gender
        row[6] = self._mobile(arabic) if rng.random() < 0.92 else None
        row[7] = self._mobile(arabic) if rng.random() < 0.25 else None
        if rng.random() < 0.7:
            row[8] = (f"{rng.choice(L.STREETS_AR)}، {rng.choice(L.CITIES_AR)}" if arabic else
                      f"{loc.street_address()}, {loc.city()}")
        if age >= 16 and rng.random() < 0.4:
            row[9] = self.fake["en_US"].free_email()
        if rng.random() < 0.6:
            row[10] = ("طالب" if arabic else "Student") if age < 18 else loc.job()
        if rng.random() < 0.25:
            row[11] = rng.choice(L.PATIENT_NOTES_AR if arabic else L.PATIENT_NOTES_EN)
        row[12] = self._stamp()
        self.related(pid, arabic)
        return row

    def related(self, pid: int, arabic: bool) -> None:
        rng, rows = self.rng, self.rows
        for _ in range(rng.choices((0, 1, 2, 3), weights=(35, 35, 20, 10))[0]):
            kind = rng.choice(("condition", "medication", "allergy"))
            name = rng.choice({"condition": L.CONDITIONS, "medication": L.MEDICATIONS,
                               "allergy": L.ALLERGIES}[kind])
            rows.health.append((pid, kind, name, rng.choice(L.HEALTH_DETAILS) or None,
                                self._stamp()))
        for _ in range(rng.choices((0, 1, 2), weights=(45, 40, 15))[0]):
            title = rng.choice(L.DEAL_TITLES)
            total = self._price(title)
            deduction = rng.choice((0.0, 0.0, 0.0, round(total * 0.1, 2), 50.0))
            tax = rng.choice((0.0, round(total * 0.11, 2)))
            due = total - deduction + tax
            paid = rng.choice((0.0, round(due / 2, 2), round(due, 2), round(due * 0.3, 2)))
            expired = 1 if rng.random() < 0.3 else 0
            rows.deals.append((pid, title, total, deduction, tax, paid,
                               self._day(-365, -1).isoformat(), expired, self._stamp()))
        notes = L.VISIT_NOTES_AR if arabic else L.VISIT_NOTES_EN
        visits = rng.choice((0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16))  # ~7 a patient
        for when in sorted(self._day(-365, -1) for _ in range(visits)):
            self.visit(pid, when, rng.choice(notes) if rng.random() < 0.3 else None)
        if rng.random() < 0.35:
            for _ in range(rng.choice((1, 1, 2))):
                self.appointment(pid, self._day(1, 42))

    def visit(self, pid: int, when: date, note: str | None, action: str | None = None) -> None:
        action = action or self.rng.choice(list(L.PROCEDURES))
        paid = self.rng.choice((0.0, self._price(action) if action in L.PROCEDURES else 100.0))
        follow = self.rng.random() < 0.3
        self.rows.visits.append((
            pid, when.isoformat(), paid, action, note,
            (when + timedelta(days=self.rng.choice((7, 14, 30, 180)))).isoformat() if follow
            else None, self.rng.choice((30, 45, 60)) if follow else None, self._stamp()))

    def appointment(self, pid: int, when: date, reason: str | None = None) -> None:
        self.rows.appointments.append((pid, when.isoformat(), self.rng.choice(SLOTS),
                                       self.rng.choice((15, 30, 45, 60)),
                                       reason or self.rng.choice(L.APPOINTMENT_REASONS),
                                       self._stamp()))

    # -- the clinic ------------------------------------------------------------------------

    def clinic(self, count: int) -> tuple[list[int], list[int]]:
        """All patients; returns the row ids of the name-only and the hostile patients."""
        width = max(6, len(str(count * 3)))
        cards = self.rng.sample(range(10 ** (width - 1), 10 ** width), count)
        hostile = sorted(self.rng.sample(range(1, count + 1), min(count, 5)))
        name_only = [pid for pid in range(1, count + 1)
                     if pid not in hostile and self.rng.random() < NAME_ONLY_SHARE]
        skip = set(name_only)
        for pid in range(1, count + 1):
            self.rows.patients.append(self.patient(pid, str(cards[pid - 1]), pid in skip))
        self.today_diary([p for p in range(1, count + 1) if p not in skip], count)
        self.hostile(hostile)
        return name_only, hostile

    def today_diary(self, full: list[int], count: int) -> None:
        """Several appointments and a few visits today, so the demo's diary is never empty."""
        for pid in self.rng.sample(full, min(len(full), max(6, count // 500))):
            self.appointment(pid, self.today)
        for pid in self.rng.sample(full, min(len(full), max(3, count // 1000))):
            self.visit(pid, self.today, None)

    def hostile(self, pids: list[int]) -> None:
        rows = {r[0]: r for r in self.rows.patients if r[0] in pids}
        long_note = ("Long treatment history; " * (LONG_NOTE_CHARS // 20))[:LONG_NOTE_CHARS - 1]
        edits = [
            {2: L.HOSTILE["script"]},
            {2: L.HOSTILE["img"], 8: L.HOSTILE["template"]},
            {3: L.HOSTILE["quotes"], 11: long_note + "&"},
            {10: L.HOSTILE["close"], 11: L.HOSTILE["bidi"]},
            {2: "Rana & \"Sam\"", 3: "<i>O'Neil</i>"},
        ]
        for pid, edit in zip(pids, edits):
            for index, value in edit.items():
                rows[pid][index] = value
        if pids:
            self.visit(pids[0], self.today, L.HOSTILE["quotes"], action=L.HOSTILE["script"])
            self.appointment(pids[-1], self.today, reason=L.HOSTILE["img"])


def _insert(conn: sqlite3.Connection, rows: _Rows) -> None:
    def many(table: str, cols: str, data: list[Row]) -> None:
        marks = ", ".join("?" * (cols.count(",") + 1))
        conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", data)

    with conn:  # one transaction: 10,000 patients in a few seconds
        many("patients", "id, card, first_name, surname, birth_date, gender, mobile, phone, "
             "address, email, occupation, notes, modified_at", rows.patients)
        many("health", "patient_id, kind, name, detail, modified_at", rows.health)
        many("deals", "patient_id, title, total, deduction, tax, paid, start_date, expired, "
             "modified_at", rows.deals)
        many("visits", "patient_id, date, paid, action, notes, next_date, next_duration_min, "
             "modified_at", rows.visits)
        many("appointments", "patient_id, date, time, duration_min, reason, modified_at",
             rows.appointments)


def write_demo_clinic(path: Path, patients: int = 200, seed: int = 1,
                      start: date | None = None, overwrite: bool = False) -> DemoSummary:
    """Write a demo clinic database at ``path``; refuses to replace a file unless ``overwrite``."""
    path = Path(path)
    if patients < 1:
        raise ValueError(f"expected at least 1 patient, got {patients}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists")
    today = start or date.today()
    gen = _Generator(seed, today)
    name_only, hostile = gen.clinic(patients)
    # build beside the target and rename, so a watcher never sees a half-written clinic
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        create_clinic(conn)
        _insert(conn, gen.rows)
    finally:
        conn.close()
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, path)
    rows = gen.rows
    iso = today.isoformat()
    return DemoSummary(
        path=path, seed=seed, today=today, patients=len(rows.patients),
        name_only=len(name_only), hostile=len(hostile), health=len(rows.health),
        deals=len(rows.deals), expired_deals=sum(d[7] for d in rows.deals),
        visits=len(rows.visits), visits_today=sum(v[1] == iso for v in rows.visits),
        appointments=len(rows.appointments),
        appointments_today=sum(a[1] == iso for a in rows.appointments),
    )
