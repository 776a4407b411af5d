"""Shared Playwright fixtures: headless Chromium from the OS packages, a preview server.

Import the fixtures into a test module (``from browser import browser, page_watch``); pytest
picks them up from the module's namespace. Tests that use them are marked
``@pytest.mark.browser``. The pages forbid eval (CSP), so pass ``wait_for_function`` an
arrow function (``"() => ..."``), never a bare expression.
"""
from __future__ import annotations

import atexit
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("CHARTSEAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Key derivation in tests uses the weak parameters; a page still needs a moment to start
# libsodium, so waits are generous but never part of what a test asserts.
WAIT_MS = 30_000


def chromium_missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (install the OS package `chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed"
    return None


_shared: dict[str, Any] = {}


def _stop_shared() -> None:
    try:
        _shared.pop("browser").close()
        _shared.pop("playwright").stop()
    except Exception:  # the driver may already be gone at interpreter exit
        pass


def shared_browser() -> Any:
    """One Chromium for the whole run. Each test module that imports the ``browser`` fixture
    gets its own copy of it, and Playwright's sync API allows one instance per thread, so
    the copies share this one."""
    if "browser" not in _shared:
        from playwright.sync_api import sync_playwright

        pw = sync_playwright().start()
        _shared["playwright"] = pw
        _shared["browser"] = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        atexit.register(_stop_shared)
    return _shared["browser"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    yield shared_browser()


@dataclass
class PageWatch:
    """What a page did: every request URL, console errors, uncaught exceptions, dialogs."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def foreign(self, origin: str | None = None) -> list[str]:
        """Requests that left ``origin`` (default: the first page's); data: and blob: stay in the page."""
        want = urlsplit(origin or (self.requests[0] if self.requests else ""))
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob"):
                continue
            if (parts.scheme, parts.netloc) != (want.scheme, want.netloc):
                out.append(url)
        return out


@pytest.fixture
def page_watch(browser: Any) -> Iterator[tuple[Any, PageWatch]]:
    """A fresh context (own storage) and page, with its requests and errors recorded."""
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    watch = PageWatch()
    context.on("request", lambda req: watch.requests.append(req.url))
    page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield page, watch
    finally:
        context.close()


def serve_site(site_dir: Path, extra_mounts: dict[str, Any] | None = None) -> Any:
    """A started preview server for ``site_dir``; call ``.stop()`` when done."""
    from publisher.preview import PreviewServer, make_app

    return PreviewServer(make_app(site_dir, extra_mounts or {})).start()


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def wait_state(page: Any, *states: str) -> str:
    """Wait until the app reports one of ``states`` on ``body[data-state]``; return it."""
    selector = ", ".join(f'body[data-state="{s}"]' for s in states)
    page.wait_for_selector(selector, state="attached", timeout=WAIT_MS)
    return str(page.evaluate("document.body.dataset.state"))


# -- portal steps shared by the browser tests ----------------------------------------------


def patient_login(page, url, clinic_id, card, password):
    page.goto(f"{url}/patient/?c={clinic_id}")
    wait_state(page, "login")
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Go to my page").click()
    return wait_state(page, "ready", "error")


def doctor_login(page, url, clinic_id, login, user, password, db="main"):
    page.goto(f"{url}/doctor/")
    wait_state(page, "login")
    page.get_by_label("Clinic ID").fill(clinic_id)
    page.get_by_label("Login password").fill(login)
    page.get_by_label("User name").fill(user)
    page.get_by_label("User password").fill(password)
    page.get_by_role("button", name="Go to my page").click()
    state = wait_state(page, "ready", "error")
    picker = page.locator("#db")
    if state == "ready" and page.locator("#db-pick").is_visible() and db:
        picker.select_option(label=db)
    return state


def visible_names(page):
    return page.eval_on_selector_all("#list li:not([hidden]) .pname", "els => els.map(e => e.textContent)")
