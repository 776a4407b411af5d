"""The doctor's list from a sharded account index (FORMAT.md 6.2), in headless Chromium:
first rows before the last shard with a counter, a damaged shard, search and routes across
shards, Refresh fetching only what changed, Arabic and 390 px.

Requests are held or answered by Playwright routes: a shard held back shows what the page
does while it waits; a shard answered with other bytes is a hostile host.
"""
from __future__ import annotations

import os
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from browser import WAIT_MS, browser, page_watch, serve_site, wait_state  # noqa: F401
from conftest import WEAK, shard_rows
from exporter import access, crypto, keystore, site_rules
from exporter.home import Database, create_home, load_home
from exporter.normalize import normalize_search
from exporter.site import export_site
from siteread import Site

pytestmark = pytest.mark.browser

TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module", autouse=True)
def _shards_of_256_rows():
    """Several shards out of a few hundred patients: writers' shards of 256 rows here."""
    with shard_rows(256):
        yield
PATIENTS = 520  # 520 / 256 rows a shard: four shards (FORMAT.md 6.2)
SHOTS = os.environ.get("CHARTSEAL_LIST_SHOTS")  # a folder: also write the loading screenshots there


class Clinic:
    def __init__(self, root: Path) -> None:
        from exporter.demo_data import write_demo_clinic

        self.db = root / "main.sqlite"
        write_demo_clinic(self.db, patients=PATIENTS, seed=11)
        home = create_home(root / "home", WEAK)
        conn = keystore.create(home.keys_path)
        self.admin = access.init_keys(conn)["admin"]
        conn.close()
        home.databases["main"] = Database("main", self.db)
        home.save()
        self.home = load_home(home.root)
        export_site(self.home, today=TODAY)
        conn = keystore.connect(self.home.keys_path)
        self.login = keystore.get_text(conn, "login_password")
        conn.close()
        self.id = self.home.clinic_id
        self.server = serve_site(self.home.site_dir)
        self.url = self.server.url

    def shards(self) -> list[dict]:
        """The main database's shards as the admin's root names them: [{obj, n, rows}]."""
        site = Site(self.home.site_dir, self.id)
        door_id, payload, index = site.account(self.login, "admin", self.admin)
        ik = crypto.b64d(payload["ik"], 32)
        (db,) = index["databases"]
        out = []
        for i, ptr in enumerate(db["shards"]):
            body = site.read(ptr["obj"])
            shard = crypto.open_body(crypto.shard_key(ik, "main", i), body, crypto.shard_ad(self.id, door_id, "main", i))
            out.append({"obj": ptr["obj"], "n": ptr["n"], "rows": site_rules.check_shard(shard, "main", i, ptr["n"])["rows"]})
        return out

    def path(self, obj: str) -> Path:
        return self.home.site_dir / "c" / self.id / obj


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    c = Clinic(tmp_path_factory.mktemp("shards"))
    yield c
    c.server.stop()


@pytest.fixture
def page(page_watch):
    pg, watch = page_watch
    yield pg
    assert watch.page_errors == [] and watch.dialogs == []


class Held:
    """Hold back the requests of some objects until ``release()``; count every object request."""

    def __init__(self, page, objs: set[str]) -> None:
        self.objs = objs
        self.waiting: list = []
        self.seen: list[str] = []
        page.context.route(re.compile(r".*/obj/[0-9a-f]{32}\.bin$"), self.handle)

    def handle(self, route) -> None:
        obj = "obj/" + route.request.url.rsplit("/obj/", 1)[1]
        self.seen.append(obj)
        if obj in self.objs:
            self.waiting.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        for route in self.waiting:
            route.continue_()
        self.waiting = []


def submit(page, c: Clinic, lang: str = "en") -> None:
    """Log in as admin, without waiting for the list (doctor_login waits for all of it)."""
    page.goto(f"{c.url}/doctor/?c={c.id}")
    wait_state(page, "login")
    if lang == "ar":
        page.locator("#lang").click()
    page.locator("#login-password").fill(c.login)
    page.locator("#user").fill("admin")
    page.locator("#user-password").fill(c.admin)
    page.locator("#go").click()


def rows_shown(page) -> int:
    return page.locator("#list li").count()


def expected_surnames(c: Clinic) -> list[str]:
    """Every patient's surname in the order FORMAT.md 6.2 gives (surname key, first name key, card)."""
    conn = sqlite3.connect(c.db)
    people = conn.execute("SELECT surname, first_name, card FROM patients").fetchall()
    conn.close()
    key = lambda p: (normalize_search(p[0] or "").encode("utf-16-be"), normalize_search(p[1] or "").encode("utf-16-be"),  # noqa: E731
                     (p[2] or "").encode("utf-16-be"))
    return [(p[0] or "").strip() for p in sorted(people, key=key)]


def test_four_shards_and_each_sorted_by_the_writer(clinic):
    shards = clinic.shards()
    assert len(shards) == 4 and sum(s["n"] for s in shards) == PATIENTS
    assert all(s["n"] == len(s["rows"]) > 50 for s in shards)


def test_first_rows_show_before_the_last_shard_and_a_counter_counts(page, clinic):
    shards = clinic.shards()
    last = shards[-1]
    held = Held(page, {last["obj"]})
    submit(page, clinic)
    page.wait_for_selector("#list li")
    progress = page.locator("#list-progress")
    loaded = PATIENTS - last["n"]
    page.wait_for_function(f"() => document.getElementById('list-progress').textContent.startsWith('{loaded} of {PATIENTS} loaded')")
    assert progress.is_visible()
    assert "search covers the patients loaded so far" in progress.inner_text()
    assert page.evaluate("document.body.dataset.state") == "busy"
    assert rows_shown(page) == 100
    assert page.locator("#list-count").inner_text() == f"{loaded} / {loaded}"
    # what is in is sorted among itself
    want = [s for s in expected_surnames(clinic)]
    held_rids = {r["rid"] for r in last["rows"]}
    assert held_rids and len(held.waiting) == 1
    held.release()
    assert wait_state(page, "ready") == "ready"
    assert progress.is_hidden()
    assert page.locator("#list-count").inner_text() == f"{PATIENTS} / {PATIENTS}"
    # the whole list, in the order of the format, across all four shards
    page.locator("#list-more").dispatch_event("click")
    while page.locator("#list-more").is_visible():
        page.locator("#list-more").dispatch_event("click")
    shown = page.eval_on_selector_all("#list li .psur", "els => els.map(e => e.textContent.trim())")
    assert shown == want


def test_search_covers_a_shard_once_it_is_in(page, clinic):
    last = clinic.shards()[-1]
    row = last["rows"][len(last["rows"]) // 2]
    held = Held(page, {last["obj"]})
    submit(page, clinic)
    page.wait_for_function("() => document.getElementById('list-progress').textContent.includes(' of ')")
    page.get_by_role("searchbox").fill(row["card"].lower())
    page.wait_for_function("() => document.getElementById('list-count').textContent.startsWith('0 /')")
    assert rows_shown(page) == 0
    assert page.locator("#list-empty").is_hidden()  # not "no patient matches": not all are in
    held.release()
    # the same query, untouched, finds the patient once the last shard is in
    page.wait_for_function("() => document.querySelectorAll('#list li').length === 1")
    assert wait_state(page, "ready") == "ready"
    page.locator("#list .prow").click()
    page.wait_for_selector("#view-patient:not([hidden]) #record h2")
    assert page.locator("#record .card-no").first.inner_text() == row["card"]


def test_a_patient_of_every_shard_opens_by_its_route(page, clinic):
    shards = clinic.shards()
    held = Held(page, {shards[2]["obj"]})
    submit(page, clinic)
    page.wait_for_selector("#list li")
    # a route to a patient whose shard has not come yet waits for it
    waiting = shards[2]["rows"][0]
    page.evaluate("rid => { location.hash = '#patient/' + rid; }", waiting["rid"])
    page.wait_for_selector("#view-patient:not([hidden])")
    assert page.locator("#record h2").count() == 0
    held.release()
    page.wait_for_selector("#record h2")
    assert page.locator("#record .card-no").first.inner_text() == waiting["card"]
    for shard in shards:
        row = shard["rows"][-1]
        page.evaluate("rid => { location.hash = '#patient/' + rid; }", row["rid"])
        page.wait_for_function("card => document.querySelector('#record .card-no')?.textContent === card", arg=row["card"])
        assert wait_state(page, "ready") == "ready"
    page.evaluate("() => { location.hash = '#patient/' + '0'.repeat(32); }")
    page.wait_for_function("() => document.getElementById('app-error').textContent.includes('not in your list')")


def test_shards_open_in_a_worker_and_without_one_on_the_page(page, clinic):
    urls: list[str] = []
    page.context.on("request", lambda req: urls.append(req.url))
    submit(page, clinic)
    assert wait_state(page, "ready") == "ready"
    assert any(re.search(r"/shard-worker\.[0-9a-f]{8}\.js$", u) for u in urls)
    # a browser that cannot start it (here: its script does not load) opens them itself
    page.context.route(re.compile(r".*/shard-worker\.[0-9a-f]{8}\.js$"), lambda route: route.abort())
    submit(page, clinic)
    assert wait_state(page, "ready") == "ready"
    assert page.locator("#list-count").inner_text() == f"{PATIENTS} / {PATIENTS}"


@pytest.mark.parametrize("damage", ["swapped", "flipped", "missing"])
def test_a_damaged_shard_shows_the_damaged_message_and_no_rows(page, clinic, damage):
    shards = clinic.shards()
    target, other = shards[1], shards[3]
    good = clinic.path(target["obj"]).read_bytes()
    if damage == "swapped":  # another shard's bytes in its place
        body = clinic.path(other["obj"]).read_bytes()
    else:
        body = bytearray(good)
        body[len(body) // 2] ^= 0x01
        body = bytes(body)

    def answer(route):
        if damage == "missing":
            route.fulfill(status=404, body=b"")
        else:
            route.fulfill(status=200, body=body, content_type="application/octet-stream")

    page.context.route(f"**/{target['obj']}", answer)
    submit(page, clinic)
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text()
    assert rows_shown(page) == 0
    assert page.locator("#list-progress").is_hidden()
    assert page.locator("#list-empty").is_hidden()
    # the other views still work, and coming back to the list says it again
    page.evaluate("() => { location.hash = '#diary/2026-11-26'; }")
    wait_state(page, "ready")
    page.evaluate("() => { location.hash = '#list'; }")
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text() and rows_shown(page) == 0



def test_a_damaged_shard_after_rows_are_shown_takes_every_row_away(page, clinic):
    last = clinic.shards()[-1]
    held = Held(page, {last["obj"]})
    submit(page, clinic)
    page.wait_for_function(f"() => document.querySelectorAll('#list li').length === 100"
                           f" && document.getElementById('list-count').textContent === '{PATIENTS - last['n']} / {PATIENTS - last['n']}'")
    body = bytearray(clinic.path(last["obj"]).read_bytes())
    body[len(body) // 2] ^= 0x01
    for route in held.waiting:
        route.fulfill(status=200, body=bytes(body), content_type="application/octet-stream")
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text()
    assert rows_shown(page) == 0 and page.locator("#list-count").inner_text() == "0 / 0"
    assert page.locator("#list-progress").is_hidden()


def block_worker(page) -> None:
    """A browser that cannot start the shard worker (its script does not load)."""
    page.context.route(re.compile(r".*/shard-worker\.[0-9a-f]{8}\.js$"), lambda route: route.abort())


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "page"])
def test_a_row_key_of_another_type_is_kept_for_the_check_when_the_patient_opens(page, clinic, worker):
    """A bundle pointer that is a list holding the right path (as text it would read the
    same) still fails the row check when the patient is opened, on either path; the other
    rows of that shard open."""
    bad, good = {}, {}

    def edit(shard):
        row = shard["rows"][0]
        row["bundle"] = [row["bundle"]]
        bad.update(row)
        good.update(shard["rows"][1])

    forge(page, clinic, 1, edit)
    if not worker:
        block_worker(page)
    submit(page, clinic)
    assert wait_state(page, "ready") == "ready"
    assert page.locator("#list-count").inner_text() == f"{PATIENTS} / {PATIENTS}"
    page.evaluate("rid => { location.hash = '#patient/' + rid; }", good["rid"])
    page.wait_for_function("card => document.querySelector('#record .card-no')?.textContent === card", arg=good["card"])
    page.evaluate("rid => { location.hash = '#patient/' + rid; }", bad["rid"])
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text()
    assert page.locator("#record h2").count() == 0

def forge(page, clinic: Clinic, i: int, edit) -> None:
    """Serve a root and shard ``i`` made by someone holding the index key (the reader's rules
    are all that stands between such a shard and the page): ``edit(shard)`` changes the
    opened shard, which is sealed again under its key, named after its bytes, and named by a
    root sealed again too. The root's own name is not pinned (the door names it)."""
    site = Site(clinic.home.site_dir, clinic.id)
    door_id, payload, _ = site.account(clinic.login, "admin", clinic.admin)
    ik = crypto.b64d(payload["ik"], 32)
    root_ad = crypto.label("chartseal/v1/index", clinic.id, door_id)
    root = crypto.open_body(ik, site.read(payload["index"]), root_ad)
    ptr = root["databases"][0]["shards"][i]
    key, ad = crypto.shard_key(ik, "main", i), crypto.shard_ad(clinic.id, door_id, "main", i)
    shard = crypto.open_body(key, site.read(ptr["obj"]), ad)
    edit(shard)
    body = crypto.seal_body(key, shard, ad)
    ptr["obj"] = f"obj/{crypto.object_name(body)}.bin"
    served = {payload["index"]: crypto.seal_body(ik, root, root_ad), ptr["obj"]: body}
    for obj, data in served.items():
        page.context.route(f"**/{obj}", answer_with(data))


def answer_with(data: bytes):
    return lambda route: route.fulfill(status=200, body=data, content_type="application/octet-stream")


def test_a_row_key_the_list_does_not_use_is_checked_when_the_patient_opens(page, clinic):
    bad = {}

    def edit(shard):
        row = shard["rows"][0]
        row["ck"] = row["ck"][:-2] + "=="  # not 32 bytes of base64
        bad.update(row)

    forge(page, clinic, 1, edit)
    submit(page, clinic)
    assert wait_state(page, "ready") == "ready"
    assert page.locator("#list-count").inner_text() == f"{PATIENTS} / {PATIENTS}"
    page.evaluate("rid => { location.hash = '#patient/' + rid; }", bad["rid"])
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text()
    assert page.locator("#record h2").count() == 0


@pytest.mark.parametrize("fault", ["no html", "sort of one", "rid upper", "other position", "a row more"])
def test_a_forged_shard_that_breaks_a_rule_shows_no_rows(page, clinic, fault):
    def edit(shard):
        row = shard["rows"][0]
        if fault == "no html":
            del row["html"]
        elif fault == "sort of one":
            row["sort"] = row["sort"][:1]
        elif fault == "rid upper":
            row["rid"] = row["rid"].upper()
        elif fault == "other position":
            shard["shard"] = 2
        else:
            shard["rows"].append(dict(row))

    forge(page, clinic, 1, edit)
    submit(page, clinic)
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text() and rows_shown(page) == 0


def test_arabic_counter_at_390_px(browser, clinic):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        last = clinic.shards()[-1]
        held = Held(page, {last["obj"]})
        submit(page, clinic, lang="ar")
        page.wait_for_selector("#list li")
        loaded = PATIENTS - last["n"]
        text = f"تم تحميل {loaded} من {PATIENTS}؛ البحث يشمل المرضى الذين تم تحميلهم حتى الآن"
        page.wait_for_function("t => document.getElementById('list-progress').textContent === t", arg=text)
        assert page.evaluate("document.documentElement.dir") == "rtl"
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        held.release()
        assert wait_state(page, "ready") == "ready"
        assert page.locator("#list-progress").is_hidden()
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    finally:
        context.close()


@pytest.mark.skipif(not SHOTS, reason="set CHARTSEAL_LIST_SHOTS=<folder> to write the screenshots")
@pytest.mark.parametrize("lang", ["en", "ar"])
@pytest.mark.parametrize("width", [390, 1280])
def test_screenshots_while_loading_and_loaded(browser, clinic, lang, width):
    out = Path(SHOTS)
    out.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 844 if width < 600 else 860},
                                  is_mobile=width < 600, color_scheme="light")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        held = Held(page, {clinic.shards()[-1]["obj"]})
        submit(page, clinic, lang=lang)
        page.wait_for_function("() => !document.getElementById('list-progress').hidden")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / f"doctor-list-loading-{lang}-{width}.png"))
        held.release()
        wait_state(page, "ready")
        page.wait_for_timeout(150)
        page.screenshot(path=str(out / f"doctor-list-loaded-{lang}-{width}.png"))
    finally:
        context.close()


# Last: it publishes an edit to the module's clinic.
def test_refresh_fetches_only_the_changed_shard(page, clinic):
    held = Held(page, set())
    submit(page, clinic)
    assert wait_state(page, "ready") == "ready"
    assert len(held.seen) == 1 + 4  # the root and four shards
    conn = sqlite3.connect(clinic.db)
    card = conn.execute("SELECT card FROM patients ORDER BY id LIMIT 1").fetchone()[0]
    conn.execute("UPDATE patients SET surname = 'Zzyzx-Refreshed' WHERE card = ?", (card,))
    conn.commit()
    conn.close()
    before = {s["obj"] for s in clinic.shards()}
    old = {i: clinic.path(s["obj"]).read_bytes() for i, s in enumerate(clinic.shards())}
    export_site(clinic.home, today=TODAY)
    after = {s["obj"] for s in clinic.shards()}
    assert len(after - before) == 1  # the writer re-sealed one shard
    page.get_by_role("searchbox").fill("zzyzx")
    held.seen.clear()
    page.locator("#refresh").click()
    page.wait_for_function("() => document.getElementById('app-info').textContent === 'Updated'")
    assert sorted(held.seen[1:]) == sorted(after - before)  # after the root: only the new shard
    assert len(held.seen) == 2
    assert page.eval_on_selector_all("#list li .psur", "els => els.map(e => e.textContent.trim())") == ["Zzyzx-Refreshed"]
    assert page.locator("#list-count").inner_text() == f"1 / {PATIENTS}"
    # A host serving the shard of before the edit in its place: it opens with the same key
    # and ad (same database, same position), so only its name pins it to the new root.
    (i,) = [i for i, s in enumerate(clinic.shards()) if s["obj"] in after - before]
    new = clinic.shards()[i]["obj"]
    page.context.route(f"**/{new}", lambda route: route.fulfill(status=200, body=old[i], content_type="application/octet-stream"))
    submit(page, clinic)
    assert wait_state(page, "error") == "error"
    assert "damaged" in page.locator("#app-error").inner_text() and rows_shown(page) == 0
