"""Status, Passwords, Patient pages and Notes through the page, checked via the library."""
from __future__ import annotations

import pytest
from browser import browser  # noqa: F401
from conftest import keys, secret
from console_kit import console, console_page, navigates, open_console  # noqa: F401

from exporter.notes_store import NoteRow, list_notes, store
from exporter.site import export_site
from publisher.service_status import lock_holder

pytestmark = pytest.mark.browser


def add_note(home, card, text, author="patient", when="2026-11-20T10:00:00Z", note_id=None):
    store(home.databases["main"].path,
          [NoteRow(note_id or f"n-{card}-{when}-{len(text)}", card, author, text, when)],
          "2026-11-30T00:00:00Z")


def test_status_start_and_stop_the_service(console_page, console, home, monkeypatch):
    page, watch = console_page
    monkeypatch.setenv("CHARTSEAL_SERVICE_BEAT_SECONDS", "0.5")
    open_console(page, console, "/")
    assert page.locator("#clinic-id").inner_text() == home.clinic_id
    assert page.locator("#service-state").get_attribute("data-state") in ("missing", "stopped")
    try:
        navigates(page, page.get_by_role("button", name="Start", exact=True).click)
        assert lock_holder(home.root) is not None
        assert page.locator("#service-state").get_attribute("data-state") == "running"
        navigates(page, page.get_by_role("button", name="Stop", exact=True).click)
        assert lock_holder(home.root) is None
        assert page.locator("#service-state").get_attribute("data-state") != "running"
    finally:
        if lock_holder(home.root):
            from publisher.service_control import stop
            stop(home)
    assert not watch.page_errors


def test_status_install_and_uninstall_write_and_remove_the_unit(console_page, console, home,
                                                               monkeypatch, tmp_path):
    page, watch = console_page
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))  # no systemctl: the steps are shown instead
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    unit = tmp_path / "config" / "systemd" / "user" / f"chartseal-{home.clinic_id}.service"
    open_console(page, console, "/")
    navigates(page, page.get_by_role("button", name="Install").click)
    assert unit.is_file() and "service run" in unit.read_text()
    assert "systemctl" in page.locator("#steps").inner_text()
    navigates(page, page.get_by_role("button", name="Uninstall").click)
    assert "Uninstall the service?" in watch.dialogs[-1]
    assert not unit.exists()


def test_status_counts_and_a_banner_when_notes_arrive(console_page, console, home):
    page, _ = console_page
    add_note(home, "1001", "first")
    open_console(page, console, "/")
    assert page.locator("#unread").inner_text() == "1"
    assert page.locator("#unread-badge").inner_text() == "1"
    assert page.locator("#notes-banner").is_hidden()
    add_note(home, "1003", "second", when="2026-11-21T10:00:00Z")
    add_note(home, "1003", "third", when="2026-11-22T10:00:00Z")
    page.locator("#notes-banner").wait_for(state="visible")
    assert page.locator("#notes-banner").inner_text() == "2 new notes"
    assert page.locator("#unread-badge").inner_text() == "3"


def test_passwords_generate_shown_once_with_copy_and_print(console_page, console, home):
    page, watch = console_page
    old = secret(home, "general_password")
    open_console(page, console, "/passwords")
    box = page.locator("#pw-general")
    box.locator("summary").click()
    navigates(page, box.get_by_role("button", name="Change the General password").click)
    shown = page.locator("#secret").inner_text()
    assert shown == secret(home, "general_password") != old
    page.emulate_media(media="print")
    assert page.locator("nav.menu").is_hidden() and page.locator("#secret").is_visible()
    assert page.get_by_role("button", name="Copy").is_hidden()
    page.emulate_media(media="screen")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == shown


def test_passwords_weak_own_password_needs_use_it_anyway(console_page, console, home):
    page, _ = console_page
    old = secret(home, "login_password")
    open_console(page, console, "/passwords")
    box = page.locator("#pw-login")
    box.locator("summary").click()
    box.get_by_label("Use my own password").check()
    box.get_by_label("Your password").fill("clinic2026")
    navigates(page, box.get_by_role("button", name="Change the Login password").click)
    error = page.locator("#login-error")
    assert "weak" in error.inner_text() and "use it anyway" in error.inner_text()
    assert secret(home, "login_password") == old
    box = page.locator("#pw-login")
    box.get_by_label("Use my own password").check()
    box.get_by_label("Your password").fill("clinic2026")
    box.get_by_label("Use it anyway").check()
    navigates(page, box.get_by_role("button", name="Change the Login password").click)
    assert secret(home, "login_password") == "clinic2026"
    # a chosen strong password passes without the check box
    open_console(page, console, "/passwords")
    box = page.locator("#pw-admin")
    box.locator("summary").click()
    box.get_by_label("Use my own password").check()
    box.get_by_label("Your password").fill("violet tractor harbour anxious spoon")
    navigates(page, box.get_by_role("button", name="Change the Admin password").click)
    assert secret(home, "admin_password") == "violet tractor harbour anxious spoon"


def _patient(home, card):
    conn = keys(home)
    try:
        return conn.execute("SELECT page_enabled, password FROM patients WHERE card = ?", (card,)).fetchone()
    finally:
        conn.close()


def test_patient_pages_switches_and_new_password(console_page, console, home):
    page, watch = console_page
    export_site(home)
    open_console(page, console, "/patients")
    assert page.locator("#count").inner_text() == "Patients: 3"
    # the hostile name is text, not an element
    assert "<img src=x onerror=alert(1)>" in page.locator('tr[data-card="1002"]').inner_text()
    assert page.locator("#patients img").count() == 0 and not watch.dialogs
    navigates(page, page.locator("#page-main-1001").uncheck)
    assert _patient(home, "1001")["page_enabled"] == 0
    row = page.locator('tr[data-card="1003"]')
    row.locator("summary").click()
    navigates(page, row.get_by_role("button", name="Set new password").click)
    assert page.locator("#secret").inner_text() == _patient(home, "1003")["password"]
    open_console(page, console, "/patients")
    navigates(page, page.get_by_label("Publish a page for each patient").uncheck)
    from exporter.home import load_home
    assert load_home(home.root).config["patient_pages"] is False


def test_patient_search_shows_unread_notes_first(console_page, console, home):
    page, _ = console_page
    export_site(home)
    add_note(home, "1001", "call me <b>back</b>", when="2026-11-20T10:00:00Z")
    add_note(home, "1001", "second note", when="2026-11-21T10:00:00Z")
    add_note(home, "1003", "not about amal")
    open_console(page, console, "/patients")
    page.get_by_label("Find a patient").fill("haddad")
    navigates(page, page.get_by_role("button", name="Search").click)
    reminder = page.locator("#reminder")
    assert "unread notes about this patient (2)" in reminder.inner_text()
    texts = reminder.locator(".note-text").all_inner_texts()
    assert texts == ["second note", "call me <b>back</b>"]
    assert reminder.locator("b").count() == 0
    assert page.locator("#count").inner_text() == "Patients: 1"
    # the reminder sits before the patient table
    assert page.evaluate("() => !!(document.getElementById('reminder').compareDocumentPosition("
                         "document.getElementById('patients')) & Node.DOCUMENT_POSITION_FOLLOWING)")


def test_notes_newest_first_filters_and_mark_read(console_page, console, home):
    page, watch = console_page
    add_note(home, "1001", "older <script>alert(1)</script>", when="2026-11-20T10:00:00Z")
    add_note(home, "1003", "newer", author="dr.omar", when="2026-11-25T10:00:00Z")
    open_console(page, console, "/notes")
    items = page.locator("#notes li.note")
    assert items.count() == 2
    assert items.nth(0).locator(".note-text").inner_text() == "newer"
    assert "account dr.omar" in items.nth(0).inner_text()
    assert items.nth(1).locator(".note-text").inner_text() == "older <script>alert(1)</script>"
    assert "the patient (card 1001)" in items.nth(1).inner_text()
    navigates(page, items.nth(1).get_by_role("button", name="Mark read").click)
    assert [n.card for n in list_notes(home, unread=True)] == ["1003"]
    assert page.locator("#notes li.note").count() == 1  # the unread filter hides it now
    navigates(page, page.get_by_role("link", name="All", exact=True).click)
    assert page.locator("#notes li.note").count() == 2
    page.get_by_label("Notes about card").fill("1001")
    navigates(page, page.get_by_role("button", name="Search").click)
    assert page.locator("#notes li.note").count() == 1
    assert not watch.dialogs and not watch.page_errors


def test_arabic_is_right_to_left_and_translated(console_page, console, home):
    page, watch = console_page
    open_console(page, console, "/accounts")
    navigates(page, page.get_by_role("button", name="العربية").click)
    assert page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    assert page.locator("h1").inner_text() == "الحسابات"
    assert page.url.endswith("/accounts")
    # the side menu sits on the right in RTL
    menu = page.locator("nav.menu").bounding_box()
    main = page.locator("main").bounding_box()
    assert menu["x"] > main["x"]
    for path in ("/", "/passwords", "/patients", "/sharing", "/databases", "/notes"):
        page.goto(page.url.rsplit("/", 1)[0] + path)
        assert page.evaluate("() => document.documentElement.dir") == "rtl", path
    navigates(page, page.get_by_role("button", name="English").click)
    assert page.evaluate("() => document.documentElement.dir") == "ltr"


def test_status_follows_a_service_started_and_stopped_elsewhere(console_page, console, home, monkeypatch):
    from publisher import service_control

    page, watch = console_page
    monkeypatch.setenv("CHARTSEAL_SERVICE_BEAT_SECONDS", "0.5")
    open_console(page, console, "/")
    try:
        service_control.start(home)  # as `chartseal service start` in a terminal would
        page.wait_for_selector('#service-state[data-state="running"]')
        page.wait_for_function("() => /\\d+ s ago/.test(document.getElementById('beat-age').textContent)")
    finally:
        service_control.stop(home)
    page.wait_for_selector('#service-state:not([data-state="running"])')
    assert not watch.page_errors and not watch.console_errors


def test_status_does_not_reload_over_a_form_already_sent(console_page, console, home, monkeypatch):
    # A click on Start or Stop sends a form; a reload for a change seen by the page's poll
    # would cancel that request and lose the click.
    from publisher import service_control

    page, watch = console_page
    monkeypatch.setenv("CHARTSEAL_SERVICE_BEAT_SECONDS", "0.5")
    open_console(page, console, "/")
    page.evaluate("() => { window.sameDocument = true; document.dispatchEvent(new Event('submit')); }")
    try:
        service_control.start(home)  # a change the poll would reload for (tested above)
        page.wait_for_timeout(1500)  # five polls at the tests' 300 ms
        assert page.evaluate("() => window.sameDocument === true")
        assert page.locator("#service-state").get_attribute("data-state") != "running"
    finally:
        service_control.stop(home)
    assert not watch.page_errors
