"""A diary month is grouped and sealed one month at a time (issue 15, a one-off export's peak
memory), and its shard is exactly what grouping every month at once built."""
from __future__ import annotations

from array import array
from collections import defaultdict
from datetime import date

import pytest

from exporter import crypto, render
from exporter.clinic_db import read_clinic
from exporter.demo_data import write_demo_clinic
from exporter.indexes import DbView
from exporter.memo import ExportMemo

TODAY = date(2026, 11, 26)


def old_month_shards(view: DbView) -> dict[str, dict]:
    """The shards as the exporter built them before: every patient's month parts grouped at
    once, then each month's value as one dict (the reference the new code must match)."""
    by_month: dict[str, list] = defaultdict(list)
    for p in view.by_card:
        months: dict = defaultdict(lambda: ([], []))
        for v in p.visits:
            months[(v.date.year, v.date.month)][0].append(v)
        for a in p.appointments:
            months[(a.date.year, a.date.month)][1].append(a)
        for (y, m), (vs, aps) in sorted(months.items()):
            by_month[f"{y:04d}-{m:02d}"].append((p, vs, aps))
    out = {}
    for month in sorted(by_month):
        visits, appts = defaultdict(list), defaultdict(list)
        for p, vs, aps in by_month[month]:
            for v in vs:
                visits[v.date].append((p, v))
            for a in aps:
                appts[a.date].append((p, a))
        days = {}
        for day in sorted(set(visits) | set(appts)):
            vs_day = sorted(visits.get(day, []), key=lambda pv: pv[1].id)
            aps_day = sorted(appts.get(day, []), key=lambda pa: (pa[1].time or "99:99", pa[1].id))
            days[day.isoformat()] = {
                "paid": round(sum(v.paid for _, v in vs_day), 2), "visits": len(vs_day),
                "appointments": len(aps_day),
                "html": render.diary_day_fragment(day, vs_day, aps_day, view.rids, view.lang, view.currency)}
        out[month] = {"v": crypto.VERSION, "db": view.db, "month": month, "days": days}
    return out


@pytest.fixture(scope="module")
def patients(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    write_demo_clinic(path, patients=150, seed=11, start=date(2026, 11, 20))
    return read_clinic(path).patients


def view_of(patients, remember: bool) -> DbView:
    rids = {p.id: f"{p.id:032x}" for p in patients}
    return DbView("main", patients, rids, TODAY, "en", "v", ExportMemo(remember), "EUR", "scope")


@pytest.mark.parametrize("remember", [False, True], ids=["one-off", "memo"])
def test_each_month_shard_is_exactly_what_grouping_every_month_at_once_built(patients, remember):
    view = view_of(patients, remember)
    old = old_month_shards(view)
    assert len(old) >= 6 and list(view.month_index) == list(old)
    for month, value in old.items():
        view.keep_days(month)
        digest = view.month_digest(month)
        text = "".join(view.month_pieces(month))
        assert text.encode() == crypto.canonical_json(value), month  # the same bytes sealed
        key, ad = b"k" * 32, b"diary " + month.encode()
        assert crypto.open_body(key, crypto.seal_body_text(key, view.month_pieces(month), ad), ad) == value
        assert view.month_shard(month) == value
        assert view.month_digest(month) == digest
    # Asked again (the service's next export), the kept days give the same text.
    if remember:
        again = view_of(patients, True)
        again.memo = view.memo
        for month, value in old.items():
            assert "".join(again.month_pieces(month)).encode() == crypto.canonical_json(value)


def test_only_positions_are_held_for_the_clinic_and_rows_for_one_month(patients):
    """What made the peak: every patient's month parts held for every month at once."""
    view = view_of(patients, False)
    index = view.month_index
    assert all(isinstance(at, array) and isinstance(js, array) for at, js in index.values())
    assert sum(len(at) for at, _ in index.values()) >= len(patients)
    months = list(index)
    first, second = view.month_parts(months[0]), view.month_parts(months[1])
    assert view.month_parts(months[1]) is second  # a month's digest and shard share its rows
    assert {p.id for p, *_ in first} == {view.by_card[i].id for i in index[months[0]][0]}
    assert all((v.date.year, v.date.month) == tuple(map(int, months[1].split("-")))
               for _, vs, _, _ in second for v in vs)
    pieces = view.month_pieces(months[1])
    assert next(pieces) == '{"days":{' and view._parts is None  # its rows let go once grouped
    assert len(list(pieces)) >= 2  # one piece per day, then the end: never one month's text
    view.release()
    assert "month_index" not in view.__dict__
