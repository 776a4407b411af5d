"""Shared steps of the console tests: a served console on a real home, a logged-in page."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from browser import WAIT_MS


@pytest.fixture
def console(home) -> Iterator[Any]:
    """The console of the ``home`` fixture, served by waitress on 127.0.0.1 in a thread."""
    from console.server import start

    running = start(home)
    running.app.config["CONSOLE_POLL_MS"] = 300
    try:
        yield running
    finally:
        running.stop()


def open_console(page: Any, console: Any, path: str = "/") -> Any:
    """Trade the token for the cookie (the page lands on ``path`` with a clean address)."""
    page.goto(f"http://127.0.0.1:{console.server.port}{path}{'&' if '?' in path else '?'}token={console.token}")
    assert "token=" not in page.url
    return page


def base(console: Any) -> str:
    return f"http://127.0.0.1:{console.server.port}"


def shot(page: Any, name: str) -> None:
    """Save a screenshot to docs/console/ when CHARTSEAL_CONSOLE_SHOTS is set (make console-shots)."""
    import os
    from pathlib import Path

    out = os.environ.get("CHARTSEAL_CONSOLE_SHOTS")
    if not out:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(out) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1024, "height": 800})


@pytest.fixture
def console_page(browser) -> Iterator[tuple[Any, Any]]:
    """A fresh page whose confirm() dialogs are accepted (the user agrees), errors recorded."""
    from browser import PageWatch

    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    watch = PageWatch()
    page.on("console", lambda msg: watch.console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: watch.page_errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    try:
        yield page, watch
    finally:
        context.close()


def navigates(page: Any, action: Any) -> None:
    """Do ``action`` (a click that submits a form) and wait for the page it leads to."""
    with page.expect_navigation():
        action()
