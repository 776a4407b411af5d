"""Databases section: add, remove, automatic update, and bad paths shown next to the field."""
from __future__ import annotations

import threading

import pytest
from browser import browser  # noqa: F401
from conftest import make_clinic_db
from console_kit import console, console_page, navigates, open_console  # noqa: F401

from exporter import databases
from exporter.clinic_db import ClinicDbError
from exporter.errors import HomeError
from exporter.home import load_home


def test_add_refuses_a_file_that_is_not_a_clinic_database(home, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not sqlite at all")
    empty = tmp_path / "empty.sqlite"
    import sqlite3
    sqlite3.connect(empty).execute("CREATE TABLE x (a)").connection.close()
    for path, kind in ((text, ClinicDbError), (empty, ClinicDbError), (tmp_path / "none", HomeError)):
        with pytest.raises(kind):
            databases.add_database(home.root, "other", path)
    assert set(load_home(home.root).databases) == {"main"}


def test_two_writers_do_not_lose_each_others_database(home, tmp_path):
    paths = [make_clinic_db(tmp_path / f"db{i}.sqlite", []) for i in range(8)]
    threads = [threading.Thread(target=databases.add_database, args=(home.root, f"db{i}", p))
               for i, p in enumerate(paths)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert set(load_home(home.root).databases) == {"main"} | {f"db{i}" for i in range(8)}


@pytest.mark.browser
def test_add_toggle_and_remove_a_database_in_the_page(console_page, console, home, tmp_path):
    page, watch = console_page
    second = make_clinic_db(tmp_path / "second.sqlite", [])
    open_console(page, console, "/databases")
    page.get_by_label("Name", exact=True).fill("branch")
    page.get_by_label("Path", exact=True).fill(str(second))
    navigates(page, page.get_by_role("button", name="Add database").click)
    assert load_home(home.root).databases["branch"].path == second
    # automatic update: un-ticking the box saves at once
    navigates(page, page.locator("#auto-branch").uncheck)
    assert load_home(home.root).databases["branch"].auto_update is False
    navigates(page, page.locator('tr[data-db="branch"] button.danger').click)
    assert "Remove database branch" in watch.dialogs[0]
    assert set(load_home(home.root).databases) == {"main"}
    assert not watch.page_errors and not watch.console_errors


@pytest.mark.browser
@pytest.mark.parametrize("name,path,field,text", [
    ("x", "{tmp}/missing.sqlite", "path", "no database file"),
    ("x", "{tmp}/plain.txt", "path", "not a readable SQLite database"),
    ("", "{db}", "name", "not allowed"),
    ("main", "{db}", "name", "already exists"),
])
def test_bad_input_is_shown_next_to_the_field_and_changes_nothing(console_page, console, home, tmp_path,
                                                                   name, path, field, text):
    page, _ = console_page
    (tmp_path / "plain.txt").write_text("hello")
    before = (home.root / "config.toml").read_bytes()
    open_console(page, console, "/databases")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Path", exact=True).fill(path.format(tmp=tmp_path, db=home.databases["main"].path))
    # the browser's own "required" check would stop an empty name before the server sees it
    page.evaluate("() => document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))")
    page.get_by_role("button", name="Add database").click()
    error = page.locator(f"#{field}-error")
    error.wait_for()
    assert text in error.inner_text()
    assert page.locator(f"#db-{field}").get_attribute("aria-invalid") == "true"
    assert (home.root / "config.toml").read_bytes() == before


@pytest.mark.browser
@pytest.mark.slow
def test_automatic_update_ticked_off_in_the_page_keeps_the_service_from_publishing(console_page, console,
                                                                                   home, tmp_path):
    from exporter.site import export_site
    from service_kit import ServiceProcess, edit, patient_html, quietly, status, wait_for

    page, _ = console_page
    other = make_clinic_db(tmp_path / "other.sqlite")
    edit(other, "UPDATE patients SET card = CAST(card + 1000 AS TEXT)")  # cards 2001.. here
    open_console(page, console, "/databases")
    page.get_by_label("Name", exact=True).fill("other")
    page.get_by_label("Path", exact=True).fill(str(other))
    navigates(page, page.get_by_role("button", name="Add database").click)
    navigates(page, page.locator("#auto-other").uncheck)
    home = load_home(home.root)
    export_site(home)
    svc = ServiceProcess(home.root, tmp_path / "svc.out")
    try:
        wait_for("the service watching", lambda: status(home.root)[1].get("paused") == ["other"])
        edit(other, "UPDATE visits SET notes = 'SHOULD NOT APPEAR' WHERE id = 1")
        edit(home.databases["main"].path, "UPDATE visits SET notes = 'should appear' WHERE id = 1")
        wait_for("main's change", quietly(lambda: "should appear" in patient_html(home, "1001")))
        assert status(home.root)[1]["watching"] == ["main"]
    finally:
        svc.stop()
    # the switched-off database's patient still shows what was exported before the edit
    assert "SHOULD NOT APPEAR" not in patient_html(home, "2001")
    assert "should appear" in patient_html(home, "1001")
