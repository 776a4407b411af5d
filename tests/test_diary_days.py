"""An edit re-renders the diary days it changes, not the whole month (issue 15)."""
from __future__ import annotations

from conftest import files_on_disk, plan_map
from exporter import render
from exporter.memo import ExportMemo
from exporter.site import export_site
from test_memo import TODAY, assert_site_matches_a_fresh_rendering, edit

MORE_DAYS = [f"INSERT INTO visits (id, patient_id, date, paid, action) VALUES ({20 + d}, {1 + d % 3}, "
             f"'2026-11-{d:02d}', {d}, 'Check-up')" for d in range(1, 12)]


def counting(monkeypatch):
    calls = []
    real = render.diary_day_fragment

    def count(day, *args, **kw):
        calls.append(day)
        return real(day, *args, **kw)
    monkeypatch.setattr(render, "diary_day_fragment", count)
    return calls


def test_an_edit_to_one_visit_renders_one_day_and_seals_what_a_fresh_export_seals(home, clinic_db, monkeypatch):
    edit(clinic_db, MORE_DAYS)
    memo = ExportMemo()
    calls = counting(monkeypatch)
    export_site(home, today=TODAY, memo=memo)
    assert len({d for d in calls if (d.year, d.month) == (2026, 11)}) == 12
    calls.clear()
    # An export that keeps every shard must keep the rendered days for the next edit.
    assert export_site(home, today=TODAY, memo=memo).sealed == 0 and calls == []
    edit(clinic_db, ["UPDATE visits SET paid = 31 WHERE id = 25"])  # 2026-11-05
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert [d.isoformat() for d in calls] == ["2026-11-05"]  # one account (admin) sees it
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    before = plan_map(home)
    fresh = export_site(home, today=TODAY)  # no memo: every day rendered again, nothing differs
    assert fresh.sealed == 0 and plan_map(home) == before and files_on_disk(home) == set(before)


def test_a_renamed_patient_renders_again_each_day_that_names_them(home, clinic_db, monkeypatch):
    edit(clinic_db, MORE_DAYS)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    calls = counting(monkeypatch)
    edit(clinic_db, ["UPDATE patients SET first_name = 'Rania' WHERE id = 2"])
    export_site(home, today=TODAY, memo=memo)
    # Patient 2 has visits on days 1, 4, 7, 10 and the appointment of the 26th.
    assert sorted(d.day for d in calls) == [1, 4, 7, 10, 26]
    assert_site_matches_a_fresh_rendering(home, clinic_db)


def test_a_moved_visit_renders_the_day_it_reached_and_drops_the_day_it_left(home, clinic_db, monkeypatch):
    edit(clinic_db, MORE_DAYS)
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    calls = counting(monkeypatch)
    edit(clinic_db, ["UPDATE visits SET date = '2026-11-03' WHERE id = 22"])  # from the 2nd
    export_site(home, today=TODAY, memo=memo)
    assert sorted(d.day for d in calls) == [3]  # the 2nd had that visit only: it is gone
    assert_site_matches_a_fresh_rendering(home, clinic_db)
