"""`chartseal serve --port N` and the notes endpoint agree: a site whose notes_url is the
relative /v1/notes sends notes to whatever port serves it, from a real Chromium."""
from __future__ import annotations

import html
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from browser import browser, page_watch, wait_state  # noqa: F401 - fixtures
from click.testing import CliRunner
from notes_kit import TODAY, new_home

from cli import main
from exporter import access, keystore
from exporter.site import export_site

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert port != 8000
    return port


def _serve(home, port: int) -> tuple[subprocess.Popen, str]:
    """`chartseal serve --port` in its own process; returns it and its patient page URL."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "serve",
                             "--port", str(port), "--home", str(home.root)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = ""
    for line in proc.stdout:
        if "patient page:" in line:
            url = line.split()[-1]
        if line.startswith("press Ctrl+C"):
            break
    return proc, url


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    home = new_home(tmp_path_factory.mktemp("anyport"))
    home.config["notes_url"] = "/v1/notes"
    home.save()
    export_site(home, today=TODAY)
    conn = keystore.connect(home.keys_path)
    password = access.patient_password(conn, "1001")
    conn.close()
    return home, password


def test_the_exported_site_names_the_endpoint_relatively(site):
    home, _ = site
    site_json = json.loads((home.site_dir / f"c/{home.clinic_id}/site.json").read_text())
    assert site_json["notes_url"] == "/v1/notes"
    page = html.unescape((home.site_dir / "patient" / "index.html").read_text())
    assert "connect-src 'self';" in page  # no other origin needed, none allowed


@pytest.mark.browser
def test_a_note_from_chromium_reaches_serve_on_a_non_default_port(site, page_watch):
    home, password = site
    page, watch = page_watch
    port = _free_port()
    proc, url = _serve(home, port)
    try:
        assert url.startswith(f"http://127.0.0.1:{port}/patient/"), url
        page.goto(url)
        wait_state(page, "login")
        page.get_by_label("Card number").fill("1001")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Go to my page").click()
        assert wait_state(page, "ready", "error") == "ready"
        box = page.locator("#note-box")
        box.get_by_label("Write a note to the clinic").fill("Sent to port %d" % port)
        box.get_by_role("button", name="Save").click()
        page.wait_for_selector('#note-box[data-note-state="saved"], #note-box[data-note-state="error"]')
        assert box.get_attribute("data-note-state") == "saved", box.inner_text()
        assert f"http://127.0.0.1:{port}/v1/notes" in watch.requests
    finally:
        err = _stop(proc)
    assert "warning:" not in err
    env = {"CHARTSEAL_HOME": str(home.root)}
    assert CliRunner().invoke(main, ["notes", "fetch"], env=env).exit_code == 0
    listed = CliRunner().invoke(main, ["notes", "list", "--json"], env=env)
    notes = json.loads(listed.output)
    assert [(n["card"], n["text"]) for n in notes] == [("1001", f"Sent to port {port}")]
    assert watch.page_errors == [] and watch.dialogs == []


def test_serve_warns_when_the_site_names_another_local_port(tmp_path):
    home = new_home(tmp_path)
    home.config["notes_url"] = "http://127.0.0.1:8000/v1/notes"
    home.save()
    export_site(home, today=TODAY)
    proc, _ = _serve(home, _free_port())
    err = _stop(proc)
    assert "warning: the site sends notes to http://127.0.0.1:8000/v1/notes" in err
    assert "hint: chartseal config set notes_url /v1/notes" in err
