"""One bad record never stops the others: per-patient and per-database isolation, the kept
last version, `log --failed`, `db add` checks, and "last update" from every row."""
from __future__ import annotations

import json
import sqlite3
from datetime import date

import pytest
from click.testing import CliRunner

from cli import main
from conftest import make_clinic_db, plan_map, secret
from exporter import clinic_db as reader
from exporter import render
from exporter.home import Database
from exporter.site import export_site
from siteread import NoDoor, Site

TODAY = date(2026, 11, 26)


def export(home):
    return export_site(home, today=TODAY)


def record(home, card):
    return Site(home.site_dir, home.clinic_id).patient(card, secret(home, "general_password"))


def admin_cards(home):
    site = Site(home.site_dir, home.clinic_id)
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    return {db["id"]: sorted(p["card"] for p in db["rows"]) for db in index["databases"]}


def log_rows(home, *args):
    out = CliRunner().invoke(main, ["log", "--json", *args, "--home", str(home.root)])
    assert out.exit_code == 0, out.output
    return [json.loads(line) for line in out.output.splitlines()]


def edit(db, sql, *params):
    conn = sqlite3.connect(db)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


@pytest.fixture
def broken_render(monkeypatch):
    """A rendering defect no check foresaw, hitting the patients whose surname is 'Boom'."""
    real = render.patient_fragment

    def fragment(p, *args, **kwargs):
        if p.surname == "Boom":
            raise KeyError("boom")
        return real(p, *args, **kwargs)

    monkeypatch.setattr(render, "patient_fragment", fragment)


def test_the_reported_mobile_number_no_longer_stops_the_export(home, clinic_db):
    edit(clinic_db, "UPDATE patients SET mobile = '+1 555 ²³ 1234' WHERE id = 1")
    result = export(home)
    assert "tel:+15551234" in record(home, "1001")["html"]
    assert result.patients == 3 and not [p for p in result.problems if p.outcome != "warning"]


def test_a_patient_that_cannot_be_rendered_is_skipped_and_the_rest_published(home, clinic_db, broken_render):
    edit(clinic_db, "UPDATE patients SET surname = 'Boom' WHERE id = 2")
    result = export(home)
    assert admin_cards(home) == {"main": ["1001", "1003"]}
    assert "Haddad" in record(home, "1001")["html"]
    with pytest.raises(NoDoor):
        record(home, "1002")  # never published, so nothing to keep
    (problem,) = [p for p in result.problems if p.outcome != "warning"]
    assert (problem.db, problem.patient, problem.outcome) == ("main", "main/1002", "skipped")
    assert "KeyError" in problem.message
    (row,) = log_rows(home, "--failed")
    assert (row["database"], row["patient"], row["status"]) == ("main", "1002", "not published")
    assert row["stage"] == "export" and "cannot be rendered" in row["error"]


def test_a_published_patient_that_fails_keeps_its_last_version(home, clinic_db, broken_render):
    export(home)
    edit(clinic_db, "UPDATE patients SET surname = 'Boom', modified_at = '2026-11-25T08:00:00' WHERE id = 2")
    edit(clinic_db, "UPDATE patients SET surname = 'Newname' WHERE id = 1")
    result = export(home)
    assert "Zed" in record(home, "1002")["html"]        # the version last published
    assert "Newname" in record(home, "1001")["html"]    # the others move on
    assert admin_cards(home) == {"main": ["1001", "1002", "1003"]}
    outcomes = sorted((p.patient, p.outcome) for p in result.problems if p.outcome != "warning")
    assert outcomes == [("main/1002", "kept"), ("main/1002", "skipped")]
    statuses = {r["status"] for r in log_rows(home, "--failed", "--patient", "1002")}
    assert statuses == {"kept old", "not published"}
    # Fixed in the clinic database: published at the next export, and the log is clear.
    edit(clinic_db, "UPDATE patients SET surname = 'Fixed' WHERE id = 2")
    result = export(home)
    assert "Fixed" in record(home, "1002")["html"]
    assert not [p for p in result.problems if p.outcome != "warning"]
    assert [r for r in log_rows(home, "--failed") if r.get("stage") == "export"] == []


def test_the_kept_version_is_the_last_published_one_not_a_failed_one(home, clinic_db, broken_render):
    export(home)
    edit(clinic_db, "UPDATE patients SET surname = 'Boom' WHERE id = 2")
    export(home)
    edit(clinic_db, "UPDATE patients SET first_name = 'Again' WHERE id = 2")  # still failing
    export(home)
    assert "Zed" in record(home, "1002")["html"]


def test_a_row_the_reader_cannot_build_keeps_its_last_version(home, clinic_db, monkeypatch):
    export(home)
    real = reader._patient

    def patient(sink, row, card, related, digest):
        if row[3] == "Broken":
            raise ValueError("unforeseen")
        return real(sink, row, card, related, digest)

    monkeypatch.setattr(reader, "_patient", patient)
    edit(clinic_db, "UPDATE patients SET surname = 'Broken' WHERE id = 3")
    result = export(home)
    assert "الخطيب" in record(home, "1003")["html"]
    assert {(p.patient, p.outcome) for p in result.problems} >= {("main/1003", "skipped"),
                                                                  ("main/1003", "kept")}


def test_an_emptied_card_keeps_the_last_version(home, clinic_db):
    export(home)
    edit(clinic_db, "UPDATE patients SET card = '  ' WHERE id = 1")
    result = export(home)
    assert "Haddad" in record(home, "1001")["html"]
    assert ("main/row 1", "skipped") in {(p.patient, p.outcome) for p in result.problems}


def test_a_database_that_is_not_sqlite_stops_nothing_else(home, tmp_path):
    export(home)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database\n" * 100)
    home.databases["other"] = Database("other", junk)
    home.save()
    edit(home.databases["main"].path, "UPDATE patients SET surname = 'Moved' WHERE id = 1")
    result = export(home)
    assert "Moved" in record(home, "1001")["html"]
    (problem,) = [p for p in result.problems if p.db == "other"]
    assert problem.field == "database" and problem.outcome == "skipped"
    assert "not a readable SQLite database" in problem.message
    (row,) = [r for r in log_rows(home, "--failed") if r["database"] == "other"]
    assert row["patient"] == "" and row["status"] == "not published"


def test_an_unreadable_database_keeps_its_published_patients(home, clinic_db):
    export(home)
    before = {n: o for n, o in plan_map(home).items()}
    clinic_db.write_bytes(b"garbage" * 1000)
    result = export(home)
    assert plan_map(home) == before
    assert "Haddad" in record(home, "1001")["html"]
    (problem,) = result.problems
    assert problem.outcome == "kept" and "3 patients stay as last published" in problem.message


def test_a_removed_database_forgets_its_kept_rows(home, tmp_path):
    second = make_clinic_db(tmp_path / "second.sqlite")
    home.databases["second"] = Database("second", second)
    home.save()
    export(home)
    del home.databases["second"]
    home.save()
    export(home)
    conn = sqlite3.connect(home.root / "last_good.sqlite")
    assert {r[0] for r in conn.execute("SELECT db FROM good")} == {"main"}
    conn.close()
    assert (home.root / "last_good.sqlite").stat().st_mode & 0o077 == 0


def test_db_add_checks_the_file_at_once(tmp_path):
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--home", str(home), "--kdf-ops", "1", "--kdf-mem", "8192"]).exit_code == 0
    junk = tmp_path / "junk.db"
    junk.write_text("name,card\nA,1\n")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    for path, text in ((junk, "not a readable SQLite database"), (other, "has no table 'patients'")):
        result = runner.invoke(main, ["db", "add", "main", str(path), "--home", str(home)])
        assert result.exit_code == 1, result.output
        assert "error: " in result.output and text in result.output and "hint: " in result.output
    assert "no databases yet" in runner.invoke(main, ["db", "list", "--home", str(home)]).output
    good = make_clinic_db(tmp_path / "main.sqlite")
    assert runner.invoke(main, ["db", "add", "main", str(good), "--home", str(home)]).exit_code == 0


def test_last_update_is_the_latest_change_of_any_row(home, clinic_db):
    export(home)
    assert "2026-11-01 10:00" in record(home, "1001")["html"]
    for table, stamp in (("visits", "2026-11-20T08:15:00"), ("deals", "2026-11-21 09:00:00"),
                         ("health", "2026-11-22T10:00:00")):
        edit(clinic_db, f"UPDATE {table} SET modified_at = ? WHERE patient_id = 1", stamp)
        export(home)
        opened = record(home, "1001")
        assert stamp.replace("T", " ")[:16] in opened["html"], table
        assert opened["updated"] == stamp
    edit(clinic_db, "INSERT INTO appointments (id, patient_id, date, modified_at) "
         "VALUES (9, 1, '2026-12-01', '2026-11-23T07:00:00')")
    export(home)
    assert record(home, "1001")["updated"] == "2026-11-23T07:00:00"
    # An older related change or a garbage stamp does not move it back.
    edit(clinic_db, "UPDATE visits SET modified_at = 'yesterday' WHERE patient_id = 1")
    edit(clinic_db, "UPDATE patients SET modified_at = '2020-01-01T00:00:00' WHERE id = 1")
    result = export(home)
    assert record(home, "1001")["updated"] == "2026-11-23T07:00:00"
    assert any(p.field == "visits.modified_at" and "not a timestamp" in p.message for p in result.problems)


def test_publish_says_what_it_could_not_publish(home, clinic_db, broken_render):
    from exporter.settings import parse_setting

    home.config["target"] = parse_setting("target", (home.root / "out").as_uri())
    home.save()
    edit(clinic_db, "UPDATE patients SET surname = 'Boom' WHERE id = 2")
    result = CliRunner().invoke(main, ["publish", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    assert "warning: some records could not be published from their current rows " \
           "(1 not published, 0 kept as last published)" in result.output
    assert "chartseal log --failed" in result.output


def test_the_problem_list_keeps_when_each_was_first_seen(tmp_path):
    from exporter import failures
    from exporter.records import Problem

    conn = sqlite3.connect(tmp_path / "state.sqlite")
    a = Problem("main/1001", "record", "cannot be rendered: KeyError", "skipped", "main")
    b = Problem("other", "database", "not a readable SQLite database", "skipped", "other")
    failures.record(conn, [a], now=100.0)
    failures.record(conn, [a, b], now=200.0)
    found = {(f.db, f.patient): f.since for f in failures.read(conn)}
    assert found == {("main", "1001"): 100.0, ("other", ""): 200.0}
    failures.record(conn, [], now=300.0)
    assert failures.read(conn) == []
    conn.close()
