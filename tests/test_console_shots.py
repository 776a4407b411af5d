"""Every console page in English and Arabic renders without errors; with CHARTSEAL_CONSOLE_SHOTS
set (``make console-shots``) each is saved as a screenshot at 1280 and 390 px for docs/CONSOLE.md."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from browser import browser  # noqa: F401
from conftest import keys
from console_kit import console, console_page, navigates, open_console, shot  # noqa: F401

from exporter import access
from exporter.notes_store import NoteRow, store
from exporter.site import export_site

pytestmark = pytest.mark.browser
# Every visible form control has a label (a <label for>, a wrapping label, or aria-label).
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.outerHTML)"""
PAGES = ("status", "passwords", "patients", "accounts", "sharing", "databases", "notes")


def _furnish(home):
    export_site(home)
    conn = keys(home)
    access.create_account(conn, "dr.omar", None)
    access.create_account(conn, "dr.amal", None)
    access.share(conn, "main", "dr.amal", [])
    access.share(conn, "main", "dr.omar", ["1001", "1003"], (date.today() + timedelta(days=30)).isoformat())
    conn.close()
    store(home.databases["main"].path, [
        NoteRow("a1", "1001", "patient", "Can I move my appointment to Thursday?", "2026-11-24T09:12:00Z"),
        NoteRow("a2", "1003", "dr.omar", "X-ray looks fine; continue the antibiotics.", "2026-11-25T16:40:00Z"),
    ], "2026-11-26T08:00:00Z")


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_every_page_renders_in_both_languages(console_page, console, home, lang):
    page, watch = console_page
    _furnish(home)
    open_console(page, console, "/")
    if lang == "ar":
        navigates(page, page.get_by_role("button", name="العربية").click)
    base = page.url.rsplit("/", 1)[0]
    for name in PAGES:
        path = {"status": "/", "patients": "/patients?q=1001", "sharing": "/sharing?q=a"}.get(name, f"/{name}")
        page.goto(base + path)
        assert page.evaluate("() => document.documentElement.lang") == lang
        assert page.locator("nav.menu a[aria-current=page]").count() == 1
        assert page.evaluate(UNLABELLED) == [], name
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, name
        page.set_viewport_size({"width": 1024, "height": 800})
        shot(page, f"{name}-{lang}")
    page.goto(base + "/accounts")
    page.locator("#acc-name").fill("dr.sami")
    navigates(page, page.locator("form[action='/accounts/create'] button[type=submit]").click)
    shot(page, f"shown-once-{lang}")
    assert not watch.page_errors and not watch.console_errors
