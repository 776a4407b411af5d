"""Publishing to a real S3 API (moto over HTTP): exact request counts, order, deletes,
--all, --dry-run, the CLI, and clear failures that keep the queue."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from s3 import (FakeSite, aws_env, bucket_objects, fault_proxy, make_home, moto_server,  # noqa: F401
                new_bucket, replay_check, snapshot_check)

import cli
from exporter import plan
from publisher import jobs
from publisher.policy import Policy
from publisher.publish import connect, dry_run, publish

POLICY = Policy(grace_seconds=0, backoff_base=0.01, backoff_cap=0.05, s3_attempts=2,
                connect_timeout=2, read_timeout=10)


@pytest.fixture
def clinic(tmp_path, aws_env, moto_server):
    bucket = new_bucket(moto_server)
    home = make_home(tmp_path / "home", f"s3://{bucket}/site")
    home.config["endpoint_url"] = moto_server.url
    home.save()
    site = FakeSite(home, patients=6)
    site.write()
    return home, site, bucket


def requests(server, bucket, mark):
    return [(e.method, e.key.removeprefix("site/"), e.query) for e in server.recorder.requests(bucket, mark)]


def run(home, **kw):
    kw.setdefault("export", False)
    kw.setdefault("policy", POLICY)
    return publish(home, **kw)


def assert_converged(server, bucket, site):
    held = bucket_objects(server.url, bucket, "site")
    want = {name: data for name, (data, _o) in site.objects().items()}
    assert held == want
    snapshot_check(held)
    assert replay_check(server.recorder.events, bucket, "site") > 0


def test_first_noop_and_one_change_send_exactly_what_changed(clinic, moto_server):
    home, site, bucket = clinic
    n = len(site.objects())
    mark = moto_server.recorder.mark()
    report = run(home)
    sent = requests(moto_server, bucket, mark)
    assert report.uploaded == n and report.left == 0
    # A target the state database knows nothing of is listed once (this clinic's prefix
    # and the app's root), then never again.
    lists = [q for m, _k, q in sent if m == "GET"]
    assert lists and all("list-type=2" in q for q in lists)
    assert sorted(m for m, _k, _q in sent if m != "GET") == ["HEAD"] + ["PUT"] * n
    # site.json and the app pages go last.
    assert {k for _m, k, _q in sent[-4:]} == {f"{site.prefix}/site.json", "index.html",
                                              "doctor/index.html", "patient/index.html"}

    mark = moto_server.recorder.mark()
    report = run(home)
    assert requests(moto_server, bucket, mark) == []  # no-op: not one request
    assert report.uploaded == 0 and report.queued == 0

    old = site.objects()
    site.edit(site.rids[2])
    new = site.write()
    changed = {k for k in new if k not in old or new[k][1].digest != old[k][1].digest}
    assert len(changed) == 5  # bundle, its door and entry, the index, the account door
    mark = moto_server.recorder.mark()
    report = run(home, policy=Policy(**{**POLICY.__dict__, "grace_seconds": 3600}))
    sent = requests(moto_server, bucket, mark)
    assert sorted(k for m, k, _q in sent if m == "PUT") == sorted(changed)
    assert [m for m, _k, _q in sent if m != "PUT"] == ["HEAD"]
    assert report.deleted == 0 and report.deletes_waiting == 2  # old bundle and index: grace

    mark = moto_server.recorder.mark()
    report = run(home)  # grace over: the two superseded objects go, the index before the bundle
    assert [(m, q) for m, _k, q in requests(moto_server, bucket, mark)] == [("POST", "delete")] * 2
    assert report.deleted == 2 and report.deletes_waiting == 0
    assert_converged(moto_server, bucket, site)


def test_deletes_are_capped_and_safe(clinic, moto_server):
    home, site, bucket = clinic
    run(home)
    for rid in site.rids[:4]:
        site.remove(rid)
    site.write()
    capped = Policy(**{**POLICY.__dict__, "delete_cap": 2})
    report = run(home, policy=capped)
    # 4 patients x (door, entry, bundle) + the old index: the 8 retired doors go at once,
    # outside the cap; then the old index and one bundle.
    assert report.deleted == 8 + 2 and report.deletes_waiting == 3
    report = run(home, policy=capped)
    assert report.deleted == 2 and report.deletes_waiting == 1
    report = run(home, policy=capped)
    assert report.deleted == 1 and report.deletes_waiting == 0
    assert_converged(moto_server, bucket, site)


def test_publish_all_resends_everything_once(clinic, moto_server):
    home, site, bucket = clinic
    run(home)
    mark = moto_server.recorder.mark()
    report = run(home, resend_all=True)
    puts = [k for m, k, _q in requests(moto_server, bucket, mark) if m == "PUT"]
    assert sorted(puts) == sorted(site.objects()) and report.uploaded == len(puts)
    mark = moto_server.recorder.mark()
    run(home)
    assert requests(moto_server, bucket, mark) == []
    assert_converged(moto_server, bucket, site)


def test_dry_run_changes_nothing(clinic, moto_server):
    home, site, bucket = clinic
    mark = moto_server.recorder.mark()
    d = dry_run(home, export=False, policy=POLICY)
    assert sorted(o.name for o in d.uploads) == sorted(site.objects())
    assert requests(moto_server, bucket, mark) == []
    conn = connect(home)
    assert jobs.list_jobs(conn) == [] and conn.execute("SELECT count(*) FROM published").fetchone()[0] == 0
    conn.close()


def test_a_failing_patient_holds_back_only_what_points_to_it(clinic, moto_server):
    home, site, bucket = clinic
    broken = site.rids[0]
    bundle = next(n for n, (_d, o) in site.objects().items() if o.group == broken and "/obj/" in n)
    (home.site_dir / bundle).write_bytes(b"damaged")  # the file no longer matches the plan
    report = run(home)
    held = bucket_objects(moto_server.url, bucket, "site")
    snapshot_check(held)
    # Its door and entry wait, and so do the index and the account door that name its bundle;
    # every other patient, site.json and the app are published.
    assert report.left == 2 and set(report.failed) == {broken, "clinic"}
    assert "does not match the plan" in report.failed[broken]
    assert f"{site.prefix}/site.json" in held and "index.html" in held
    assert len(held) == len(site.objects()) - 5
    conn = connect(home)
    waiting = {j.grp: j for j in jobs.list_jobs(conn)}
    conn.close()
    assert waiting[broken].attempts == 1  # not retried in vain: only an export can repair it
    assert waiting["clinic"].reason.startswith("waiting for 1 other group")
    site.write()  # the export repairs the site folder
    report = run(home)
    assert report.left == 0
    assert_converged(moto_server, bucket, site)


def test_thirty_percent_failures_still_converge(clinic, moto_server, fault_proxy):
    home, site, bucket = clinic
    fault_proxy.rate = 0.3
    fault_proxy.slow_seconds = 0.05
    site.patients = 0
    for _ in range(3):
        report = run(home, endpoint_url=fault_proxy.url)
        if report.left == 0:
            break
    site.edit(site.rids[1])
    site.edit(site.rids[4])
    site.write()
    for _ in range(5):
        report = run(home, endpoint_url=fault_proxy.url)
        if report.left == 0:
            break
    assert report.left == 0
    assert sum(fault_proxy.faults.values()) >= 10 and len(fault_proxy.faults) >= 4
    assert_converged(moto_server, bucket, site)


def test_missing_bucket_keeps_the_queue_and_says_so(tmp_path, aws_env, moto_server):
    home = make_home(tmp_path / "home", "s3://no-such-bucket/site")
    FakeSite(home, patients=2).write()
    result = CliRunner().invoke(cli.main, ["publish", "--no-export", "--home", str(home.root),
                                           "--endpoint-url", moto_server.url])
    assert result.exit_code == 1
    assert "error: the bucket does not exist" in result.output
    assert "hint: create the bucket" in result.output
    out = CliRunner().invoke(cli.main, ["queue", "--home", str(home.root)]).output
    assert "4 waiting" in out and "bucket does not exist" in out


def test_cli_publish_queue_log(clinic, moto_server):
    home, site, bucket = clinic
    runner = CliRunner()
    args = ["--home", str(home.root)]
    result = runner.invoke(cli.main, ["publish", "--no-export", "--dry-run", *args])
    assert result.exit_code == 0 and f"would send {len(site.objects())} objects" in result.output
    result = runner.invoke(cli.main, ["publish", "--no-export", *args])
    assert result.exit_code == 0, result.output
    assert f"published {len(site.objects())} objects" in result.output and "objects/s" in result.output
    result = runner.invoke(cli.main, ["publish", "--no-export", *args])
    assert "nothing to publish" in result.output
    assert "the upload list is empty" in runner.invoke(cli.main, ["queue", *args]).output
    rows = [json.loads(x) for x in runner.invoke(cli.main, ["log", "--json", *args]).output.splitlines()]
    assert {r["group"] for r in rows} == set(site.rids) | {"clinic", "app"}
    assert all(r["status"] == "ok" for r in rows)
    assert runner.invoke(cli.main, ["log", "--failed", *args]).output.strip() == "no uploads match"
    one = runner.invoke(cli.main, ["log", "--patient", site.rids[0], "--json", *args]).output
    assert [json.loads(x)["group"] for x in one.splitlines()] == [site.rids[0]]


def test_cli_reports_failed_patients_in_log(clinic, moto_server):
    home, site, bucket = clinic
    bad = site.rids[3]
    name = next(n for n, (_d, o) in site.objects().items() if o.group == bad and "/door/" in n)
    (home.site_dir / name).unlink()
    runner = CliRunner()
    result = runner.invoke(cli.main, ["publish", "--no-export", "--home", str(home.root)],
                           env={"CHARTSEAL_PUBLISH_BACKOFF_BASE": "0.01", "CHARTSEAL_PUBLISH_BACKOFF_CAP": "0.02"})
    assert result.exit_code == 1 and "1 upload jobs are still queued" in result.output
    assert "chartseal log --failed" in result.output
    rows = [json.loads(x) for x in runner.invoke(
        cli.main, ["log", "--failed", "--json", "--home", str(home.root)]).output.splitlines()]
    assert [r["group"] for r in rows] == [bad] and "not in the site folder" in rows[0]["error"]


def test_unreachable_target_keeps_the_queue_and_says_so(tmp_path, aws_env):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = make_home(tmp_path / "home", "s3://bucket/site")
    FakeSite(home, patients=2).write()
    result = CliRunner().invoke(cli.main, ["publish", "--no-export", "--home", str(home.root),
                                           "--endpoint-url", f"http://127.0.0.1:{port}"],
                                env={"CHARTSEAL_PUBLISH_S3_ATTEMPTS": "1"})
    assert result.exit_code == 1 and "error: cannot reach the target" in result.output
    assert "hint: check the network" in result.output
    conn = connect(home)
    assert len(jobs.list_jobs(conn)) == 4
    conn.close()


def test_log_shows_card_numbers_from_the_keystore(clinic):
    from exporter import access, keystore

    home, site, _bucket = clinic
    run(home)
    keys = keystore.create(home.keys_path)
    access.init_keys(keys)
    with keys:
        keys.execute("INSERT INTO patients (db, card, rid, ck, password, note_pk, note_sk, "
                     "entry_note_pk, entry_note_sk) VALUES ('main', 'AB12', ?, x'00', 'pw', x'00', "
                     "x'00', x'00', x'00')", (site.rids[1],))
    keys.close()
    out = CliRunner().invoke(cli.main, ["log", "--patient", " ab 12 ", "--json", "--home", str(home.root)])
    rows = [json.loads(x) for x in out.output.splitlines()]
    assert [(r["patient"], r["group"], r["status"]) for r in rows] == [("AB12", site.rids[1], "ok")]
