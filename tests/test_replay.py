"""Keeping unchanged patients' objects in a process that exports again (issue 15): runs of
unchanged patients are replayed in one call, all or nothing, and the site is the same."""
from __future__ import annotations

from conftest import files_on_disk, plan_map
from exporter.cache import SealedCache
from exporter.memo import ExportMemo
from exporter.site import export_site
from exporter.writer import ObjectWriter, steps
from test_memo import EDITS, TODAY, assert_site_matches_a_fresh_rendering, edit


def test_replay_many_is_all_or_nothing_across_traces(home, tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    conn = home.connect_state()
    writer = ObjectWriter(site_dir, SealedCache(conn))
    traces = []
    for n in "abc":
        writer.start_trace()
        writer.sealed_object(f"k:{n}", f"in-{n}", "c", lambda n=n: n.encode(), "g")
        traces.append(writer.end_trace())
    with conn:
        writer.cache.commit()
    again = ObjectWriter(site_dir, SealedCache(conn))
    assert again.replay_many(traces) and again.kept == 3
    assert set(again.objects) == {o.name for t in traces for _, _, o in steps(t)}
    assert set(again.cache.entries) == {"k:a", "k:b", "k:c"}
    # The same object twice in one call collides, as two calls would: nothing is added.
    twice = ObjectWriter(site_dir, SealedCache(conn))
    assert not twice.replay_many([traces[0], traces[1], traces[0]])
    assert twice.objects == {} and twice.kept == 0 and twice.cache.entries == {}
    # One object gone from the folder: none of the traces is kept.
    (site_dir / traces[2][2].name).unlink()
    gone = ObjectWriter(site_dir, SealedCache(conn))
    assert not gone.replay_many(traces) and gone.objects == {}
    conn.close()


def _clocked(memo):
    """A memo whose clock the test moves: past full_read_interval the export walks again."""
    now = [0.0]
    memo.clock = lambda: now[0]

    def later():
        now[0] += 3601
    return later


def _replay_calls(monkeypatch) -> list[int]:
    """The number of traces of each replay_many call from now on."""
    calls: list[int] = []
    real = ObjectWriter.replay_many

    def spy(self, traces):
        calls.append(len(traces))
        return real(self, traces)
    monkeypatch.setattr(ObjectWriter, "replay_many", spy)
    return calls


def test_an_edit_replays_the_unchanged_patients_around_it_in_two_calls(home, clinic_db, monkeypatch):
    memo = ExportMemo()
    later = _clocked(memo)
    export_site(home, today=TODAY, memo=memo)
    calls = _replay_calls(monkeypatch)
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    assert calls == []  # carried forward: no patient is even looked at
    later()  # the folder is due to be listed again: every patient is walked
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    assert calls == [3]  # every patient unchanged: one call for the whole database
    calls.clear()
    edit(clinic_db, EDITS["deal paid"])  # patient 1001, the first in the database
    later()
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    assert calls == [2]
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    before = plan_map(home)
    fresh = export_site(home, today=TODAY)
    assert fresh.sealed == 0 and plan_map(home) == before and files_on_disk(home) == set(before)


def test_a_patient_whose_objects_left_the_folder_is_sealed_again_the_others_kept(home, clinic_db):
    memo = ExportMemo()
    later = _clocked(memo)
    export_site(home, today=TODAY, memo=memo)
    bundles = _bundles(home)
    gone = sorted(bundles)[0]
    (home.site_dir / bundles[gone]).unlink()
    # Carried forward, the folder is not listed: the file removed by hand is noticed by the
    # next export that lists it, at the latest full_read_interval later.
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    later()
    assert export_site(home, today=TODAY, memo=memo).sealed > 0
    after = _bundles(home)
    # Sealed again (a new nonce, a new name); the other patients' bundles are kept as they were.
    assert after[gone] != bundles[gone] and (home.site_dir / after[gone]).exists()
    assert {k: v for k, v in after.items() if k != gone} == {k: v for k, v in bundles.items() if k != gone}
    assert_site_matches_a_fresh_rendering(home, clinic_db)
    assert export_site(home, today=TODAY).sealed == 0


def _bundles(home):
    conn = home.connect_state()
    try:
        return dict(conn.execute("SELECT key, name FROM sealed_cache WHERE key LIKE 'bundle:%'"))
    finally:
        conn.close()


def test_the_memo_holds_each_name_once(home, clinic_db):
    """A door's cache key is the string of its plan name, and its ref to its bundle the
    bundle's own plan name, after a first export and after an edit (the service keeps 100,000
    of each at 50,000 patients: copies cost it ~20 MiB)."""
    memo = ExportMemo()
    later = _clocked(memo)  # the edit leaves modified_at alone: the next read is a full one
    export_site(home, today=TODAY)  # a service started on a published home: all kept
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    for round_ in ("first", "edit"):
        state = memo.state
        doors = [o for o in state.plan.values() if "/door/" in o.name and o.refs]
        assert doors, round_
        for obj in doors:
            key = next(k for k in state.cache if k == obj.name)
            assert key is obj.name, (round_, obj.name)
            bundle = state.plan[obj.refs[0]]
            assert obj.refs[0] is bundle.name, (round_, obj.name)
        edit(clinic_db, EDITS["deal paid"])
        later()
        assert export_site(home, today=TODAY, memo=memo).sealed > 0 or round_ == "edit"


def test_a_walk_replays_in_runs_of_at_most_a_keystore_chunk(home, clinic_db, monkeypatch):
    """A walk holds the keystore rows of one run of unchanged patients at most: runs are cut
    at KEYSTORE_CHUNK, and the site is the one a fresh export makes."""
    from exporter import patient_pass

    monkeypatch.setattr(patient_pass, "KEYSTORE_CHUNK", 2)
    memo = ExportMemo()
    later = _clocked(memo)
    export_site(home, today=TODAY, memo=memo)
    calls = _replay_calls(monkeypatch)
    later()  # every patient is walked
    assert export_site(home, today=TODAY, memo=memo).sealed == 0
    assert calls == [2, 1]
    assert_site_matches_a_fresh_rendering(home, clinic_db)
