"""Account indexes and diary shards: what a doctor's login opens (FORMAT.md 6.2, 6.3).

A :class:`DbView` is one database as one set of visible patients sees it. Everything it
renders is rendered lazily and once, so an export whose inputs did not change renders
nothing, and accounts that see the same patients share the work.
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from functools import cached_property
from typing import Any, Iterable, Iterator, Sequence

from . import render
from .crypto import VERSION
from .cache import input_digest
from .memo import ExportMemo
from .normalize import normalize_search
from .records import Appointment, Patient, Visit


def sort_key(p: Patient) -> tuple[str, str, str]:
    """The list's order: surname, first name, card, compared as search compares them."""
    return normalize_search(p.surname), normalize_search(p.first_name), p.card


def search_key(p: Patient) -> str:
    return normalize_search(" ".join(x for x in (p.first_name, p.surname, p.card, p.mobile, p.phone) if x))


def _month_name(key: tuple[int, int]) -> str:
    return f"{key[0]:04d}-{key[1]:02d}"


# One patient's part of one month of the diary: its visits and appointments in that month,
# and the digest of everything the diary shows of them.
MonthPart = tuple[Patient, tuple[Visit, ...], tuple[Appointment, ...], str]


def _months(p: Patient, rid: str, digests: bool) -> tuple[tuple[str, tuple[Visit, ...], tuple[Appointment, ...], str], ...]:
    """The patient's visits and appointments grouped by month, months in order, each with
    the digest of what the diary shows of them when ``digests`` (else "": it is computed
    when asked for, see DbView.month_digest)."""
    out: dict[tuple[int, int], tuple[list[Visit], list[Appointment]]] = defaultdict(lambda: ([], []))
    for v in p.visits:
        out[(v.date.year, v.date.month)][0].append(v)
    for a in p.appointments:
        out[(a.date.year, a.date.month)][1].append(a)
    return tuple((_month_name(k), tuple(vs), tuple(aps), _shown(p, rid, vs, aps) if digests else "")
                 for k, (vs, aps) in sorted(out.items()))


def _shown(p: Patient, rid: str, vs: Sequence[Visit], aps: Sequence[Appointment]) -> str:
    """Digest of what the diary shows of one patient's month (names, rid, amounts, times)."""
    return input_digest(rid, p.first_name, p.surname, [(v.id, v.date.day, v.paid, v.action) for v in vs],
                        [(a.id, a.date.day, a.time, a.duration_min, a.reason) for a in aps])


class DbView:
    def __init__(self, db: str, patients: Sequence[Patient], rids: dict[int, str],
                 today: date, lang: str, version: str, memo: ExportMemo | None = None,
                 currency: str = "") -> None:
        self.db = db
        self.currency = currency  # part of `version`, so a new one re-renders the shards
        self.by_card = sorted(patients, key=lambda p: p.card)  # cheap order for digests
        self.rids = rids
        self.today = today
        self.lang = lang
        self.version = version
        # Per-patient pieces are keyed by the patient's digest, so a process that exports
        # again (the service) renders only the patients that changed.
        self.memo = memo or ExportMemo()

    def release(self) -> None:
        """Drop what was computed for one account; it is computed again when needed."""
        for name in ("by_month", "patients"):
            self.__dict__.pop(name, None)

    @cached_property
    def patients(self) -> list[Patient]:
        """List order (surname, first name), computed only when something is rendered."""
        get = self.memo.table("sort").get
        return sorted(self.by_card, key=lambda p: get(p.digest, lambda: sort_key(p)))

    def rows(self) -> Iterator[str]:
        """Each patient's row of the list, in list order, rendered only when not memoized."""
        get, today, version = self.memo.table("row").get, self.today, self.version
        for p in self.patients:
            years = render.age(p.birth_date, today)
            yield get((p.digest, years, version), lambda: render.list_row(p, years))

    def rows_as_json(self) -> Iterator[str]:
        """:meth:`rows` escaped as JSON string content (kept too: the index is JSON)."""
        get, today, version = self.memo.table("row-json").get, self.today, self.version
        for p, row in zip(self.patients, self.rows()):
            yield get((p.digest, render.age(p.birth_date, today), version), lambda: _json(row)[1:-1])

    @property
    def list_html(self) -> str:
        return render.list_rows(self.rows())

    def search_keys(self) -> Iterator[str]:
        get = self.memo.table("search").get
        return (get(p.digest, lambda: search_key(p)) for p in self.patients)

    @property
    def search(self) -> list[str]:
        return list(self.search_keys())

    @cached_property
    def by_month(self) -> dict[str, list[MonthPart]]:
        """month -> each patient with visits or appointments in it, with those rows.

        Kept per patient in the memo, so a process that exports again groups and digests
        only the patients that changed.
        """
        get, keep = self.memo.table("months").get, self.memo.remember
        out: dict[str, list[MonthPart]] = defaultdict(list)
        for p in self.by_card:
            rid = self.rids[p.id]
            # A process that exports again keeps each part's digest; a one-off export
            # computes it when the month is digested (less memory for a large clinic).
            for month, vs, aps, digest in get((p.digest, rid), lambda: _months(p, rid, keep)):
                out[month].append((p, vs, aps, digest))
        return {month: out[month] for month in sorted(out)}

    def month_digest(self, month: str) -> str:
        """Everything the month's days show: names, rids and that month's rows only, so a
        change the diary does not show (an address, a visit's notes) re-seals no shard."""
        return input_digest(self.db, month, self.version, self.lang, "".join(
            [d or _shown(p, self.rids[p.id], vs, aps) for p, vs, aps, d in self.by_month[month]]))

    def month_shard(self, month: str) -> dict[str, Any]:
        visits: dict[date, list[tuple[Patient, Visit]]] = defaultdict(list)
        appts: dict[date, list[tuple[Patient, Appointment]]] = defaultdict(list)
        for p, vs, aps, _ in self.by_month[month]:
            for v in vs:
                visits[v.date].append((p, v))
            for a in aps:
                appts[a.date].append((p, a))
        days = {}
        for day in sorted(set(visits) | set(appts)):
            vs_day = sorted(visits.get(day, []), key=lambda pv: pv[1].id)
            aps_day = appts.get(day, [])
            days[day.isoformat()] = {
                "paid": round(sum(v.paid for _, v in vs_day), 2),
                "visits": len(vs_day),
                "appointments": len(aps_day),
                "html": render.diary_day_fragment(day, vs_day, aps_day, self.rids, self.lang, self.currency),
            }
        return {"v": VERSION, "db": self.db, "month": month, "days": days}


def index_value(user: str, generated: str, dbs: list[dict[str, Any]], stamp: dict[str, Any]) -> dict[str, Any]:
    """``stamp``: the ``seq``, ``at`` and ``site_pk`` of the export (FORMAT.md 5.4, 6.2)."""
    return {"v": VERSION, "user": user, "generated": generated, "databases": dbs, **stamp}


# The account index is the one large body: at 50,000 patients its text is tens of megabytes,
# so it is written piece by piece, straight into the compressor (crypto.seal_body_text). The
# pieces make exactly crypto.canonical_json(index_value(...)): keys sorted, no spaces, and a
# JSON string escaped piece by piece is the same as escaped whole.
_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def index_pieces(user: str, generated: str, dbs: Iterable[Iterator[str]],
                 stamp: dict[str, Any]) -> Iterator[str]:
    yield f'{{"at":{_json(stamp["at"])},"databases":['
    for i, db in enumerate(dbs):
        if i:
            yield ","
        yield from db
    yield (f'],"generated":{_json(generated)},"seq":{_json(stamp["seq"])},'
           f'"site_pk":{_json(stamp["site_pk"])},"user":{_json(user)},"v":{VERSION}}}')


def db_pieces(view: DbView, diary: dict[str, Any], entries: Iterable[str]) -> Iterator[str]:
    """One database of an index; ``entries`` are its ``patients`` as JSON texts, in list order."""
    yield f'{{"diary":{_json(diary)},"id":{_json(view.db)},"list_html":"'
    # render.list_pieces, escaped: only the row (kept per patient) needs escaping work.
    yield _json('<ol class="plist">\n')[1:-1]
    for i, row in enumerate(view.rows_as_json()):
        yield f'<li data-i=\\"{i}\\">{row}</li>\\n'
    yield _json("</ol>")[1:-1]
    yield f'","name":{_json(view.db)},"patients":['
    for i, entry in enumerate(entries):
        yield f",{entry}" if i else entry
    yield "]}"
