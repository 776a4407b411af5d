"""From Save in headless Chromium to `chartseal notes list`: the portal served with the notes
endpoint mounted at /v1/ (as `chartseal serve` does), the patient page and the doctor page."""
from __future__ import annotations

import json
import socket

import pytest
from browser import browser, page_watch, wait_state  # noqa: F401 - fixtures
from click.testing import CliRunner
from notes_kit import TODAY, new_home

from cli import main
from exporter import access, keystore
from exporter.site import export_site
from notes_endpoint.app import make_app

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Portal:
    def __init__(self, root) -> None:
        from publisher.preview import PreviewServer
        from publisher.preview import make_app as preview_app

        self.home = new_home(root)
        port = _free_port()
        # The site must name the endpoint before it is exported: pick the port first.
        self.home.config["notes_url"] = f"http://127.0.0.1:{port}/v1/notes"
        self.home.save()
        export_site(self.home, today=TODAY)
        conn = keystore.connect(self.home.keys_path)
        self.patient_pw = access.patient_password(conn, "1001")
        self.login = keystore.get_text(conn, "login_password")
        self.admin = keystore.get_text(conn, "admin_password")
        conn.close()
        notes = make_app(str(self.home.site_dir), self.home.notes_inbox)
        self.server = PreviewServer(preview_app(self.home.site_dir, {"/v1/": notes}), port=port).start()
        self.url = self.server.url
        self.id = self.home.clinic_id

    def notes(self, *args: str) -> list[dict]:
        env = {"CHARTSEAL_HOME": str(self.home.root)}
        fetched = CliRunner().invoke(main, ["notes", "fetch"], env=env)
        assert fetched.exit_code == 0, fetched.output
        listed = CliRunner().invoke(main, ["notes", "list", "--json", *args], env=env)
        assert listed.exit_code == 0, listed.output
        return json.loads(listed.output)


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    p = Portal(tmp_path_factory.mktemp("portal"))
    yield p
    p.server.stop()


@pytest.fixture
def page(page_watch):
    pg, watch = page_watch
    yield pg
    assert watch.page_errors == [] and watch.dialogs == []


def save_note(page, text: str) -> str:
    box = page.locator("#note-box")
    box.get_by_label("Write a note to the clinic").fill(text)
    box.get_by_role("button", name="Save").click()
    page.wait_for_selector('#note-box[data-note-state="saved"], #note-box[data-note-state="error"]')
    return box.get_attribute("data-note-state")


def test_patient_writes_a_note_and_the_clinic_lists_it(page, portal):
    page.goto(f"{portal.url}/patient/?c={portal.id}")
    wait_state(page, "login")
    page.get_by_label("Card number").fill("1001")
    page.get_by_label("Password").fill(portal.patient_pw)
    page.get_by_role("button", name="Go to my page").click()
    assert wait_state(page, "ready", "error") == "ready"
    text = "My tooth still hurts — أسناني <b>not bold</b>"
    assert save_note(page, text) == "saved"
    assert "Saved" in page.locator("#note-box .note-status").inner_text()
    assert page.locator("#note-box textarea").input_value() == ""
    notes = portal.notes("--patient", "1001")
    assert [(n["card"], n["author"], n["text"]) for n in notes if n["text"] == text] == [("1001", "patient", text)]


def test_doctor_writes_a_note_signed_as_the_account(page, portal):
    page.goto(f"{portal.url}/doctor/")
    wait_state(page, "login")
    page.get_by_label("Clinic ID").fill(portal.id)
    page.get_by_label("Login password").fill(portal.login)
    page.get_by_label("User name").fill("admin")
    page.get_by_label("User password").fill(portal.admin)
    page.get_by_role("button", name="Go to my page").click()
    assert wait_state(page, "ready", "error") == "ready"
    page.locator("#list .prow", has_text="Zed").click()
    page.wait_for_selector("#view-patient #record h2")
    sent = page.locator("#note-box .note-sent")
    assert sent.is_hidden()  # nothing sent yet from this page
    assert save_note(page, "Please call the parents") == "saved"
    notes = portal.notes("--patient", "1002")
    assert [(n["author"], n["text"]) for n in notes] == [("admin", "Please call the parents")]
    # The note stays listed for this record while the page lives, not under another record.
    assert "Please call the parents" in sent.inner_text()
    page.go_back()
    page.locator("#list .prow", has_text="Amal").click()
    page.wait_for_selector("#view-patient #record h2")
    page.wait_for_selector("#note-box form")
    assert page.locator("#note-box .note-sent").is_hidden()
    page.go_back()
    page.locator("#list .prow", has_text="Zed").click()
    page.wait_for_function("() => (document.querySelector('#note-box .note-sent li') || {}).textContent"
                           "?.includes('Please call the parents')")


def test_an_empty_note_is_not_sent(page, portal):
    page.goto(f"{portal.url}/patient/?c={portal.id}")
    wait_state(page, "login")
    page.get_by_label("Card number").fill("1001")
    page.get_by_label("Password").fill(portal.patient_pw)
    page.get_by_role("button", name="Go to my page").click()
    assert wait_state(page, "ready", "error") == "ready"
    assert save_note(page, "   ") == "error"
    assert "Write something first" in page.locator("#note-box .note-status").inner_text()
