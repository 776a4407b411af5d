"""Account indexes and diary shards: what a doctor's login opens (FORMAT.md 6.2, 6.3)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Sequence

from . import render
from .normalize import normalize_search
from .records import Appointment, Patient, Visit


@dataclass
class DbView:
    """One database as one account sees it: its patients, in list order."""

    db: str
    name: str
    patients: list[Patient]
    rids: dict[int, str]  # Patient.id -> rid


@dataclass
class MonthDays:
    days: dict[str, dict[str, Any]] = field(default_factory=dict)


def list_order(patients: Sequence[Patient]) -> list[Patient]:
    return sorted(patients, key=lambda p: (normalize_search(p.surname), normalize_search(p.first_name), p.card))


def search_key(p: Patient) -> str:
    return normalize_search(" ".join(x for x in (p.first_name, p.surname, p.card, p.mobile, p.phone) if x))


def diary_months(view: DbView, lang: str) -> dict[str, dict[str, Any]]:
    """month -> shard value ``{"v", "db", "month", "days"}`` for the patients in ``view``."""
    visits: dict[date, list[tuple[Patient, Visit]]] = defaultdict(list)
    appts: dict[date, list[tuple[Patient, Appointment]]] = defaultdict(list)
    for p in view.patients:
        for v in p.visits:
            visits[v.date].append((p, v))
        for a in p.appointments:
            appts[a.date].append((p, a))
    months: dict[str, dict[str, Any]] = {}
    for day in sorted(set(visits) | set(appts)):
        vs = sorted(visits.get(day, []), key=lambda pv: (pv[1].id,))
        aps = appts.get(day, [])
        month = day.strftime("%Y-%m")
        shard = months.setdefault(month, {"v": 1, "db": view.db, "month": month, "days": {}})
        shard["days"][day.isoformat()] = {
            "paid": round(sum(v.paid for _, v in vs), 2),
            "visits": len(vs),
            "appointments": len(aps),
            "html": render.diary_day_fragment(day, vs, aps, view.rids, lang),
        }
    return months


def index_value(user: str, generated: str, dbs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"v": 1, "user": user, "generated": generated, "databases": dbs}
