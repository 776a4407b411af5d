"""Screenshots of every portal view at 390 px and 1280 px, in English and Arabic, written to
docs/portal/ (`make portal-shots`), so a reviewer can look without running anything.

    .venv/bin/python tests/portal_shots.py [OUT_DIR]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, chromium_missing, wait_state  # noqa: E402
from portal_kit import DAY, ViewsClinic  # noqa: E402

WIDTHS = {"390": (390, 844), "1280": (1280, 860)}


def shoot(page, out: Path, name: str, full: bool = True) -> None:
    page.wait_for_timeout(150)  # fonts and the last paint
    page.screenshot(path=str(out / f"{name}.png"), full_page=full)


def views(c: ViewsClinic, page, out: Path, tag: str) -> None:
    page.goto(f"{c.url}/?c={c.id}")
    page.wait_for_selector("main a")
    shoot(page, out, f"index-{tag}")
    page.goto(f"{c.url}/patient/?c={c.id}")
    page.wait_for_selector(".login-clinic:not([hidden])")
    shoot(page, out, f"patient-login-{tag}")
    page.locator("#card").fill("1001")
    page.locator("#password").fill(c.patient_pw)
    page.locator("#go").click()
    wait_state(page, "ready")
    page.wait_for_selector("#note-box form")
    shoot(page, out, f"patient-record-{tag}")
    page.goto(f"{c.url}/doctor/?c={c.id}")
    page.wait_for_selector(".login-clinic:not([hidden])")
    shoot(page, out, f"doctor-login-{tag}")
    for field, value in (("#login-password", c.login), ("#user", "admin"), ("#user-password", c.admin)):
        page.locator(field).fill(value)
    page.locator("#go").click()
    wait_state(page, "ready")
    page.locator("#list-head [data-sort=surname]").click()
    shoot(page, out, f"doctor-list-{tag}")
    page.evaluate("d => { location.hash = '#diary/' + d; }", DAY)
    page.wait_for_selector("#diary table")
    shoot(page, out, f"doctor-diary-{tag}")
    page.evaluate("() => { location.hash = '#list'; }")
    page.locator("#list .prow", has_text="Amal Haddad").click()
    page.wait_for_selector("#note-box form")
    shoot(page, out, f"doctor-record-{tag}")


def main(out: Path) -> int:
    reason = chromium_missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for lang in ("en", "ar"):
            (Path(tmp) / lang).mkdir()
            c = ViewsClinic(Path(tmp) / lang, lang=lang, **({"currency": "ر.س", "clinic_name": "عيادة أمل"} if lang == "ar" else {}))
            try:
                for width, (w, h) in WIDTHS.items():
                    context = browser.new_context(viewport={"width": w, "height": h}, is_mobile=w < 600,
                                                  color_scheme="light")
                    page = context.new_page()
                    page.set_default_timeout(WAIT_MS)
                    views(c, page, out, f"{lang}-{width}")
                    context.close()
            finally:
                c.server.stop()
        browser.close()
    print(f"wrote {len(list(out.glob('*.png')))} screenshots to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/portal")))
