"""Account index shards and diary shards: what a doctor's login opens (FORMAT.md 6.2, 6.3).

A :class:`DbView` is one database as one set of visible patients sees it. Everything it
renders is rendered lazily and once per patient (kept in the memo by the patient's digest),
so an export whose inputs did not change renders nothing, and only the shards holding a
changed patient are rendered again.
"""
from __future__ import annotations

import json
import zlib
from array import array
from bisect import bisect_left
from collections import defaultdict
from datetime import date
from functools import cached_property
from operator import attrgetter
from typing import Any, Iterable, Iterator, Sequence

from . import crypto, render
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


_MONTH_NAMES: dict[tuple[int, int], str] = {}


def _month_name(key: tuple[int, int]) -> str:
    """'YYYY-MM', one string per month for the whole process: the service keeps a name for
    each month of each patient (240,000 at 50,000 demo patients)."""
    name = _MONTH_NAMES.get(key)
    if name is None:
        name = _MONTH_NAMES[key] = f"{key[0]:04d}-{key[1]:02d}"
    return name


def month_digests(p: Patient, rid: str) -> tuple[str, ...]:
    """The patient's months in order with the digest of what the diary shows of each, flat:
    (month, digest, month, digest, ...). What a kept view holds per patient; the rows of one
    month are picked again from the patient when that month is rendered (:func:`month_rows`)."""
    return tuple(x for name, _, _, digest in _months(p, rid, True) for x in (name, digest))


_BY_DATE = attrgetter("date")


def month_rows(p: Patient, month: str) -> tuple[tuple[Visit, ...], tuple[Appointment, ...]]:
    """The patient's visits and appointments in ``month`` ('YYYY-MM'), in the patient's order
    (by date, as the reader sorts them: a month is one run of each)."""
    year, number = int(month[:4]), int(month[5:7])
    first, after = date(year, number, 1), date(year + number // 12, number % 12 + 1, 1)
    vs, aps = p.visits, p.appointments
    return (vs[bisect_left(vs, first, key=_BY_DATE):bisect_left(vs, after, key=_BY_DATE)],
            aps[bisect_left(aps, first, key=_BY_DATE):bisect_left(aps, after, key=_BY_DATE)])


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
                 currency: str = "", scope: Any = None) -> None:
        self.db = db
        # Which patients this view shows (the cards an account sees): the diary days kept
        # for one view are not offered to another, which would only miss anyway.
        self.scope = scope
        self.currency = currency  # part of `version`, so a new one re-renders the shards
        self.by_card = sorted(patients, key=lambda p: p.card)  # cheap order for digests
        self.rids = rids
        self.today = today
        self.lang = lang
        self.version = version
        # Per-patient pieces are keyed by the patient's digest, so a process that exports
        # again (the service) renders only the patients that changed.
        self.memo = memo or ExportMemo()
        self._parts: tuple[str, list[MonthPart]] | None = None  # see month_parts

    def release(self) -> None:
        """Drop what was computed for one account; it is computed again when needed."""
        self.__dict__.pop("month_index", None)
        self._parts = None

    def row_entry(self, p: Patient, years: int | None, rid: str, bundle: str, ck: bytes, digest: str) -> str:
        """The patient's row of an index shard as canonical JSON (FORMAT.md 6.2), kept per
        ``digest`` (see :func:`row_digest`), so only a changed patient is rendered again."""
        def build() -> str:
            # The row's HTML and search key are kept only inside its JSON text: keeping them
            # apart as well held each row twice, for a hit only when a pointer alone changes.
            surname, first, _ = self.memo.table("sort").get(p.digest, lambda: sort_key(p))
            return _json({"bundle": bundle, "card": p.card, "ck": crypto.b64e(ck),
                          "html": render.list_row(p, years), "rid": rid, "search": search_key(p),
                          "sort": [surname, first]})
        return self.memo.table("entry").get(digest, build)

    @cached_property
    def month_index(self) -> dict[str, tuple[array, array]]:
        """month -> (positions in ``by_card`` of the patients with visits or appointments in
        it, and where that month is in each one's months), months in order. Only numbers are
        held: a month's rows are picked when that month is digested or sealed
        (:meth:`month_parts`), so the whole clinic's diary is never grouped at once (that
        set a one-off export's peak memory).
        """
        out: dict[str, tuple[array, array]] = defaultdict(lambda: (array("I"), array("I")))
        if self.memo.remember:
            # A process that exports again keeps each patient's month parts and digests.
            get = self.memo.table("months").get
            for pos, p in enumerate(self.by_card):
                rid = self.rids[p.id]
                for j, (month, *_) in enumerate(get((p.digest, rid), lambda: _months(p, rid, True))):
                    at, js = out[month]
                    at.append(pos)
                    js.append(j)
        else:
            for pos, p in enumerate(self.by_card):
                # The same months in the same order as _months gives them.
                keys = sorted({(x.date.year, x.date.month) for x in (*p.visits, *p.appointments)})
                for j, month in enumerate(keys):
                    at, js = out[_month_name(month)]
                    at.append(pos)
                    js.append(j)
        return {month: out[month] for month in sorted(out)}

    def month_parts(self, month: str) -> list[MonthPart]:
        """Each patient with visits or appointments in ``month``, with those rows, in card
        order; the last month asked is kept, as its digest and its shard both need it."""
        if self._parts is not None and self._parts[0] == month:
            return self._parts[1]
        get, keep = self.memo.table("months").get, self.memo.remember
        parts: list[MonthPart] = []
        for pos, j in zip(*self.month_index[month]):
            p = self.by_card[pos]
            rid = self.rids[p.id]
            # A one-off export computes the part (and its digest, when asked) here.
            name, vs, aps, digest = get((p.digest, rid), lambda: _months(p, rid, keep))[j]
            assert name == month  # the index is built from the same months, in the same order
            parts.append((p, vs, aps, digest))
        self._parts = (month, parts)
        return parts

    def month_digest(self, month: str) -> str:
        """Everything the month's days show: names, rids and that month's rows only, so a
        change the diary does not show (an address, a visit's notes) re-seals no shard."""
        return input_digest(self.db, month, self.version, self.lang, "".join(
            [d or _shown(p, self.rids[p.id], vs, aps) for p, vs, aps, d in self.month_parts(month)]))

    def _days_key(self, month: str) -> tuple[Any, ...]:
        return ("days", self.db, month, self.version, self.lang, self.currency, self.scope)

    def keep_days(self, month: str) -> None:
        """Carry the month's rendered days to the next export when its shard is kept: the
        memo drops what an export did not use, and an edit must find its month's other
        days still rendered."""
        if self.memo.remember:
            self.memo.table("days").get(self._days_key(month), dict)

    def month_shard(self, month: str) -> dict[str, Any]:
        """The month's diary shard (FORMAT.md 6.3) as a value (tests, readers' checks)."""
        return json.loads("".join(self.month_pieces(month)))

    def month_pieces(self, month: str) -> Iterator[str]:
        """The month's diary shard (FORMAT.md 6.3) as canonical JSON text, one day at a time,
        for crypto.seal_body_text: the month's HTML is never held whole. Each day is kept
        in the memo by what it shows, so an edit to one visit renders that day only."""
        remember = self.memo.remember
        table, key = self.memo.table("days"), self._days_key(month)
        kept: dict[str, tuple[Any, ...]] = table.get(key, dict) if remember else {}
        rendered: dict[str, tuple[Any, ...]] = {}
        # Keys in canonical order: "days", "db", "month", "v"; days in date order.
        days = self._days(month)
        yield '{"days":{'
        for n, (day, vs_day, aps_day) in enumerate(days):
            if remember:
                value = self._kept_day(day, vs_day, aps_day, kept, rendered)
            else:
                value = self._day(day, vs_day, aps_day)
            yield f'{"," if n else ""}{_json(day.isoformat())}:{_json(value)}'
        if remember:
            table.put(key, rendered)  # this month's days only: a day no longer shown is let go
        yield f'}},"db":{_json(self.db)},"month":{_json(month)},"v":{VERSION}}}'

    def _days(self, month: str) -> Iterator[tuple[date, list[tuple[Patient, Visit]], list[tuple[Patient, Appointment]]]]:
        """The month's days in date order, each with its visits and appointments in the
        order the diary shows them; a day's rows are let go once it is given."""
        visits: dict[date, list[tuple[Patient, Visit]]] = defaultdict(list)
        appts: dict[date, list[tuple[Patient, Appointment]]] = defaultdict(list)
        for p, vs, aps, _ in self.month_parts(month):
            for v in vs:
                visits[v.date].append((p, v))
            for a in aps:
                appts[a.date].append((p, a))
        self._parts = None  # grouped: the month's rows are not needed again
        return ((day, sorted(visits.pop(day, []), key=lambda pv: pv[1].id),
                 sorted(appts.pop(day, []), key=lambda pa: (pa[1].time or "99:99", pa[1].id)))
                for day in sorted(set(visits) | set(appts)))

    def _kept_day(self, day: date, vs_day: list[tuple[Patient, Visit]],
                  aps_day: list[tuple[Patient, Appointment]], kept: dict[str, tuple[Any, ...]],
                  rendered: dict[str, tuple[Any, ...]]) -> dict[str, Any]:
        """One day's value, from ``kept`` when what it shows is unchanged; put in ``rendered``."""
        digest = self._day_digest(day, vs_day, aps_day)
        packed = kept.get(digest)
        if packed is None:
            value = self._day(day, vs_day, aps_day)
            # Kept compressed: a day's HTML repeats the same tags row after row, and the
            # whole diary's text held plain was the largest thing in the service's memo.
            packed = (value["paid"], value["visits"], value["appointments"],
                      zlib.compress(value["html"].encode("utf-8"), 1))
        else:
            value = {"paid": packed[0], "visits": packed[1], "appointments": packed[2],
                     "html": zlib.decompress(packed[3]).decode("utf-8")}
        rendered[digest] = packed
        return value

    def _day(self, day: date, vs_day: list[tuple[Patient, Visit]],
             aps_day: list[tuple[Patient, Appointment]]) -> dict[str, Any]:
        return {
            "paid": round(sum(v.paid for _, v in vs_day), 2),
            "visits": len(vs_day),
            "appointments": len(aps_day),
            "html": render.diary_day_fragment(day, vs_day, aps_day, self.rids, self.lang, self.currency),
        }

    def _day_digest(self, day: date, vs_day: list[tuple[Patient, Visit]],
                    aps_day: list[tuple[Patient, Appointment]]) -> str:
        """Everything one day of the diary shows, in the order it shows it."""
        rids = self.rids
        return input_digest(
            day.isoformat(), self.version, self.lang, self.currency,
            [(rids.get(p.id), p.first_name, p.surname, v.id, v.paid, v.action) for p, v in vs_day],
            [(rids.get(p.id), p.first_name, p.surname, a.id, a.time, a.duration_min, a.reason)
             for p, a in aps_day])


def row_digest(p: Patient, years: int | None, rid: str, bundle: str, ck: bytes, version: str) -> str:
    """Everything a patient's index row is made of: the patient, the age shown, the pointer."""
    return input_digest(p.digest, years, rid, bundle, ck, version)


def row_order(p: Patient, rid: str, get_sort: Any) -> tuple[bytes, bytes, bytes, str]:
    """The readers' order (FORMAT.md 6.2): sort keys then card by UTF-16 code units, as
    JavaScript's ``<`` compares (big-endian UTF-16 bytes compare so), then rid."""
    surname, first, card = get_sort(p.digest, lambda: sort_key(p))
    return surname.encode("utf-16-be"), first.encode("utf-16-be"), card.encode("utf-16-be"), rid


# Index shards are written as text pieces: each row's JSON is kept per patient, so a shard
# sealed again joins kept texts instead of encoding every row. The pieces make exactly
# crypto.canonical_json of the shard: keys sorted, no spaces.
_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def shard_text(db: str, i: int, entries: Iterable[str]) -> str:
    return f'{{"db":{_json(db)},"rows":[{",".join(entries)}],"shard":{i},"v":{VERSION}}}'
