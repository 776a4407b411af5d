"""crypto.js and rules.js in headless Chromium: every vector, from the shipped asset bytes, under the CSP.

The page loads the hashed assets exactly as build_assets() makes them (libsodium's bare
import rewritten, no import map, no inline script) and runs tests/js/vector_checks.mjs,
the same checks `node --test tests/js/` runs.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from browser import browser  # noqa: F401 - fixture (tests/ is on sys.path, not a package)

ROOT = Path(__file__).resolve().parents[1]
TYPES = {"js": "text/javascript", "mjs": "text/javascript", "json": "application/json", "html": "text/html"}

HARNESS = """\
import sodium from './{wrappers}';
import * as C from './{crypto}';
import * as R from './{rules}';
import {{ VECTOR_FILES, vectorChecks }} from './vector_checks.mjs';

const t0 = performance.now();
await C.init(sodium);
const initMs = performance.now() - t0;
const vectors = {{}};
for (const f of VECTOR_FILES) vectors[f] = await (await fetch(`/vectors/${{f}}`)).json();
const failures = [];
const ms = {{}};
let passed = 0;
for (const {{ name, run }} of vectorChecks(C, vectors, R)) {{
  const t = performance.now();
  try {{ await run(); passed += 1; }} catch (e) {{ failures.push(`${{name}}: ${{e.name}}: ${{e.message}}`); }}
  ms[name] = performance.now() - t;
}}
// For the test that runs every code point through the browser's normalization.
globalThis.normalizeAll = (texts) => texts.map((t) => [C.normalizeSearch(t), C.normalizeCard(t), C.normalizeUser(t)]);
document.body.dataset.result = JSON.stringify({{ passed, failures, ms, initMs }});
"""


def site_files() -> dict[str, bytes]:
    from site_templates import build

    assets = build.build_assets({})
    files = {f"/assets/{name}": data for name, data in assets.files.items()}
    files["/assets/vector_checks.mjs"] = (ROOT / "tests" / "js" / "vector_checks.mjs").read_bytes()
    files["/assets/harness.mjs"] = HARNESS.format(
        wrappers=assets.hashed("libsodium-wrappers.mjs"), crypto=assets.hashed("crypto.js"),
        rules=assets.hashed("rules.js")).encode()
    for path in (ROOT / "tests" / "vectors").glob("*.json"):
        files[f"/vectors/{path.name}"] = path.read_bytes()
    policy = build.csp()
    files["/index.html"] = (
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<title>crypto.js vectors</title><script type="module" src="/assets/harness.mjs"></script>'
    ).encode()
    return files


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    files = site_files()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            data = files.get(self.path.split("?")[0])
            if self.path == "/favicon.ico":  # asked for by the browser itself
                self.send_response(204)
                self.end_headers()
                return
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", TYPES.get(self.path.rsplit(".", 1)[-1], "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.browser
def test_every_vector_in_chromium(browser: Any, server: str) -> None:  # noqa: F811
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        page.goto(server + "/index.html")
        page.wait_for_selector("body[data-result]", state="attached", timeout=60_000)
        result = json.loads(page.evaluate("document.body.dataset.result"))
    finally:
        page.close()
    assert errors == []
    assert result["failures"] == []
    negative = json.loads((ROOT / "tests" / "vectors" / "negative.json").read_text("utf-8"))["cases"]
    assert result["passed"] >= len(negative) + 15
    secure = [ms for name, ms in result["ms"].items() if "ops=3 mem=67108864" in name]
    assert len(secure) == 1
    print(f"\nChromium: libsodium init {result['initMs']:.0f} ms, Argon2id ops=3 mem=64MiB {secure[0]:.0f} ms")


@pytest.mark.browser
def test_every_code_point_normalizes_as_in_python(browser: Any, server: str) -> None:  # noqa: F811
    """Chromium's Unicode data is not Node's nor Python's: FORMAT.md 2 promises agreement on
    every code point of Unicode 14.0."""
    from test_normalize import code_point_texts

    from exporter.normalize import normalize_card, normalize_search, normalize_user

    texts = code_point_texts()
    page = browser.new_page()
    try:
        page.goto(server + "/index.html")
        page.wait_for_selector("body[data-result]", state="attached", timeout=60_000)
        # One JSON text each way: Playwright is slow at half a million separate strings.
        got = json.loads(page.evaluate("(t) => JSON.stringify(normalizeAll(JSON.parse(t)))", json.dumps(texts)))
    finally:
        page.close()
    bad = [f"U+{ord(t[-1]):04X}: python {want!r}, chromium {js!r}" for t, js in zip(texts, got)
           if js != (want := [normalize_search(t), normalize_card(t), normalize_user(t)])]
    assert len(got) == len(texts) and not bad, f"{len(bad)} differ, e.g. " + "; ".join(bad[:10])
