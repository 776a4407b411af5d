"""Access cards from the console's Patient pages: the same library as `patient-page card`."""
from __future__ import annotations

import pytest
from browser import browser  # noqa: F401
from cards_kit import page_images, qr_texts
from console_kit import console, console_page, open_console  # noqa: F401
from test_cards import SITE, passwords, ready, url  # noqa: F401  (fixtures)


@pytest.mark.browser
def test_a_rows_card_and_every_card_download_as_pdf(console_page, ready, request):
    from console.server import start

    page, watch = console_page
    running = start(ready)
    request.addfinalizer(running.stop)
    open_console(page, running, "/patients")
    pw = passwords(ready)
    row = page.locator("tr", has_text="1002")
    with page.expect_download() as one:
        row.get_by_role("button", name="Print card").click()
    data = open(one.value.path(), "rb").read()
    assert data.startswith(b"%PDF") and qr_texts(page_images(data)[0]) == [url(ready, "1002", pw["1002"])]
    page.locator("#cards-single").check()
    with page.expect_download() as every:
        page.get_by_role("button", name="Print cards for every patient page").click()
    images = page_images(open(every.value.path(), "rb").read())
    assert sorted(t for img in images for t in qr_texts(img)) == sorted(
        url(ready, c, p) for c, p in pw.items())
    assert not watch.page_errors


@pytest.mark.browser
def test_cards_without_a_site_address_say_why_next_to_the_form(console_page, home, request):
    from console.server import start

    page, watch = console_page
    running = start(home)
    request.addfinalizer(running.stop)
    open_console(page, running, "/patients")
    page.get_by_role("button", name="Print cards for every patient page").click()
    page.wait_for_load_state()
    assert "site_url" in page.locator("#cards-form").inner_text()
