"""sync: list the target, classify missing / damaged / stale / orphaned objects, repair."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from s3 import (FakeSite, aws_env, bucket_objects, make_home, moto_server, new_bucket,  # noqa: F401
                replay_check, s3_client, snapshot_check)

import cli
from exporter import plan
from publisher.policy import Policy
from publisher.publish import connect, make_target, publish
from publisher.sync import sync

POLICY = Policy(grace_seconds=3600, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture
def published(tmp_path, aws_env, moto_server):
    bucket = new_bucket(moto_server)
    home = make_home(tmp_path / "home", f"s3://{bucket}/site")
    home.config["endpoint_url"] = moto_server.url
    home.save()
    site = FakeSite(home, patients=5)
    site.write()
    assert publish(home, export=False, policy=POLICY).left == 0
    return home, site, bucket


def run_sync(home, repair=False):
    conn = connect(home)
    try:
        target = make_target(home, None, None, None, POLICY)
        return sync(conn, target, home.site_dir, home.clinic_prefix, repair, POLICY)
    finally:
        conn.close()


def test_clean_target_has_no_problems(published):
    home, site, _bucket = published
    r = run_sync(home)
    assert (r.problems, r.planned, r.listed, r.foreign) == (0, len(site.objects()), len(site.objects()), [])


def test_sync_finds_and_repairs_damage_by_hand(published, moto_server):
    home, site, bucket = published
    s3 = s3_client(moto_server.url)
    objs = site.objects()
    bundle = next(n for n, (_d, o) in objs.items() if o.group == site.rids[0] and "/obj/" in n)
    door = next(n for n, (_d, o) in objs.items() if o.group == site.rids[1] and "/door/" in n)
    s3.delete_object(Bucket=bucket, Key=f"site/{bundle}")                       # missing
    s3.delete_object(Bucket=bucket, Key="site/index.html")                        # missing (app)
    s3.put_object(Bucket=bucket, Key=f"site/{door}", Body=b'{"refs": []}')        # damaged
    s3.put_object(Bucket=bucket, Key=f"site/{site.prefix}/site.json", Body=b"{}x")  # damaged
    orphan_door = f"{site.prefix}/door/{'e' * 32}.json"
    orphan_obj = f"{site.prefix}/obj/{'f' * 32}.bin"
    s3.put_object(Bucket=bucket, Key=f"site/{orphan_door}", Body=json.dumps({"refs": [orphan_obj]}).encode())
    s3.put_object(Bucket=bucket, Key=f"site/{orphan_obj}", Body=b"stray")
    s3.put_object(Bucket=bucket, Key="site/assets/other.12345678.js", Body=b"another clinic's")
    s3.put_object(Bucket=bucket, Key="site/c/9999999999/site.json", Body=b"{}")  # another clinic

    r = run_sync(home)
    assert sorted(r.missing) == sorted([bundle, "index.html"])
    assert sorted(r.damaged) == sorted([door, f"{site.prefix}/site.json"])
    assert r.stale == [] and sorted(r.orphaned) == sorted([orphan_door, orphan_obj])
    assert r.foreign == ["assets/other.12345678.js"]  # not ours to delete

    r = run_sync(home, repair=True)
    assert (r.repaired, r.deleted, r.failed) == (4, 2, {})
    held = bucket_objects(moto_server.url, bucket, "site")
    snapshot_check(held)
    assert "assets/other.12345678.js" in held and orphan_door not in held and orphan_obj not in held
    assert held.pop("c/9999999999/site.json") == b"{}"  # another clinic's: never touched
    del held["assets/other.12345678.js"]
    assert held == {n: d for n, (d, _o) in objs.items()}
    assert run_sync(home).problems == 0
    # The published table was corrected too: the next publish has nothing to do.
    mark = moto_server.recorder.mark()
    assert publish(home, export=False, policy=POLICY).uploaded == 0
    assert moto_server.recorder.requests(bucket, mark) == []


def test_repair_sends_refs_before_the_pointer(published, moto_server):
    home, site, bucket = published
    s3 = s3_client(moto_server.url)
    objs = site.objects()
    rid = site.rids[2]
    names = [n for n, (_d, o) in objs.items() if o.group == rid]
    for n in names:
        s3.delete_object(Bucket=bucket, Key=f"site/{n}")
    mark = moto_server.recorder.mark()
    run_sync(home, repair=True)
    puts = [e.key.removeprefix("site/") for e in moto_server.recorder.requests(bucket, mark) if e.method == "PUT"]
    assert sorted(puts) == sorted(names) and "/obj/" in puts[0]  # the bundle first, then its doors
    snapshot_check(bucket_objects(moto_server.url, bucket, "site"))


def test_stale_pointers_are_told_apart_from_damage(published):
    home, site, _bucket = published
    site.edit(site.rids[0])
    site.write()  # exported but not published yet
    r = run_sync(home)
    # The patient's two doors and the account door hold an older version we published; the
    # new bundle and index are missing; nothing is called damaged.
    assert len(r.stale) == 3 and len(r.missing) == 2 and r.damaged == []


def test_repair_refuses_an_empty_plan(published):
    home, _site, _bucket = published
    conn = home.connect_state()
    with conn:
        plan.replace_plan(conn, {})  # a lost state database: no plan, nothing known as published
    with conn:
        conn.execute("DELETE FROM published")
    conn.close()
    result = CliRunner().invoke(cli.main, ["sync", "--repair", "--home", str(home.root)])
    assert result.exit_code == 1 and "the plan is empty" in result.output
    assert run_sync(home).orphaned  # everything looked orphaned, and nothing was deleted


def test_cli_sync_summary_and_exit_codes(published, moto_server):
    home, site, bucket = published
    runner = CliRunner()
    ok = runner.invoke(cli.main, ["sync", "--home", str(home.root)])
    assert ok.exit_code == 0 and "missing   0" in ok.output
    s3_client(moto_server.url).delete_object(Bucket=bucket, Key=f"site/{site.prefix}/site.json")
    bad = runner.invoke(cli.main, ["sync", "--json", "--home", str(home.root)])
    assert bad.exit_code == 1 and "sync --repair" in bad.output
    summary = json.loads(bad.output.splitlines()[0])
    assert summary["missing"] == 1 and summary["names"]["missing"] == [f"{site.prefix}/site.json"]
    fixed = runner.invoke(cli.main, ["sync", "--repair", "--home", str(home.root)])
    assert fixed.exit_code == 0 and "repaired 1 objects" in fixed.output
    assert runner.invoke(cli.main, ["sync", "--home", str(home.root)]).exit_code == 0


def test_sync_on_a_folder_target(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "1")
    pub = tmp_path / "pub"
    home = make_home(tmp_path / "home", pub.as_uri())
    site = FakeSite(home, patients=3)
    site.write()
    publish(home, export=False, policy=POLICY)
    victim = next(n for n in site.objects() if "/obj/" in n)
    (pub / victim).write_bytes(b"corrupted by hand")
    (pub / "index.html").unlink()
    r = run_sync(home, repair=True)
    assert r.damaged == [victim] and r.missing == ["index.html"] and r.repaired == 2
    assert run_sync(home).problems == 0
