"""One bad record never stops the others: find the patients that cannot be exported, and put
their last published version in their place (docs/CLINIC_DB.md, "Bad input").

The reader already skips rows it cannot use. What is left is a defect no cleaner foresaw,
found when a patient is rendered or sealed. The export then checks every patient the way
the export renders it (:func:`check_patient`), sets aside those that fail, and runs again;
this costs nothing while every patient renders, which is always, short of a bug.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from . import crypto, indexes, render
from .clinic_db import patient_from_rows
from .last_good import LastGood
from .records import KEPT, SKIPPED, Appointment, Patient, Problem, Visit


def check_patient(p: Patient, today: date, lang: str) -> str | None:
    """Render every view of ``p`` the site holds; why it fails, or None when it does not."""
    try:
        years = render.age(p.birth_date, today)
        html = render.patient_fragment(p, today, lang)
        render.patient_fragment(p.patient_view(), today, lang)  # the patient's own bundle
        render.list_row(p, years)
        indexes.search_key(p)
        indexes.sort_key(p)
        crypto.canonical_json({"card": p.card, "title": p.full_name, "updated": p.modified_at,
                               "html": html})
        visits: dict[date, list[tuple[Patient, Visit]]] = defaultdict(list)
        appointments: dict[date, list[tuple[Patient, Appointment]]] = defaultdict(list)
        for v in p.visits:
            visits[v.date].append((p, v))
        for a in p.appointments:
            appointments[a.date].append((p, a))
        for day in set(visits) | set(appointments):
            render.diary_day_fragment(day, visits[day], appointments[day], {p.id: "0" * 32}, lang)
    except Exception as exc:  # noqa: BLE001 - whatever it is, it is this patient's alone
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class Isolation:
    """The patients of one export attempt that are not exported from their current rows."""

    store: LastGood
    today: date
    lang: str
    check: bool = False  # check every patient (after an attempt failed)
    found_new: bool = False  # the last check set aside a patient not set aside before
    failed: dict[tuple[str, int], str] = field(default_factory=dict)  # (db, row id) -> why

    def settle(self, db: str, patients: list[Patient], skipped: list[int],
               problems: list[Problem]) -> list[Patient]:
        """``patients`` without those that fail, with the last version of those and of the
        ``skipped`` rows in their place where one was published."""
        if self.check:
            for p in patients:
                if (db, p.id) not in self.failed and (why := check_patient(p, self.today, self.lang)):
                    self.failed[(db, p.id)] = why
                    self.found_new = True
        out, gone = [], list(skipped)
        for p in patients:
            why = self.failed.get((db, p.id))
            if why is None:
                out.append(p)
                continue
            problems.append(Problem(f"{db}/{p.card}", "record", f"cannot be rendered: {why}",
                                    SKIPPED, db))
            gone.append(p.id)
        gone = list(dict.fromkeys(gone))
        for pid in gone:
            self.failed.setdefault((db, pid), "skipped by the reader")
        cards = {p.card for p in out}
        out += self.last_versions(db, gone, cards, problems)
        return out

    def last_versions(self, db: str, pids: list[int], cards: set[str],
                      problems: list[Problem]) -> list[Patient]:
        """The last published version of each of ``pids`` that has one and still renders."""
        out = []
        for pid in pids:
            kept = self.store.get(db, pid)
            if kept is None:
                continue
            try:
                p, _ = patient_from_rows(kept[1], kept[0])
            except Exception:  # noqa: BLE001 - kept rows that no longer build: nothing to keep
                continue
            if p.card in cards or (self.check and check_patient(p, self.today, self.lang)):
                continue  # its card now belongs to another row, or it fails too
            cards.add(p.card)
            out.append(p)
            when = f" (last changed {p.modified_at})" if p.modified_at else ""
            problems.append(Problem(f"{db}/{p.card}", "record",
                                    f"row {pid}: its last published version{when} stays on the site",
                                    KEPT, db))
        return out
