"""Bad input and broken homes: errors next to the field, no change, never a crash page."""
from __future__ import annotations

import socket
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import keys

import cli
from console.app import create_app
from exporter import access
from exporter.site import export_site

PORT = 5555
BASE = f"http://127.0.0.1:{PORT}"
PAGES = ("/", "/passwords", "/patients", "/patients?q=amal", "/accounts", "/sharing",
         "/sharing?q=a", "/databases", "/notes", "/notes?show=all", "/notes/unread.json",
         "/status.json", "/publishing")


@pytest.fixture
def client(home):
    app = create_app(home, "t" * 32, port=PORT)
    c = app.test_client()
    assert c.get("/?token=" + "t" * 32, base_url=BASE).status_code == 303
    c.csrf = app.config["CONSOLE_CSRF"]
    return c


def post(client, path, **form):
    return client.post(path, data={"csrf": client.csrf, **form}, base_url=BASE)


def shares(home):
    conn = keys(home)
    try:
        return access.list_shares(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("damage", ["missing", "garbage", "not_clinic"])
def test_every_page_answers_when_a_clinic_database_is_broken(client, home, damage):
    path = home.databases["main"].path
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"this is not sqlite" * 100)
    else:
        path.unlink()
        sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.close()
    for page in PAGES:
        resp = client.get(page, base_url=BASE)
        assert resp.status_code == 200, (page, resp.status_code)
    html = client.get("/patients", base_url=BASE).get_data(as_text=True)
    assert 'class="error"' in html


def test_sharing_bad_input_changes_nothing(client, home):
    conn = keys(home)
    access.create_account(conn, "dr.omar", None)
    conn.close()
    cases = [
        (dict(db="nodb", account="dr.omar", what="all"), "db-error", "no database named"),
        (dict(db="main", account="ghost", what="all"), "account-error", "no account named"),
        (dict(db="main", account="dr.omar", what="all", until="someday"), "until-error", "expects a date"),
        (dict(db="main", account="dr.omar", what="all", until="2001-01-01"), "until-error", "already passed"),
        (dict(db="main", account="dr.omar", what="patients"), "card-error", "Tick at least one"),
        (dict(db="main", account="admin", what="all"), "account-error", "admin already sees"),
    ]
    for form, field, text in cases:
        resp = post(client, "/sharing/share", **form)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400, form
        assert f'id="{field}"' in html and text in html, (form, html[-3000:])
        assert shares(home) == []
    resp = post(client, "/sharing/stop", db="main", account="dr.omar", card="")
    assert resp.status_code == 400 and "no such share" in resp.get_data(as_text=True)


def test_patient_and_notes_bad_input(client, home):
    export_site(home)
    conn = keys(home)
    before = conn.execute("SELECT password FROM patients WHERE card = '1001'").fetchone()[0]
    conn.close()
    resp = post(client, "/patients/password", db="main", card="1001", how="own", password="0791234567")
    assert resp.status_code == 400 and "weak" in resp.get_data(as_text=True)
    resp = post(client, "/patients/page", db="main", card="9999")
    assert resp.status_code == 400 and "no exported patient" in resp.get_data(as_text=True)
    conn = keys(home)
    assert conn.execute("SELECT password FROM patients WHERE card = '1001'").fetchone()[0] == before
    conn.close()
    resp = post(client, "/notes/ack", id="main:999")
    assert resp.status_code == 400 and "no note main:999" in resp.get_data(as_text=True)
    resp = post(client, "/notes/ack", id="nonsense")
    assert resp.status_code == 400


def test_service_stop_when_not_running_says_so(client, home):
    resp = post(client, "/service/stop")
    assert resp.status_code == 400 and "not running" in resp.get_data(as_text=True)


def test_unknown_password_kind_is_404(client):
    assert post(client, "/passwords/root", how="generate").status_code == 404


def test_console_command_reports_a_busy_port(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli.main, ["console", "--home", str(home.root), "--port", str(port),
                                               "--no-browser"])
    assert result.exit_code == 1
    assert "error: port" in result.output and "already in use" in result.output


def test_console_command_without_a_home_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(cli.main, ["console", "--home", str(tmp_path / "none"), "--no-browser"])
    assert result.exit_code == 1 and "chartseal init" in result.output


def test_service_start_and_stop_commands(home, monkeypatch):
    monkeypatch.setenv("CHARTSEAL_SERVICE_BEAT_SECONDS", "0.5")
    run = lambda *a: CliRunner().invoke(cli.main, [*a, "--home", str(home.root)])  # noqa: E731
    try:
        result = run("service", "start")
        assert result.exit_code == 0 and "service started" in result.output, result.output
        again = run("service", "start")
        assert again.exit_code == 1 and "already running" in again.output
    finally:
        stopped = run("service", "stop")
    assert stopped.exit_code == 0 and "service stopped" in stopped.output, stopped.output
    result = run("service", "stop")
    assert result.exit_code == 1 and "not running" in result.output and "hint:" in result.output


def test_the_patient_table_is_paged_and_searchable(client, home, tmp_path):
    from conftest import make_clinic_db
    from exporter.home import Database, load_home

    rows = [dict(id=i, card=str(5000 + i), first_name=f"Name{i:03d}", surname="Family",
                 modified_at="2026-11-01T10:00:00") for i in range(1, 121)]
    big = make_clinic_db(tmp_path / "big.sqlite", rows)
    h = load_home(home.root)
    h.databases = {"big": Database("big", big)}
    h.save()
    first = client.get("/patients", base_url=BASE).get_data(as_text=True)
    assert "Patients: 120" in first and first.count('<tr data-card="') == 50
    assert "Page 1 of 3" in first and 'rel="next"' in first and 'rel="prev"' not in first
    last = client.get("/patients?p=3", base_url=BASE).get_data(as_text=True)
    assert last.count('<tr data-card="') == 20 and 'data-card="5120"' in last
    assert 'rel="next"' not in last
    beyond = client.get("/patients?p=99", base_url=BASE).get_data(as_text=True)
    assert "Page 3 of 3" in beyond  # a page number past the end shows the last page
    found = client.get("/patients?q=name011", base_url=BASE).get_data(as_text=True)
    assert "Patients: 1" in found and 'data-card="5011"' in found and "Page 1 of" not in found


def test_fetch_new_notes_now_brings_the_inbox_in(client, home):
    import json

    from notes_endpoint.inbox import FolderInbox
    from notes_endpoint.wire import note_json, parse_note
    from notes_kit import export_clinic

    clinic = export_clinic(home)
    note = clinic.note(clinic.patient["1001"], "1001", "<b>please</b> call me")
    parsed = parse_note(json.dumps(note).encode())
    assert FolderInbox(home.root / "inbox").put_new(clinic.id, parsed.note_id,
                                                   note_json(parsed, note["ts"]))
    resp = post(client, "/notes/fetch")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "New notes fetched: 1." in html
    assert "&lt;b&gt;please&lt;/b&gt; call me" in html and "<b>please</b>" not in html


def test_show_current_passwords_by_post_only(client, home):
    from conftest import secret

    assert client.get("/passwords/show", base_url=BASE).status_code == 405
    html = post(client, "/passwords/show").get_data(as_text=True)
    for which in ("login", "admin", "general"):
        assert secret(home, f"{which}_password") in html
