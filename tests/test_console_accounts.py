"""Accounts and Sharing sections: the manual's actions through the page, checked via the library/CLI."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from browser import browser  # noqa: F401
from click.testing import CliRunner
from conftest import keys
from console_kit import console, console_page, navigates, open_console  # noqa: F401

import cli
from exporter import access

pytestmark = pytest.mark.browser


def _accounts(home):
    conn = keys(home)
    try:
        return {r["name"]: r["password"] for r in conn.execute("SELECT name, password FROM accounts")}
    finally:
        conn.close()


def test_create_an_account_shows_its_password_once(console_page, console, home):
    page, watch = console_page
    open_console(page, console, "/accounts")
    page.get_by_label("User name").fill("dr.omar")
    navigates(page, page.get_by_role("button", name="Create account").click)
    secret = page.locator("#secret").inner_text()
    assert _accounts(home)["dr.omar"] == secret and len(secret) >= 19
    assert page.get_by_role("button", name="Copy").is_visible()
    assert page.get_by_role("button", name="Print").is_visible()
    # the password is not kept in the page once the user leaves it, not even for Back
    page.goto(page.url.split("/accounts")[0] + "/accounts")
    assert secret not in page.content()
    try:
        page.go_back()
    except Exception:  # Chromium refuses to show a no-store POST result again (ERR_CACHE_MISS)
        pass
    assert secret not in _settled_html(page)
    assert not watch.page_errors


def _settled_html(page) -> str:
    """The page's HTML once Back has finished navigating (it may still be under way)."""
    for _ in range(5):
        page.wait_for_load_state()
        try:
            return page.evaluate("() => document.documentElement.outerHTML")
        except Exception:  # the context went away mid-navigation: wait and read again
            page.wait_for_timeout(200)
    raise AssertionError("the page never settled after Back")


def test_weak_chosen_password_is_refused_then_kept_with_use_it_anyway(console_page, console, home):
    page, _ = console_page
    open_console(page, console, "/accounts")
    page.get_by_label("User name").fill("nurse")
    page.locator("#new-how-own").check()
    page.locator("#new-password").fill("0791234567")
    navigates(page, page.get_by_role("button", name="Create account").click)
    assert "weak" in page.locator("#password-error").inner_text()
    assert "nurse" not in _accounts(home)
    page.locator("#new-how-own").check()
    page.locator("#new-password").fill("0791234567")
    page.get_by_label("Use it anyway").check()
    navigates(page, page.get_by_role("button", name="Create account").click)
    assert _accounts(home)["nurse"] == "0791234567"


@pytest.mark.parametrize("name,text", [("admin", "already exists"), ("bad name!", "not allowed"),
                                       ("", "Type a user name")])
def test_bad_account_names_are_shown_next_to_the_field(console_page, console, home, name, text):
    page, _ = console_page
    before = _accounts(home)
    open_console(page, console, "/accounts")
    page.get_by_label("User name").fill(name)
    page.evaluate("() => document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))")
    navigates(page, page.get_by_role("button", name="Create account").click)
    assert text in page.locator("#name-error").inner_text()
    assert page.locator("#acc-name").get_attribute("aria-invalid") == "true"
    assert _accounts(home) == before


def test_change_password_and_delete_with_the_consequence_stated(console_page, console, home):
    page, watch = console_page
    conn = keys(home)
    access.create_account(conn, "temp", None)
    conn.close()
    open_console(page, console, "/accounts")
    row = page.locator('tr[data-account="temp"]')
    row.locator("summary").click()
    navigates(page, row.get_by_role("button", name="Set new password").click)
    assert _accounts(home)["temp"] == page.locator("#secret").inner_text()
    open_console(page, console, "/accounts")
    row = page.locator('tr[data-account="temp"]')
    assert "gets new keys" in row.inner_text()
    navigates(page, row.get_by_role("button", name="Delete account").click)
    assert "gets new keys" in watch.dialogs[-1]
    assert "temp" not in _accounts(home)
    # the built-in admin cannot be deleted: there is no button for it
    assert page.locator('tr[data-account="admin"] button.danger').count() == 0


def _shares(home):
    result = CliRunner().invoke(cli.main, ["shares", "--home", str(home.root)])
    assert result.exit_code == 0, result.output
    return result.output


def test_share_chosen_patients_until_a_date_then_stop(console_page, console, home):
    page, _ = console_page
    conn = keys(home)
    access.create_account(conn, "dr.omar", None)
    conn.close()
    until = (date.today() + timedelta(days=30)).isoformat()
    open_console(page, console, "/sharing")
    page.get_by_label("Find patients").fill("amal")
    navigates(page, page.get_by_role("button", name="Search").click)
    page.locator("#found input[value='1001']").check()
    page.get_by_label("Until").fill(until)
    navigates(page, page.get_by_role("button", name="Share", exact=True).click)
    assert f"main\tdr.omar\t1001\tuntil {until}" in _shares(home)
    assert until in page.locator("#shares").inner_text()
    navigates(page, page.locator("#shares").get_by_role("button", name="Stop sharing").click)
    assert "dr.omar" not in _shares(home)


def test_a_past_end_date_is_refused_next_to_the_field(console_page, console, home):
    page, _ = console_page
    conn = keys(home)
    access.create_account(conn, "dr.omar", None)
    conn.close()
    open_console(page, console, "/sharing")
    page.evaluate("() => document.getElementById('share-until').removeAttribute('min')")
    page.get_by_label("Until").fill((date.today() - timedelta(days=1)).isoformat())
    navigates(page, page.get_by_role("button", name="Share", exact=True).click)
    assert "already passed" in page.locator("#until-error").inner_text()
    assert "dr.omar" not in _shares(home)


def test_patient_names_with_html_show_as_text(console_page, console, home):
    page, watch = console_page
    conn = keys(home)
    access.create_account(conn, "dr.omar", None)
    conn.close()
    open_console(page, console, "/sharing?q=zed")
    assert page.locator("#found").inner_text().count("<img src=x onerror=alert(1)>") == 1
    assert page.locator("#found img").count() == 0
    assert not watch.dialogs
