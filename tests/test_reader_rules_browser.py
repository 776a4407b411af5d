"""The portal applies FORMAT.md 10's reader rules to a real site in Chromium.

Each site copy below is altered the way only a hostile host or a faulty writer could alter
it, keeping every AEAD valid, so only the reader rule under test can refuse it: without the
rule the portal would show the record, list or diary.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

import browser as browser_kit
from browser import (  # noqa: F401 - fixtures
    CHROMIUM, CHROMIUM_ARGS, WAIT_MS, browser, doctor_login, page_watch, patient_login, shared_browser,
    wait_state)
from exporter import crypto
from siteread import Site
from test_portal_browser import DAY, Clinic, copy_site

pytestmark = pytest.mark.browser
DAMAGED = "damaged"


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    c = Clinic(tmp_path_factory.mktemp("rules-clinic"))
    yield c
    c.server.stop()


@pytest.fixture
def page(page_watch):
    pg, watch = page_watch
    yield pg
    assert watch.page_errors == [] and watch.dialogs == []


def _reader(root: Path, clinic: Any) -> Site:
    return Site(root, clinic.id)


def _patient_pointer(root: Path, clinic: Any) -> dict[str, Any]:
    site = _reader(root, clinic)
    key, door_id = crypto.derive_door(crypto.password_bytes(clinic.patient_pw),
                                      crypto.salt("patient", clinic.id, "1001"), site.params)
    return crypto.open_door(key, clinic.id, door_id, site.read(f"door/{door_id}.json"))


def test_bundle_of_another_card_behind_the_pointer_is_refused(page, clinic, tmp_path):
    # The bundle is sealed under the right key and rid, so AEAD passes; only its card differs.
    def reseal(root: Path) -> None:
        p = _patient_pointer(root, clinic)
        ck, ad = crypto.b64d(p["ck"]), crypto.label("chartseal/v1/bundle", clinic.id, p["rid"])
        path = root / "c" / clinic.id / p["bundle"]
        bundle = crypto.open_body(ck, path.read_bytes(), ad)
        path.write_bytes(crypto.seal_body(ck, {**bundle, "card": "1003"}, ad))

    server = copy_site(clinic, tmp_path, reseal)
    try:
        assert patient_login(page, server.url, clinic.id, "1001", clinic.patient_pw) == "error"
        assert DAMAGED in page.locator("#login-error").inner_text()
        assert page.locator("#record").inner_html() == "" and "Haddad" not in page.content()
    finally:
        server.stop()


def test_door_with_an_unknown_outer_key_is_refused(page, clinic, tmp_path):
    # Outer keys are not all authenticated: a door carrying an extra one is not opened.
    def extend(root: Path) -> None:
        for path in (root / "c" / clinic.id / "door").glob("*.json"):
            obj = json.loads(path.read_text())
            path.write_bytes(crypto.canonical_json({**obj, "seq": 1}))

    server = copy_site(clinic, tmp_path, extend)
    try:
        assert patient_login(page, server.url, clinic.id, "1001", clinic.patient_pw) == "error"
        assert DAMAGED in page.locator("#login-error").inner_text()
        assert "Haddad" not in page.content()
    finally:
        server.stop()


def test_diary_key_that_is_not_the_derived_one_is_refused(page, clinic, tmp_path):
    # The index names a shard and a key that opens it, but not the key derived from ik.
    def rekey(root: Path) -> None:
        site = _reader(root, clinic)
        door_id, payload, index = site.account(clinic.login, "admin", clinic.admin)
        ik, base = crypto.b64d(payload["ik"]), root / "c" / clinic.id
        db, month = next(d for d in index["databases"] if d["id"] == "main"), DAY[:7]
        shard = site.diary(door_id, db, month)
        other = crypto.random_key()
        ad = crypto.label("chartseal/v1/diary", clinic.id, door_id, db["id"], month)
        (base / db["diary"][month]["obj"]).write_bytes(crypto.seal_body(other, shard, ad))
        db["diary"][month]["key"] = crypto.b64e(other)
        for d in index["databases"]:
            d.pop("rows")  # the test reader's, not the root's
        (base / payload["index"]).write_bytes(
            crypto.seal_body(ik, index, crypto.label("chartseal/v1/index", clinic.id, door_id)))

    server = copy_site(clinic, tmp_path, rekey)
    try:
        assert doctor_login(page, server.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
        page.goto(f"{server.url}/doctor/#diary/{DAY}")
        assert wait_state(page, "error") == "error"
        assert DAMAGED in page.locator("#app-error").inner_text()
        assert page.locator("#diary").inner_html() == ""
    finally:
        server.stop()


def test_search_ignores_zero_width_and_bidi_controls(page, clinic):
    # The query goes through the same search key rule as the index (FORMAT.md 2): invisible
    # controls typed or pasted into the box neither hide a patient nor match one.
    assert doctor_login(page, clinic.url, clinic.id, clinic.login, "admin", clinic.admin) == "ready"
    search = page.get_by_role("searchbox")
    for query, expected in [("Ha\u200bd\u200ddad", ["Amal Haddad"]), ("\u202eHADDAD\u202c", ["Amal Haddad"]),
                            ("\u2067سامى\u2069", ["سامي الخطيب"]), ("\ufeffamal\u00ad", ["Amal Haddad"]),
                            ("\u200b", None)]:
        search.fill(query)
        names = page.eval_on_selector_all("#list li:not([hidden]) .pname", "els => els.map(e => e.textContent)")
        if expected is None:  # nothing but controls: an empty query, every patient shown
            assert len(names) == 3, query
        else:
            assert names == expected, repr(query)


@pytest.fixture
def named_host(browser) -> Iterator[Any]:  # noqa: F811
    """A Chromium in which clinic.test is this machine, reached by a name that is not loopback."""
    shared_browser()  # starts Playwright once for the run
    other = browser_kit._shared["playwright"].chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP clinic.test 127.0.0.1"])
    try:
        yield other
    finally:
        other.close()


def test_test_site_opens_only_on_loopback(named_host, clinic):
    # The suite's sites use weak Argon2id with "test": true. Served under a real host name,
    # the portal refuses before deriving anything: no door id (a cheap hash of the password)
    # is ever requested.
    assert json.loads((clinic.site / "c" / clinic.id / "site.json").read_text())["kdf"]["test"] is True
    page = named_host.new_page()
    page.set_default_timeout(WAIT_MS)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        url = clinic.url.replace("127.0.0.1", "clinic.test")
        assert patient_login(page, url, clinic.id, "1001", clinic.patient_pw) == "error"
        assert DAMAGED in page.locator("#login-error").inner_text()
        assert any(u.endswith("/site.json") for u in requests)
        assert not any("/door/" in u for u in requests), requests
    finally:
        page.close()
