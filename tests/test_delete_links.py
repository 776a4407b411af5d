"""Delete planning reads only the references of its candidates (publisher/links.py).

A superseded object is kept while anything that may be on the target names it; a referrer is
deleted before what it names; the references read per publish do not grow with the number
of published objects; a state database of the previous layout (references as text in
`published` and `sending`) keeps working.
"""
from __future__ import annotations

import sqlite3

import pytest

from s3 import FakeSite, aws_env, bucket_objects, make_home, moto_server, new_bucket  # noqa: F401

from exporter import plan
from publisher import deletes, links, state
from publisher.policy import Policy
from publisher.publish import connect, publish

T = "s3://b/site"
NOW = 1000.0


def obj(name: str, grp: str, refs: tuple[str, ...] = (), kind: str = plan.IMMUTABLE) -> plan.PlanObject:
    return plan.PlanObject(name, "d-" + name, 10, kind, grp, refs)


def record(conn, *objs: plan.PlanObject) -> None:
    conn.execute("BEGIN")
    for o in objs:
        state.record_published(conn, T, o, "e", NOW)
    conn.execute("COMMIT")


def set_plan(conn, *objs: plan.PlanObject) -> None:
    conn.execute("BEGIN")
    plan.replace_plan(conn, {o.name: o for o in objs})
    conn.execute("COMMIT")


def open_state(path):
    c = sqlite3.connect(path)
    c.isolation_level = None  # explicit transactions, as publisher.publish.connect
    state.ensure_schema(c)
    return c


@pytest.fixture
def conn(tmp_path):
    c = open_state(tmp_path / "state.sqlite")
    yield c
    c.close()


def plan_now(conn, cap: int = 1000) -> deletes.DeletePlan:
    deletes.mark_superseded(conn, T, NOW)
    return deletes.plan_deletes(conn, T, Policy(grace_seconds=0, delete_cap=cap), NOW + 1)


def test_a_candidate_named_by_a_published_object_is_kept(conn):
    old_bundle, new_bundle = "c/1/obj/b1.bin", "c/1/obj/b2.bin"
    door = obj("c/1/door/d.json", "r1", (old_bundle,), plan.POINTER)
    record(conn, obj(old_bundle, "r1"), door)
    # The door's new version names the new bundle; its upload started and was never
    # confirmed (a kill -9): the target may still hold the version naming the old bundle.
    new_door = obj("c/1/door/d.json", "r1", (new_bundle,), plan.POINTER)
    set_plan(conn, obj(new_bundle, "r1"), new_door)
    record(conn, obj(new_bundle, "r1"))
    with conn:
        state.note_sending(conn, T, [new_door], NOW)
    dplan = plan_now(conn)
    assert dplan.layers == [] and dplan.waiting == 1  # the old bundle: still named
    # Once the door's new version is confirmed, nothing names the old bundle any more.
    record(conn, new_door)
    assert plan_now(conn).layers == [[old_bundle]]


def test_a_referrer_is_deleted_before_what_it_names_even_under_the_cap(conn):
    bundles = [f"c/1/obj/b{i}.bin" for i in range(3)]
    old_index = obj("c/1/obj/i1.bin", "clinic", tuple(bundles))
    record(conn, *(obj(b, f"r{i}") for i, b in enumerate(bundles)), old_index)
    new_index = obj("c/1/obj/i2.bin", "clinic", (bundles[0],))
    set_plan(conn, obj(bundles[0], "r0"), new_index)
    record(conn, new_index)
    assert plan_now(conn).layers == [[old_index.name], bundles[1:]]
    # A cap of one: the index alone goes first; the bundles it named are not yet free.
    capped = plan_now(conn, cap=1)
    assert capped.layers == [[old_index.name]] and capped.waiting == 2


def test_a_retired_door_named_by_a_due_object_is_deleted_once(conn):
    door = obj("c/1/door/x.json", "r1", (), plan.POINTER)
    site_json = obj("c/1/old-site.json", "clinic", (door.name,), plan.POINTER)
    record(conn, door, site_json)
    set_plan(conn, obj("c/1/site.json", "clinic"))
    layers = plan_now(conn).layers
    flat = [n for layer in layers for n in layer]
    assert sorted(flat) == sorted([door.name, site_json.name]) and len(flat) == len(set(flat))


def _clinic(conn, patients: int, version: int) -> list[plan.PlanObject]:
    bundles = [obj(f"c/1/obj/p{i}-v{version if i == 0 else 0}.bin", f"r{i}") for i in range(patients)]
    doors = [obj(f"c/1/door/p{i}.json", f"r{i}", (b.name,), plan.POINTER) for i, b in enumerate(bundles)]
    index = obj(f"c/1/obj/index-v{version}.bin", "clinic", tuple(b.name for b in bundles))
    account = obj("c/1/door/acct.json", "clinic", (index.name,), plan.POINTER)
    return bundles + doors + [index, account]


def _steps_to_find_references(conn, patients: int) -> tuple[int, deletes.DeletePlan]:
    """Publish a clinic, edit one patient, publish; count SQLite VM steps of the reference
    lookups of delete planning."""
    first = _clinic(conn, patients, 0)
    set_plan(conn, *first)
    record(conn, *first)
    edited = _clinic(conn, patients, 1)
    set_plan(conn, *edited)
    record(conn, *[o for o in edited if o not in first])
    deletes.mark_superseded(conn, T, NOW)
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    dplan = deletes.plan_deletes(conn, T, Policy(grace_seconds=0), NOW + 1)
    conn.set_progress_handler(count, 1)
    try:
        deletes._references(conn, T, {n for layer in dplan.layers for n in layer})
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0], dplan


def test_references_read_do_not_grow_with_the_published_objects(tmp_path):
    """One edit at 300 and at 3,000 patients: the reference lookups take about the same
    number of SQLite steps (reading every row's references would take ten times more)."""
    results = {}
    for patients in (300, 3000):
        c = open_state(tmp_path / f"s{patients}.sqlite")
        results[patients] = _steps_to_find_references(c, patients)
        c.close()
    (small, plan_small), (large, plan_large) = results[300], results[3000]
    # The old index, then the edited patient's old bundle, in both.
    assert plan_small.layers == [["c/1/obj/index-v0.bin"], ["c/1/obj/p0-v0.bin"]]
    assert plan_large.layers == [["c/1/obj/index-v0.bin"], ["c/1/obj/p0-v0.bin"]]
    assert large < small * 1.5, (small, large)


# -- a state database of the previous layout, against a real S3 API ----------------------
POLICY = Policy(grace_seconds=0, backoff_base=0.01, backoff_cap=0.05, s3_attempts=2,
                connect_timeout=2, read_timeout=10)


def _to_previous_layout(path) -> None:
    """Put the references back as text in `published` and `sending` and drop `links`."""
    c = sqlite3.connect(path)
    with c:
        for table, via in (("published", 0), ("sending", 1)):
            c.execute(f"UPDATE {table} SET refs = coalesce((SELECT group_concat(ref, ' ') FROM "
                      f"links l WHERE l.target = {table}.target AND l.name = {table}.name AND "
                      f"l.via = {via}), '')")
        c.execute("DROP TABLE links")
    assert c.execute("SELECT count(*) FROM published WHERE refs != ''").fetchone()[0] > 0
    c.close()


def test_a_state_database_of_the_previous_layout_keeps_working(tmp_path, aws_env, moto_server):
    bucket = new_bucket(moto_server)
    home = make_home(tmp_path / "home", f"s3://{bucket}/site")
    home.config["endpoint_url"] = moto_server.url
    home.save()
    site = FakeSite(home, patients=5)
    site.write()
    assert publish(home, export=False, policy=POLICY).uploaded == len(site.objects())
    site.edit(site.rids[1])
    site.write()
    hold = Policy(**{**POLICY.__dict__, "grace_seconds": 3600})
    report = publish(home, export=False, policy=hold)
    assert report.uploaded == 5 and report.deletes_waiting == 2  # old bundle and old index
    _to_previous_layout(home.state_path)

    conn = connect(home)  # migrates: the references move to `links`, the text columns empty
    assert conn.execute("SELECT count(*) FROM published WHERE refs != ''").fetchone()[0] == 0
    index = next(o for _d, o in site.objects().values() if o.group == "clinic" and o.refs
                 and o.kind == plan.IMMUTABLE)
    assert links.refs_of(conn, f"s3://{bucket}/site", index.name) == set(index.refs)
    conn.close()
    report = publish(home, export=False, policy=POLICY)
    assert report.deleted == 2 and report.deletes_waiting == 0
    held = bucket_objects(moto_server.url, bucket, "site")
    assert held == {name: data for name, (data, _o) in site.objects().items()}


def test_migration_is_done_once_and_by_one_process(tmp_path):
    path = tmp_path / "state.sqlite"
    c = sqlite3.connect(path)
    state.ensure_schema(c)
    c.execute("DROP TABLE links")
    c.execute("INSERT INTO published (target, name, digest, size, kind, grp, refs, published_at) "
              "VALUES ('t', 'a', 'd', 1, 'pointer', 'g', 'b c b', 1)")
    c.commit()
    c.close()
    first, second = sqlite3.connect(path), sqlite3.connect(path)
    state.ensure_schema(first)
    state.ensure_schema(second)
    assert links.refs_of(second, "t", "a") == {"b", "c"}
    assert second.execute("SELECT count(*) FROM links").fetchone()[0] == 2
    first.close()
    second.close()


def test_deleting_objects_drops_their_references(conn):
    index = obj("c/1/obj/i.bin", "clinic", ("c/1/obj/b.bin",))
    record(conn, index)

    class Fake:
        state_key = T

        def delete(self, names):
            self.names = names

    deletes.run_deletes(conn, Fake(), deletes.DeletePlan([[index.name]], 0))
    assert conn.execute("SELECT count(*) FROM links").fetchone()[0] == 0


def test_a_delete_round_ends_between_chunks_when_told_and_keeps_the_rest(conn):
    # The service stops a long round when a change arrives; what is left stays recorded
    # as published, so the next round deletes it.
    names = [f"c/1/obj/{i:04d}.bin" for i in range(7)]
    for name in names:
        record(conn, obj(name, "clinic", ()))
    sent: list[list[str]] = []

    class Fake:
        state_key = T

        def delete(self, chunk):
            sent.append(list(chunk))

    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) >= 2  # a change arrives after the second chunk

    done = deletes.run_deletes(conn, Fake(), deletes.DeletePlan([names], 0), stop, chunk_size=3)
    assert done == 6 and sent == [names[:3], names[3:6]]
    left = [r[0] for r in conn.execute("SELECT name FROM published WHERE target = ?", (T,))]
    assert left == [names[6]]
    assert deletes.run_deletes(conn, Fake(), deletes.DeletePlan([names[6:]], 0), lambda: True) == 1
