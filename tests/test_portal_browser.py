"""The portal in real headless Chromium against a real exported site (issue 3's list)."""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from browser import (  # noqa: F401 - fixtures
    browser, doctor_login, page_watch, patient_login, serve_site, visible_names, wait_state)
from conftest import WEAK, make_clinic_db
from exporter import access, keystore
from exporter.home import Database, create_home, load_home
from exporter.site import export_site

pytestmark = pytest.mark.browser

TODAY = date(2026, 11, 26)
DAY = "2026-11-26"
AUTH_ERROR = "The clinic ID, card number or password is not right. Check them and try again."
DOCTOR_ERROR = ("The clinic ID, login password, user name or user password is not right. "
                "Check them and try again.")


class Clinic:
    """An exported clinic: its home, secrets and the preview server in front of its site."""

    def __init__(self, root: Path) -> None:
        db = make_clinic_db(root / "main.sqlite")
        branch = make_clinic_db(root / "branch.sqlite", [
            dict(id=1, card="B-7", first_name="Nour", surname="Saleh", birth_date="2012-05-05",
                 gender="F", mobile="0780000001", modified_at="2026-11-03T08:00:00")])
        home = create_home(root / "home", WEAK)
        conn = keystore.create(home.keys_path)
        self.secrets = access.init_keys(conn)
        access.create_account(conn, "dr.amal", "amal-user-pw", weak_ok=True)
        access.share(conn, "main", "dr.amal", ["1001", "1003"])
        conn.close()
        home.databases["main"] = Database("main", db)
        home.databases["branch"] = Database("branch", branch)
        home.save()
        self.home = load_home(home.root)
        export_site(self.home, today=TODAY)
        conn = keystore.connect(self.home.keys_path)
        self.patient_pw = access.patient_password(conn, "1001")
        self.general = keystore.get_text(conn, "general_password")
        self.login = keystore.get_text(conn, "login_password")
        self.admin = keystore.get_text(conn, "admin_password")
        conn.close()
        self.db = db
        self.id = self.home.clinic_id
        self.site = self.home.site_dir
        self.server = serve_site(self.site)
        self.url = self.server.url


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    c = Clinic(tmp_path_factory.mktemp("clinic"))
    yield c
    c.server.stop()


@pytest.fixture
def page(page_watch, clinic):
    pg, watch = page_watch
    yield pg
    # Every test: nothing left the site's origin, nothing crashed, no alert() ran.
    assert watch.requests and watch.foreign() == []
    assert watch.page_errors == [] and watch.dialogs == []


def edit_site_json(clinic, root: Path, **changes) -> None:
    """Change site.json in a copy of the site as the clinic would: signed again with its
    site key (FORMAT.md 4); an unsigned change is refused (test_rollback_browser.py)."""
    from exporter import crypto

    path = root / "c" / clinic.id / "site.json"
    conn = keystore.connect(clinic.home.keys_path)
    site_sk = keystore.get_secret(conn, "site_sk")
    conn.close()
    site = {**json.loads(path.read_text()), **changes}
    path.write_bytes(crypto.canonical_json(crypto.sign_site(site_sk, site)))


def copy_site(clinic, tmp_path, edit=None):
    """A private copy of the site (to tamper with or reconfigure) behind its own server."""
    root = tmp_path / "site"
    shutil.copytree(clinic.site, root)
    if edit:
        edit(root)
    return serve_site(root)


# -- patient page ---------------------------------------------------------------------------


def test_patient_opens_with_own_password(page, clinic):
    assert patient_login(page, clinic.url, clinic.id, "1001", clinic.patient_pw) == "ready"
    record = page.locator("#record")
    assert record.locator("h2").inner_text() == "Amal Haddad"
    for section in (".sec-personal", ".sec-health", ".sec-deals", ".sec-visits", ".rec-foot", "#note-box"):
        assert record.locator(section).count() == 1, section
    assert "Penicillin" in record.inner_text()
    assert record.locator("a.call").first.get_attribute("href") == "tel:0791234567"
    assert page.locator("#login-view").is_hidden()
    # the password field was cleared and nothing went into the URL
    assert "1001" not in page.url and clinic.patient_pw not in page.url


def test_patient_opens_with_general_password(page, clinic):
    assert patient_login(page, clinic.url, clinic.id, " 10 03 ", clinic.general) == "ready"
    assert page.locator("#record h2").inner_text() == "سامي الخطيب"


@pytest.mark.parametrize("card, which", [("1001", "wrong password"), ("9999", "unknown card")])
def test_wrong_credentials_give_one_error(page, clinic, card, which):
    password = clinic.patient_pw + "x" if which == "wrong password" else clinic.general
    assert patient_login(page, clinic.url, clinic.id, card, password) == "error"
    assert page.locator("#login-error").inner_text() == AUTH_ERROR
    assert page.locator("#record").inner_html() == ""


def test_unknown_clinic_and_empty_fields(page, clinic):
    assert patient_login(page, clinic.url, "1111111111", "1001", "x") == "error"
    assert "no clinic with this ID" in page.locator("#login-error").inner_text()
    page.get_by_label("Card number").fill("")
    page.get_by_role("button", name="Go to my page").click()
    page.wait_for_function("() => document.getElementById('login-error').innerText.includes('fill in')")


def test_hostile_name_shows_as_text_and_runs_nothing(page, clinic):
    assert patient_login(page, clinic.url, clinic.id, "1002", clinic.general) == "ready"
    assert page.locator("#record h2").inner_text() == "<img src=x onerror=alert(1)> Zed"
    assert page.locator("#record img").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0


def test_tampered_objects_show_an_error_and_no_data(page, clinic, tmp_path):
    def flip(root: Path) -> None:
        for path in (root / "c" / clinic.id / "obj").glob("*.bin"):
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 1
            path.write_bytes(bytes(data))

    server = copy_site(clinic, tmp_path, flip)
    try:
        assert patient_login(page, server.url, clinic.id, "1001", clinic.patient_pw) == "error"
        assert "damaged" in page.locator("#login-error").inner_text()
        assert page.locator("#record").inner_html() == ""
        assert "Haddad" not in page.content()
        # the doctor's index is damaged too: no list, no partial data
        assert doctor_login(page, server.url, clinic.id, clinic.login, "admin", clinic.admin) == "error"
        assert "damaged" in page.locator("#login-error").inner_text()
        assert page.locator("#app-view").is_hidden() and page.locator("#list").inner_html() == ""
        assert "Haddad" not in page.content()
    finally:
        server.stop()


def test_network_failure_has_its_own_message(page, clinic):
    page.goto(f"{clinic.url}/patient/?c={clinic.id}")
    wait_state(page, "login")
    page.route("**/c/**", lambda route: route.abort("connectionrefused"))
    page.get_by_label("Card number").fill("1001")
    page.get_by_label("Password").fill(clinic.patient_pw)
    page.get_by_role("button", name="Go to my page").click()
    assert wait_state(page, "error") == "error"
    assert "could not be reached" in page.locator("#login-error").inner_text()


def test_logout_wipes_the_record_and_stores_nothing(page, clinic):
    assert patient_login(page, clinic.url, clinic.id, "1001", clinic.patient_pw) == "ready"
    storage = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert clinic.patient_pw not in storage and "Haddad" not in storage and "ck" not in storage
    assert page.evaluate("localStorage.length") == 0
    page.get_by_role("button", name="Log out").click()
    wait_state(page, "login")
    assert "Haddad" not in page.content()
    page.go_back()
    page.wait_for_load_state()
    assert "Amal Haddad" not in page.content()


def test_idle_lock_logs_out(page, clinic, tmp_path):
    def short_idle(root: Path) -> None:
        edit_site_json(clinic, root, idle_lock_minutes=0.01)  # 0.6 s

    server = copy_site(clinic, tmp_path, short_idle)
    try:
        assert patient_login(page, server.url, clinic.id, "1001", clinic.patient_pw) == "ready"
        page.wait_for_selector("#login-info:not([hidden])")
        assert "logged out" in page.locator("#login-info").inner_text()
        assert "Haddad" not in page.content()
    finally:
        server.stop()


# -- doctor portal ----------------------------------------------------------------------------


def clinic_day(db: Path, day: str) -> tuple[float, int, int]:
    conn = sqlite3.connect(db)
    paid, visits = conn.execute("SELECT COALESCE(SUM(paid), 0), COUNT(*) FROM visits WHERE date = ?",
                                (day,)).fetchone()
    appts = conn.execute("SELECT COUNT(*) FROM appointments WHERE date = ?", (day,)).fetchone()[0]
    conn.close()
    return float(paid), visits, appts


def test_doctor_login_list_and_search(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, " Admin ", clinic.admin) == "ready"
    assert sorted(visible_names(page)) == sorted(["Amal Haddad", "<img src=x onerror=alert(1)> Zed", "سامي الخطيب"])
    search = page.get_by_role("searchbox")
    for query, expected in [("HADDAD", ["Amal Haddad"]), ("1003", ["سامي الخطيب"]),
                            ("سامى", ["سامي الخطيب"]),  # yeh variant folded
                            ("079 123 4568", ["<img src=x onerror=alert(1)> Zed"]), ("nobody", [])]:
        search.fill(query)
        assert visible_names(page) == expected, query
    assert page.locator("#list-empty").is_visible()


def test_doctor_diary_totals_match_the_clinic_database(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
    page.goto(f"{clinic.url}/doctor/#diary/{DAY}")
    page.wait_for_selector("#diary .diary-day")
    paid, visits, appts = clinic_day(clinic.db, DAY)
    assert page.locator("#d-user").inner_text() == "admin"
    assert page.locator("#d-date").inner_text() == DAY
    assert page.locator("#d-paid").inner_text() == f"{paid:,.2f}"
    assert page.locator("#d-count").inner_text() == str(visits + appts)
    assert page.locator("#diary tr.d-visit").count() == visits
    assert page.locator("#diary tr.d-appt").count() == appts
    assert page.locator("#diary tfoot .d-sum").inner_text() == f"{paid:,.2f}"  # the totals row
    # a diary row leads to its patient, and back returns to the day
    page.locator("#diary tr.d-visit a", has_text="Amal Haddad").click()
    page.wait_for_selector("#view-patient #record h2")
    assert page.locator("#record h2").inner_text() == "Amal Haddad"
    page.go_back()
    page.wait_for_selector("#view-diary:not([hidden]) #diary .diary-day")
    assert page.url.endswith(f"#diary/{DAY}")


def test_doctor_diary_defaults_to_today(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
    page.get_by_role("link", name="Diary").click()
    page.wait_for_selector("#view-diary:not([hidden])")
    today = page.evaluate("(() => { const d = new Date(); return [d.getFullYear(), d.getMonth() + 1, d.getDate()]"
                          ".map((n, i) => String(n).padStart(i ? 2 : 4, '0')).join('-'); })()")
    page.wait_for_function(f"() => document.getElementById('d-date').textContent === '{today}'")
    assert page.locator("#d-pick").input_value() == today


def test_doctor_patient_page_and_back_forward(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
    page.locator("#list .prow", has_text="Amal Haddad").click()
    page.wait_for_selector("#view-patient #record h2")
    record = page.locator("#record")
    assert record.locator(".sec-deals .remaining").first.inner_text() == "280.00"  # 400 - 20 + 0 - 100
    assert "Filling" in record.locator(".sec-visits").inner_text()
    assert "2026-12-10" in record.locator(".sec-visits").inner_text()
    assert record.locator(".card-no").first.inner_text() == "1001"
    assert "2026-11-01 10:00" in record.locator(".updated").inner_text()
    assert re.fullmatch(r".*#patient/[0-9a-f]{32}", page.url)
    page.go_back()
    page.wait_for_selector("#view-list:not([hidden])")
    page.go_forward()
    page.wait_for_selector("#view-patient:not([hidden]) #record h2")


def test_shared_account_sees_only_its_patients(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "dr.amal", "amal-user-pw") == "ready"
    assert sorted(visible_names(page)) == sorted(["Amal Haddad", "سامي الخطيب"])
    assert page.locator("#db-pick").is_hidden()  # one database shared: no picker


def test_database_picker_switches_list(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    picker = page.get_by_label("Database")
    assert picker.is_visible()
    assert page.eval_on_selector_all("#db option", "os => os.map(o => o.textContent)") == ["branch", "main"]
    picker.select_option(label="main")
    page.wait_for_function("() => document.querySelectorAll('#list li').length === 3")
    picker.select_option(label="branch")
    page.wait_for_function("() => document.querySelectorAll('#list li').length === 1")
    assert visible_names(page) == ["Nour Saleh"]
    assert "av-teen g-F" in page.get_attribute("#list li .avatar", "class")  # 14, female
    page.locator("#list .prow").click()
    page.wait_for_selector("#view-patient #record h2")
    assert page.locator("#record h2").inner_text() == "Nour Saleh"


@pytest.mark.parametrize("user, password", [("admin", "wrong"), ("nobody", "")])
def test_doctor_wrong_credentials_give_one_error(page, clinic, user, password):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, user, password) == "error"
    assert page.locator("#login-error").inner_text() == DOCTOR_ERROR
    assert page.locator("#app-view").is_hidden()


# -- page policy, language, layout -------------------------------------------------------------


def test_csp_header_and_meta(page, clinic):
    response = page.goto(f"{clinic.url}/doctor/")
    header = response.headers["content-security-policy"]
    meta = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert header.startswith(meta) and "frame-ancestors 'none'" in header
    assert "script-src 'self' 'wasm-unsafe-eval'" in meta and "unsafe-inline" not in meta
    # an injected inline script is refused by the policy
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                  " document.body.append(s); }")
    assert page.evaluate("window.__ran") is None


def test_arabic_is_right_to_left(page, clinic, tmp_path):
    def arabic(root: Path) -> None:
        edit_site_json(clinic, root, lang="ar")

    server = copy_site(clinic, tmp_path, arabic)
    try:
        page.goto(f"{server.url}/patient/?c={clinic.id}")
        page.wait_for_function("() => document.documentElement.dir === 'rtl'")
        assert page.locator("label[for=card]").inner_text() == "رقم البطاقة"
        page.locator("#card").fill("1001")
        page.locator("#password").fill(clinic.patient_pw)
        page.locator("#go").click()
        assert wait_state(page, "ready") == "ready"
        assert page.evaluate("getComputedStyle(document.querySelector('#record .record')).direction") == "rtl"
        # a Latin name keeps its own order inside the right-to-left page
        assert page.evaluate("getComputedStyle(document.querySelector('#record h2')).direction") == "ltr"
        assert page.locator("#h-health").inner_text() == "الصحة"  # English fragment relabelled
        page.locator("#lang").click()  # switch back to English
        assert page.evaluate("document.documentElement.dir") == "ltr"
        assert page.locator("#h-health").inner_text() == "Health"
    finally:
        server.stop()


def test_phone_width_has_no_horizontal_scroll(browser, clinic):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
        page.locator("#list .prow", has_text="Amal Haddad").click()
        page.wait_for_selector("#view-patient #record h2")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.goto(f"{clinic.url}/doctor/#diary/{DAY}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()
