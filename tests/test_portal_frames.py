"""The portal refuses to run framed, even from a host that sends no frame-ancestors header
(a plain S3 bucket): the framed page shows one plain message and no form, runs nothing else."""
from __future__ import annotations

import functools
import http.server
import threading
from datetime import date

import pytest

from browser import browser, page_watch, wait_state  # noqa: F401 - fixtures
from conftest import WEAK, make_clinic_db
from exporter import access, keystore
from exporter.home import Database, create_home, load_home
from exporter.site import export_site

pytestmark = pytest.mark.browser


class _Plain(http.server.SimpleHTTPRequestHandler):
    """Files with their types and no security headers at all, as a bare bucket serves them."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
                      ".svg": "image/svg+xml", ".json": "application/json", ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def plain_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("frames")
    home = create_home(root / "home", WEAK)
    conn = keystore.create(home.keys_path)
    access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", make_clinic_db(root / "main.sqlite"))
    home.save()
    home = load_home(home.root)
    export_site(home, today=date(2026, 11, 26))
    (home.site_dir / "framer.html").write_text(
        "<!doctype html><title>framer</title>"
        f'<iframe id="d" src="doctor/" width="600" height="400"></iframe>'
        f'<iframe id="p" src="patient/?c={home.clinic_id}" width="600" height="400"></iframe>')
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Plain, directory=str(home.site_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", home
    server.shutdown()
    server.server_close()


def test_framed_portal_pages_show_only_a_message(page_watch, plain_site):
    page, watch = page_watch
    url, home = plain_site
    page.goto(f"{url}/framer.html")
    for frame_id in ("d", "p"):
        frame = page.frame_locator(f"#{frame_id}")
        frame.locator('body[data-state="framed"]').wait_for(state="attached")
        body = frame.locator("body")
        assert "does not open inside another page" in body.inner_text()
        assert frame.locator("form, input, button, #login-view").count() == 0
    assert any("does not run inside a frame" in e for e in watch.page_errors)


def test_the_same_pages_run_on_their_own(page_watch, plain_site):
    page, watch = page_watch
    url, home = plain_site
    page.goto(f"{url}/doctor/")
    assert wait_state(page, "login") == "login"
    assert page.get_by_label("Clinic ID").is_visible()
    assert watch.page_errors == []
