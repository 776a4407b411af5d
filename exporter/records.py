"""Typed rows of a clinic database, as the exporter reads them (docs/CLINIC_DB.md)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True, slots=True)
class Health:
    kind: str  # "condition" | "medication" | "allergy"
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class Deal:
    id: int
    title: str
    total: float
    deduction: float
    tax: float
    paid: float
    start_date: date | None
    expired: bool

    @property
    def remaining(self) -> float:
        return round(self.total - self.deduction + self.tax - self.paid, 2)


@dataclass(frozen=True, slots=True)
class Visit:
    id: int
    date: date
    paid: float
    action: str
    notes: str
    next_date: date | None
    next_duration_min: int | None


@dataclass(frozen=True, slots=True)
class Appointment:
    id: int
    date: date
    time: str  # "HH:MM" or ""
    duration_min: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Patient:
    id: int
    card: str  # normalized (FORMAT.md 2)
    first_name: str
    surname: str
    birth_date: date | None
    gender: str  # "M" | "F" | ""
    mobile: str
    phone: str
    other: dict[str, str]  # label -> value: address, email, occupation, notes ...
    modified_at: str  # ISO 8601 as stored, "" if unknown
    health: tuple[Health, ...] = ()
    deals: tuple[Deal, ...] = ()
    visits: tuple[Visit, ...] = ()
    appointments: tuple[Appointment, ...] = ()
    digest: str = ""  # BLAKE2b of every row this patient's views depend on

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.surname) if p)

    @property
    def has_clinic_notes(self) -> bool:
        """Whether the record holds the clinic's own notes (``patients.notes``, visit notes)."""
        return bool(self.other.get("notes")) or any(v.notes for v in self.visits)

    def patient_view(self) -> Patient:
        """This patient as their own page shows them when ``patient_sees_notes`` is off: the
        clinic's notes left out, so they are not in the patient's bundle at all."""
        if not self.has_clinic_notes:
            return self
        other = {k: v for k, v in self.other.items() if k != "notes"}
        visits = tuple(replace(v, notes="") for v in self.visits)
        return replace(self, other=other, visits=visits)

    def for_lists(self) -> Patient:
        """This patient without what only the record view shows (health, deals, other data,
        visit notes): what the doctor's list and the diary need, in less memory."""
        visits = self.visits
        if any(v.notes or v.next_date for v in visits):
            visits = tuple(replace(v, notes="", next_date=None, next_duration_min=None) for v in visits)
        return replace(self, other={}, health=(), deals=(), visits=visits)


# What became of the patient a problem is about (``Problem.outcome``).
WARNING = "warning"  # published; only the value or row named was left out
SKIPPED = "skipped"  # not published at all
KEPT = "kept"        # not exported now; its last published version stays on the site


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in one row; the patient (or the one field) is skipped, the rest exported."""

    patient: str  # card number or "row <id>" ("<db>/<card>" once the export names the database)
    field: str
    message: str
    outcome: str = WARNING
    db: str = ""  # the clinic database, once the export knows it

    def __str__(self) -> str:
        # A kept patient's message says so itself (exporter.isolate).
        tail = " (not published)" if self.outcome == SKIPPED else ""
        return f"patient {self.patient}: {self.field}: {self.message}{tail}"


@dataclass
class ClinicData:
    patients: list[Patient] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Row ids of patient rows that are in the file but could not be exported (empty or
    # duplicate card, a row that could not be built): the export may keep their last version.
    skipped: list[int] = field(default_factory=list)
