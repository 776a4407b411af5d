"""The portal's views in headless Chromium (issue 13 items 2, 4, 5, 6): Refresh without
logging out, the doctor's list, diary and deals, the clinic's name and currency, patient
privacy in the page, and Arabic with no English left in it."""
from __future__ import annotations

import pytest

from browser import browser, doctor_login, page_watch, patient_login, visible_names, wait_state  # noqa: F401
from exporter import access, keystore
from portal_kit import DAY, PATIENT_NOTE, VISIT_NOTE, ViewsClinic

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    c = ViewsClinic(tmp_path_factory.mktemp("views"))
    yield c
    c.server.stop()


@pytest.fixture
def fresh(tmp_path):
    """A clinic of its own, for tests that change the data and publish again."""
    c = ViewsClinic(tmp_path)
    yield c
    c.server.stop()


@pytest.fixture
def page(page_watch):
    pg, watch = page_watch
    yield pg
    assert watch.page_errors == [] and watch.dialogs == []


def kdf_runs(page) -> int:
    return page.evaluate("performance.getEntriesByName('chartseal:kdf-start').length")


def open_row(page, text):
    page.locator("#list .prow", has_text=text).click()
    page.wait_for_selector("#view-patient:not([hidden]) #record h2")


# -- item 5: privacy, as the page shows it -------------------------------------------------------


def test_patient_page_holds_no_clinic_notes_and_the_doctors_does(page, clinic):
    assert patient_login(page, clinic.url, clinic.id, "1001", clinic.patient_pw) == "ready"
    html = page.content()
    assert PATIENT_NOTE not in html and VISIT_NOTE not in html
    assert "Teacher" in page.locator("#record .other").inner_text()  # other details stay
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    open_row(page, "Amal Haddad")
    text = page.locator("#record").inner_text()
    assert PATIENT_NOTE in text and VISIT_NOTE in text


# -- item 2: Refresh keeps the session ----------------------------------------------------------


def test_patient_refresh_shows_new_data_without_logging_in_again(page, fresh):
    assert patient_login(page, fresh.url, fresh.id, "1001", fresh.patient_pw) == "ready"
    assert page.locator("#refresh").is_visible()
    runs = kdf_runs(page)
    fresh.edit("UPDATE patients SET surname = 'Haddad-Nasser' WHERE card = '1001'")
    page.locator("#refresh").click()
    page.wait_for_function("() => document.querySelector('#record h2').textContent.includes('Haddad-Nasser')")
    assert wait_state(page, "ready") == "ready"
    assert page.locator("#app-info").inner_text() == "Updated"
    assert kdf_runs(page) == runs  # the keys held since login: no new key derivation
    assert page.locator("#login-view").is_hidden()


def test_doctor_refresh_keeps_the_view_and_the_search(page, fresh):
    assert doctor_login(page, fresh.url, fresh.id, fresh.login, "admin", fresh.admin, db=None) == "ready"
    page.get_by_role("searchbox").fill("haddad")
    assert visible_names(page) == ["Amal Haddad"]
    fresh.edit("UPDATE patients SET first_name = 'Amala' WHERE card = '1001'")
    page.locator("#refresh").click()
    page.wait_for_function("() => document.getElementById('app-info').textContent === 'Updated'")
    assert page.get_by_role("searchbox").input_value() == "haddad"
    assert visible_names(page) == ["Amala Haddad"]
    assert page.locator("#db").input_value() == page.eval_on_selector(
        "#db", "s => [...s.options].find(o => o.textContent === 'main').value")


def test_refresh_after_the_password_changed_says_to_log_in_again(page, fresh):
    assert patient_login(page, fresh.url, fresh.id, "1001", fresh.patient_pw) == "ready"
    conn = keystore.connect(fresh.home.keys_path)
    access.set_patient_password(conn, "1001", "another-long-password-9", weak_ok=True)
    conn.close()
    fresh.export()
    page.locator("#refresh").click()
    assert wait_state(page, "error") == "error"
    assert "no longer opens" in page.locator("#app-error").inner_text()


def test_refresh_refuses_an_older_site(page, fresh, tmp_path):
    """A host that serves the old files again after a newer export is a rollback, not news."""
    import shutil
    old = tmp_path / "old"
    shutil.copytree(fresh.home.site_dir, old)
    assert patient_login(page, fresh.url, fresh.id, "1001", fresh.patient_pw) == "ready"
    fresh.edit("UPDATE patients SET surname = 'Newer' WHERE card = '1001'")
    page.locator("#refresh").click()
    page.wait_for_function("() => document.querySelector('#record h2').textContent.includes('Newer')")
    shutil.rmtree(fresh.home.site_dir)
    shutil.copytree(old, fresh.home.site_dir)
    page.locator("#refresh").click()
    assert wait_state(page, "error") == "error"
    assert "older than one you already saw" in page.locator("#app-error").inner_text()


# -- item 6: the doctor's views ------------------------------------------------------------------


def test_doctor_lands_on_the_biggest_database(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    assert sorted(visible_names(page)) == sorted(["Amal Haddad", "<img src=x onerror=alert(1)> Zed", "سامي الخطيب"])


def test_list_has_column_headers_that_sort(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    heads = page.locator("#list-head .ph")
    assert heads.all_inner_texts() == ["Name", "Surname", "Age", "Mobile"]
    page.locator("#list-head [data-sort=age]").click()
    ages = lambda: page.eval_on_selector_all("#list li .page", "els => els.map(e => Number(e.textContent))")  # noqa: E731
    assert ages() == [11, 46, 76]
    assert page.get_attribute("#list-head [data-sort=age]", "aria-sort") == "ascending"
    page.locator("#list-head [data-sort=age]").click()
    assert ages() == [76, 46, 11]
    page.locator("#list-head [data-sort=surname]").click()
    assert visible_names(page) == ["Amal Haddad", "<img src=x onerror=alert(1)> Zed", "سامي الخطيب"]
    page.get_by_role("searchbox").fill("a")  # a search keeps the order
    assert visible_names(page)[0] == "Amal Haddad"


def test_diary_is_a_table_with_totals_and_currency_at_360_px(browser, clinic):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
        page.goto(f"{clinic.url}/doctor/#diary/{DAY}")
        page.wait_for_selector("#diary table.dtable")
        heads = page.eval_on_selector_all("#diary thead th", "els => els.map(e => e.textContent.trim())")
        assert heads == ["Time", "Patient", "Action / reason", "Paid"]
        assert page.locator("#diary tbody tr").count() == 3
        assert page.locator("#diary tfoot .d-sum").inner_text() == "75.50\u00a0SAR"
        assert page.locator("#d-paid").inner_text() == "75.50\u00a0SAR"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        box = page.locator("#diary table").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    finally:
        context.close()


def test_deals_total_is_above_the_cards(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    open_row(page, "Amal Haddad")
    deals = page.locator("#record .sec-deals")
    assert deals.locator(".sum-due").inner_text() == "1,640.00\u00a0SAR"  # 400 - 20 + 1200 + 60
    assert deals.locator(".sum-paid").inner_text() == "1,360.00\u00a0SAR"
    assert deals.locator(".sum-remaining").inner_text() == "280.00\u00a0SAR"  # 280 + 0
    assert page.evaluate("(() => { const s = document.querySelector('.sec-deals'); return"
                         " s.querySelector('.deals-sum').compareDocumentPosition(s.querySelector('.cards'))"
                         " & Node.DOCUMENT_POSITION_FOLLOWING; })()")


def test_clinic_name_on_login_and_header(page, clinic):
    page.goto(f"{clinic.url}/patient/?c={clinic.id}")
    page.wait_for_selector(".login-clinic:not([hidden])")
    assert page.locator(".login-clinic").inner_text() == "Amal Dental — عيادة أمل"
    page.goto(f"{clinic.url}/doctor/?c={clinic.id}")
    page.wait_for_selector(".login-clinic:not([hidden])")
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    assert page.locator(".top-clinic").inner_text() == "Amal Dental — عيادة أمل"


def test_diary_arrows_mirror_in_arabic(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    page.goto(f"{clinic.url}/doctor/#diary/{DAY}")
    page.wait_for_selector("#view-diary:not([hidden])")
    arrow = "id => getComputedStyle(document.getElementById(id), '::before').content"
    assert (page.evaluate(arrow, "d-prev"), page.evaluate(arrow, "d-next")) == ('"←"', '"→"')
    page.locator("#lang").click()
    page.wait_for_function("() => document.documentElement.dir === 'rtl'")
    assert (page.evaluate(arrow, "d-prev"), page.evaluate(arrow, "d-next")) == ('"→"', '"←"')
    prev, nxt = page.locator("#d-prev").bounding_box(), page.locator("#d-next").bounding_box()
    assert prev["x"] > nxt["x"]  # "previous" is on the right, where an Arabic line starts
    page.locator("#d-prev").click()
    page.wait_for_function("() => location.hash === '#diary/2026-11-25'")


# -- item 4: Arabic, every page ------------------------------------------------------------------

# Text inside these is data (names, values the clinic typed, numbers, the user's input) or the
# language switch, which names the other language in its own script.
DATA = ("bdi, [dir=auto], body [dir=ltr], time, input, textarea, select, option, #lang, #d-user, "
        ".clinic-name, .card-no, .pmob, script, style, noscript")
LATIN_UI = """root => {
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest('[hidden]') || el.closest(%r)) continue;
    if (/[A-Za-z]/.test(n.textContent)) out.push(n.textContent.trim());
  }
  for (const el of root.querySelectorAll('[aria-label], [placeholder], [title]')) {
    if (el.closest(%r)) continue;
    for (const a of ['aria-label', 'placeholder', 'title']) {
      const v = el.getAttribute(a);
      if (v && /[A-Za-z]/.test(v)) out.push(`${a}=${v}`);
    }
  }
  if (/[A-Za-z]/.test(document.title)) out.push(`title=${document.title}`);
  return out;
}""" % (DATA, DATA.replace(", #lang", "").replace("input, ", ""))


def latin(page) -> list[str]:
    return page.evaluate(f"({LATIN_UI})(document.body)")


def test_every_page_in_arabic_has_no_english(page, tmp_path):
    c = ViewsClinic(tmp_path, lang="ar", currency="ر.س", clinic_name="عيادة أمل")
    try:
        seen = {}
        page.goto(f"{c.url}/?c={c.id}")
        wait_state(page, "ready", "login") if page.locator("body[data-state]").count() else None
        seen["index"] = latin(page)
        page.goto(f"{c.url}/patient/?c={c.id}")
        page.wait_for_function("() => document.documentElement.dir === 'rtl'")
        seen["patient login"] = latin(page)
        page.locator("#card").fill("1001")
        page.locator("#password").fill(c.patient_pw)
        page.locator("#go").click()
        assert wait_state(page, "ready") == "ready"
        page.wait_for_selector("#note-box form")
        seen["patient record"] = latin(page)
        page.locator("#note-box textarea").fill(" ")
        page.locator("#note-box .note-save").click()
        page.wait_for_selector('#note-box[data-note-state="error"]')
        seen["note message"] = latin(page)
        page.goto(f"{c.url}/doctor/?c={c.id}")
        page.wait_for_function("() => document.documentElement.dir === 'rtl'")
        seen["doctor login"] = latin(page)
        for field, value in (("#login-password", c.login), ("#user", "admin"), ("#user-password", c.admin)):
            page.locator(field).fill(value)
        page.locator("#go").click()
        assert wait_state(page, "ready") == "ready"
        seen["list"] = latin(page)
        page.locator("#list-head [data-sort=age]").click()
        seen["list sorted"] = latin(page)
        hash_to = lambda h: page.evaluate("h => { location.hash = h; }", h)  # noqa: E731
        hash_to(f"#diary/{DAY}")
        page.wait_for_selector("#diary table")
        seen["diary"] = latin(page)
        hash_to("#diary/2026-11-20")
        page.wait_for_selector("#diary-empty:not([hidden])")
        seen["empty diary"] = latin(page)
        hash_to("#list")
        open_row(page, "Amal Haddad")
        page.wait_for_selector("#note-box form")
        seen["doctor record"] = latin(page)
        page.locator("#refresh").click()
        page.wait_for_selector("#app-info:not([hidden])")
        seen["refreshed"] = latin(page)
        assert {k: v for k, v in seen.items() if v} == {}
        # and the record's labels really are the Arabic ones, data untouched
        record = page.locator("#record").inner_text()
        assert "العنوان" in record and "المهنة" in record and "Teacher" in record
    finally:
        c.server.stop()


def test_the_latin_check_finds_english_left_in_a_page(page, clinic):
    """The walk above would catch an untranslated label: here the page is English."""
    page.goto(f"{clinic.url}/patient/?c={clinic.id}")
    wait_state(page, "login")
    found = latin(page)
    assert "Card number" in found and "Go to my page" in found and "title=Patient page" in found


def test_diary_date_is_written_as_every_portal_date_in_both_languages(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    page.goto(f"{clinic.url}/doctor/#diary/{DAY}")
    page.wait_for_selector("#diary table")
    assert page.locator("#d-pick").input_value() == DAY == page.locator("#d-date").inner_text()
    page.locator("#d-pick").fill("2026-11-25")
    page.locator("#d-pick").press("Enter")
    page.wait_for_function("() => location.hash === '#diary/2026-11-25'")
    page.locator("#lang").click()
    page.wait_for_function("() => document.documentElement.dir === 'rtl'")
    assert page.locator("#d-pick").input_value() == "2026-11-25"  # the same format in Arabic
    for bad in ("2026-02-30", "25/11/2026", "tomorrow"):
        page.locator("#d-pick").fill(bad)
        page.locator("#d-pick").press("Enter")
        page.wait_for_function("() => document.getElementById('d-pick').value === '2026-11-25'")
        assert page.evaluate("location.hash") == "#diary/2026-11-25"


def test_the_calendar_behind_the_button_moves_the_diary(page, clinic):
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin, db=None) == "ready"
    page.goto(f"{clinic.url}/doctor/#diary/{DAY}")
    page.wait_for_selector("#diary table")
    assert page.locator("#d-cal-btn").inner_text() == "Calendar"
    assert page.locator("#d-cal").get_attribute("aria-hidden") == "true"  # the text field is the one read aloud
    page.evaluate("() => { const c = document.getElementById('d-cal'); c.value = '2026-11-02';"
                  " c.dispatchEvent(new Event('change')); }")
    page.wait_for_function("() => location.hash === '#diary/2026-11-02'")
    assert page.locator("#d-pick").input_value() == "2026-11-02"
