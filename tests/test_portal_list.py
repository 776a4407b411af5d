"""The doctor list beyond one page, and the front page, in headless Chromium."""
from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from browser import browser, doctor_login, page_watch, serve_site, visible_names, wait_state  # noqa: F401
from conftest import WEAK
from exporter import access, keystore
from exporter.home import Database, create_home, load_home
from exporter.site import export_site

pytestmark = pytest.mark.browser

TODAY = date(2026, 11, 26)


@pytest.fixture
def page(page_watch):
    pg, watch = page_watch
    yield pg
    assert watch.requests and watch.foreign() == []
    assert watch.page_errors == [] and watch.dialogs == []


@pytest.fixture(scope="module")
def long_clinic(tmp_path_factory):
    """250 made-up patients: more than one page of the list (100 rows)."""
    from exporter.demo_data import write_demo_clinic

    root = tmp_path_factory.mktemp("long")
    db = root / "main.sqlite"
    write_demo_clinic(db, patients=250, seed=5)
    home = create_home(root / "home", WEAK)
    conn = keystore.create(home.keys_path)
    secrets = access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", db)
    home.save()
    home = load_home(home.root)
    export_site(home, today=TODAY)
    conn = keystore.connect(home.keys_path)
    login = keystore.get_text(conn, "login_password")
    conn.close()
    server = serve_site(home.site_dir)
    yield server, home.clinic_id, login, secrets["admin"], db
    server.stop()


def test_long_list_comes_a_page_at_a_time_and_search_covers_all(page, long_clinic):
    server, clinic_id, login, admin, db = long_clinic
    assert doctor_login(page, server.url, clinic_id, login, "admin", admin) == "ready"
    assert page.locator("#list li").count() == 100
    assert page.locator("#list-count").inner_text() == "250 / 250"
    # the button (dispatched without scrolling, so the observer stays out of it) ...
    page.get_by_role("button", name="Show more").dispatch_event("click")
    page.wait_for_function("() => document.querySelectorAll('#list li').length === 200")
    # ... and scrolling near the end each bring the next page
    page.locator("#list-more").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#list li').length === 250")
    assert page.locator("#list-more").is_hidden()
    # a patient far down the list is found by surname, and opens
    conn = sqlite3.connect(db)
    first, surname, card = conn.execute(
        "SELECT first_name, surname, card FROM patients ORDER BY id DESC LIMIT 1").fetchone()
    conn.close()
    page.get_by_role("searchbox").fill(card)
    page.wait_for_function("() => document.querySelectorAll('#list li').length >= 1")
    assert any(surname in n for n in visible_names(page))
    page.locator("#list .prow", has_text=surname).first.click()
    page.wait_for_selector("#view-patient #record h2")
    assert page.locator("#record .card-no").first.inner_text() == card


def test_front_page_carries_the_clinic_id(page, long_clinic):
    server, clinic_id, *_ = long_clinic
    page.goto(f"{server.url}/?c={clinic_id}")
    wait_state(page, "ready")
    assert page.get_attribute("#to-doctor", "href") == f"doctor/?c={clinic_id}"
    page.locator("#to-patient").click()
    wait_state(page, "login")
    assert page.get_by_label("Clinic ID").input_value() == clinic_id
    assert page.evaluate("document.activeElement.id") == "card"
