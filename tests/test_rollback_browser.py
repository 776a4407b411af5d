"""Rollback in real headless Chromium (FORMAT.md 5.4): an older door put back in the bucket
is refused, against a newer site.json's floor and against what the session already saw; a
site.json changed without the clinic's key is refused; "as of" shows on records and lists."""
from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from browser import browser, doctor_login, page_watch, patient_login, serve_site  # noqa: F401 - fixtures
from conftest import WEAK, make_clinic_db
from exporter import access, keystore
from exporter.home import Database, create_home, load_home
from exporter.site import export_site

pytestmark = pytest.mark.browser

TODAY = date(2026, 11, 26)
STALE = "This page is older than one you already saw; reload later or tell the clinic."
DAMAGED = "A file of this portal is damaged and cannot be shown. Please tell the clinic."


class Clinic:
    def __init__(self, root: Path) -> None:
        self.db = make_clinic_db(root / "main.sqlite")
        home = create_home(root / "home", WEAK)
        conn = keystore.create(home.keys_path)
        access.init_keys(conn)
        conn.close()
        home.databases["main"] = Database("main", self.db)
        home.save()
        self.home = load_home(home.root)
        self.export()
        conn = keystore.connect(self.home.keys_path)
        self.patient_pw = access.patient_password(conn, "1001")
        self.door = conn.execute("SELECT door_id FROM patients WHERE card = '1001'").fetchone()[0]
        self.login = keystore.get_text(conn, "login_password")
        self.admin = keystore.get_text(conn, "admin_password")
        conn.close()
        self.id = self.home.clinic_id
        self.base = self.home.site_dir / "c" / self.id
        self.server = serve_site(self.home.site_dir)

    def export(self) -> None:
        export_site(self.home, today=TODAY)

    def door_bytes(self) -> bytes:
        return (self.base / "door" / f"{self.door}.json").read_bytes()

    def put_back(self, old: bytes) -> None:
        """What a host or attacker with write access can do: an older, validly sealed door."""
        (self.base / "door" / f"{self.door}.json").write_bytes(old)

    def site(self) -> dict:
        return json.loads((self.base / "site.json").read_text())

    def edit_patient(self) -> None:
        conn = sqlite3.connect(self.db)
        conn.execute("UPDATE patients SET address = 'Moved to 3 New St' WHERE card = '1001'")
        conn.commit()
        conn.close()


@pytest.fixture
def clinic(tmp_path):
    c = Clinic(tmp_path)
    yield c
    c.server.stop()


def refused(page, message: str) -> None:
    assert page.locator("#login-error").inner_text() == message
    assert page.locator("#record").inner_html() == ""
    assert "Haddad" not in page.content()


def test_an_older_door_after_a_newer_site_json_is_refused(page_watch, clinic):
    """A revocation raises the floor; the door from before it, put back, opens nothing even in
    a session that never saw the newer one."""
    page, _ = page_watch
    old = clinic.door_bytes()
    seq_before = clinic.site()["seq"]
    conn = keystore.connect(clinic.home.keys_path)
    access.rotate(conn, {("main", "1003")})  # access taken away somewhere in the clinic
    conn.commit()
    conn.close()
    clinic.export()
    site = clinic.site()
    assert site["floor"] == site["seq"] == seq_before + 1
    assert clinic.door_bytes() != old  # every door was re-wrapped above the floor
    clinic.put_back(old)
    assert patient_login(page, clinic.server.url, clinic.id, "1001", clinic.patient_pw) == "error"
    refused(page, STALE)


def test_an_older_door_in_the_same_session_is_refused(page_watch, clinic):
    page, _ = page_watch
    old = clinic.door_bytes()
    clinic.edit_patient()
    clinic.export()  # the record changed: its door is rewritten, the floor stays
    site = clinic.site()
    assert site["floor"] < site["seq"]
    assert patient_login(page, clinic.server.url, clinic.id, "1001", clinic.patient_pw) == "ready"
    assert "3 New St" in page.locator("#record").inner_text()
    as_of = page.locator("#as-of")
    assert as_of.is_visible() and as_of.inner_text().startswith("As of 20")
    page.locator("#logout").click()
    clinic.put_back(old)
    assert patient_login(page, clinic.server.url, clinic.id, "1001", clinic.patient_pw) == "error"
    refused(page, STALE)


def test_site_json_changed_without_the_clinic_key_is_refused(page_watch, clinic):
    page, _ = page_watch
    path = clinic.base / "site.json"
    site = json.loads(path.read_text())
    site["idle_lock_minutes"] = 24 * 60  # a day on a shared computer, unasked
    path.write_text(json.dumps(site))
    assert patient_login(page, clinic.server.url, clinic.id, "1001", clinic.patient_pw) == "error"
    refused(page, DAMAGED)


def test_as_of_shows_on_the_doctor_list(page_watch, clinic):
    page, _ = page_watch
    assert doctor_login(page, clinic.server.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
    as_of = page.locator("#as-of")
    assert as_of.is_visible() and as_of.inner_text().startswith("As of 20")
    assert as_of.locator("time").get_attribute("datetime") == clinic.site()["at"]
    page.locator("#list li").first.click()
    page.wait_for_selector("#record h2")
    assert as_of.is_visible()


def test_a_version_1_site_says_it_is_damaged(page_watch, clinic):
    """A site sealed under format 1 (not yet published again) is refused before any KDF."""
    page, _ = page_watch
    path = clinic.base / "site.json"
    site = json.loads(path.read_text())
    site["format"] = "chartseal-site/1"
    path.write_text(json.dumps(site))
    assert patient_login(page, clinic.server.url, clinic.id, "1001", clinic.patient_pw) == "error"
    refused(page, DAMAGED)
