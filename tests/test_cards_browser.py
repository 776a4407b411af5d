"""A printed card's QR code, decoded from the PDF, opened in real headless Chromium."""
from __future__ import annotations

import pytest

from browser import browser, page_watch, serve_site, wait_state  # noqa: F401 - fixtures
from cards_kit import page_images, qr_texts
from conftest import keys
from exporter import access, cards
from exporter.home import load_home
from exporter.site import export_site

pytestmark = pytest.mark.browser
NAME = "Al Noor Dental"


@pytest.fixture
def served(home):
    home.config["clinic_name"] = NAME
    home.save()
    export_site(home)
    server = serve_site(home.site_dir)
    home.config["site_url"] = server.url
    home.save()
    yield load_home(home.root), server.url
    server.stop()


def scanned(home, card: str, **kw) -> str:
    """What a phone camera reads from the card of ``card``."""
    [link] = qr_texts(page_images(cards.render_pdf(home, [card], single=True, **kw))[0])
    return link


def test_scanned_card_lands_unlocked_and_forgets_the_password(served, page_watch):
    home, url = served
    page, watch = page_watch
    link = scanned(home, "1001")
    password = link.split("#p=")[1]
    assert link == f"{url}/patient/?c={home.clinic_id}&k=1001#p={password}"
    page.goto(link)
    assert wait_state(page, "ready", "error") == "ready"
    assert page.locator("#record h2").inner_text() == "Amal Haddad"
    clean = f"{url}/patient/?c={home.clinic_id}"
    assert page.evaluate("location.href") == clean
    # the tab's first entry (about:blank) and this one, never a second entry for the card
    assert page.evaluate("history.length") == 2
    assert page.locator("#password").input_value() == ""
    # The fragment never reached the server, and no later request carried the password.
    assert not [r for r in watch.requests if password in r]
    assert [r for r in watch.requests if "k=1001" in r] == [link.split("#")[0]]
    # Leaving and coming back finds the clean address in history, not the card's.
    page.goto(f"{url}/")
    page.go_back()
    wait_state(page, "login")
    assert page.url == clean and password not in page.url
    page.wait_for_function("() => !document.getElementById('clinic-name').hidden")
    assert page.locator("#clinic-name").inner_text() == NAME
    page.go_back()
    assert page.url == "about:blank"
    assert watch.page_errors == [] and watch.dialogs == []


def test_card_printed_with_a_new_password_voids_the_old_one_after_publish(served, page_watch):
    home, url = served
    page, _ = page_watch
    old = scanned(home, "1003")
    new = scanned(home, "1003", new_password=True)
    assert old != new
    conn = keys(home)
    assert access.patient_password(conn, "1003") == new.split("#p=")[1]
    conn.close()
    export_site(home)  # the publish: the old door leaves the site
    page.goto(old)
    assert wait_state(page, "ready", "error") == "error"
    assert "#p=" not in page.evaluate("location.href")
    page.goto(new)
    assert wait_state(page, "ready", "error") == "ready"
    assert page.locator("#record h2").inner_text() == "سامي الخطيب"


def test_doctor_login_page_shows_the_clinic_name_as_text(served, page_watch):
    home, url = served
    page, _ = page_watch
    page.goto(f"{url}/doctor/")
    wait_state(page, "login")
    assert page.locator("#clinic-name").is_hidden()
    page.get_by_label("Clinic ID").fill(home.clinic_id)
    page.get_by_label("Clinic ID").dispatch_event("change")
    page.wait_for_function("() => !document.getElementById('clinic-name').hidden")
    assert page.locator("#clinic-name").inner_text() == NAME
