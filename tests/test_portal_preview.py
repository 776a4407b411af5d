"""`chartseal serve`: a real waitress server on 127.0.0.1 over a real site folder."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli_serve import serve
from publisher.preview import PreviewServer, make_app

SITE = {
    "index.html": b'<!doctype html><meta http-equiv="Content-Security-Policy" '
                  b"content=\"default-src 'self'; connect-src 'self' http://127.0.0.1:1\"><p>home",
    "doctor/index.html": b"<!doctype html><p>doctor",
    "assets/app.0123abcd.js": b"export const x = 1;",
    "assets/libsodium-sumo.89abcdef.mjs": b"export default 1;",
    "assets/app.0123abcd.css": b"body{}",
    "assets/child.0123abcd.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "assets/x.0123abcd.wasm": b"\0asm",
    "c/1234567890/site.json": b'{"clinic":"1234567890"}',
    "c/1234567890/door/" + "a" * 32 + ".json": b'{"v":1}',
    "c/1234567890/obj/" + "b" * 32 + ".bin": bytes(range(256)),
    "empty/.keep": b"",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for name, data in SITE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    secret = root.parent / "secret.txt"
    secret.write_text("outside the site")
    (root / "link").symlink_to(secret)
    return root


def echo_app(environ, start_response):
    body = f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}|{environ['REQUEST_METHOD']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module")
def server(site):
    with PreviewServer(make_app(site, {"/v1/": echo_app})) as srv:
        yield srv


def get(server, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, headers=headers or {})  # sends the path as written, `..` too
    res = conn.getresponse()
    body = res.read()
    conn.close()
    return res.status, {k.lower(): v for k, v in res.getheaders()}, body


@pytest.mark.parametrize("path, ctype", [
    ("/", "text/html; charset=utf-8"),
    ("/doctor/", "text/html; charset=utf-8"),
    ("/assets/app.0123abcd.js", "text/javascript; charset=utf-8"),
    ("/assets/libsodium-sumo.89abcdef.mjs", "text/javascript; charset=utf-8"),
    ("/assets/app.0123abcd.css", "text/css; charset=utf-8"),
    ("/assets/child.0123abcd.svg", "image/svg+xml"),
    ("/assets/x.0123abcd.wasm", "application/wasm"),
    ("/c/1234567890/site.json", "application/json"),
    ("/c/1234567890/obj/" + "b" * 32 + ".bin", "application/octet-stream"),
])
def test_content_types_and_bytes(server, site, path, ctype):
    status, headers, body = get(server, path)
    assert status == 200
    assert headers["content-type"] == ctype
    assert headers["x-content-type-options"] == "nosniff"
    name = path.lstrip("/") or "index.html"
    name = name + "index.html" if name.endswith("/") else name
    assert body == (site / name).read_bytes()
    assert headers["content-length"] == str(len(body))


@pytest.mark.parametrize("path, cache", [
    ("/assets/app.0123abcd.js", "public, max-age=31536000, immutable"),
    ("/c/1234567890/obj/" + "b" * 32 + ".bin", "public, max-age=31536000, immutable"),
    ("/", "no-cache"),
    ("/doctor/", "no-cache"),
    ("/c/1234567890/site.json", "no-cache"),
    ("/c/1234567890/door/" + "a" * 32 + ".json", "no-cache"),
])
def test_cache_control(server, path, cache):
    status, headers, _ = get(server, path)
    assert status == 200 and headers["cache-control"] == cache


def test_csp_header_repeats_the_page_meta_tag(server):
    _, headers, _ = get(server, "/")
    assert headers["content-security-policy"] == (
        "default-src 'self'; connect-src 'self' http://127.0.0.1:1; frame-ancestors 'none'")
    # scripts (and the KDF worker) get the site's page policy too
    _, headers, _ = get(server, "/assets/app.0123abcd.js")
    assert "connect-src 'self' http://127.0.0.1:1" in headers["content-security-policy"]
    # a page without a meta tag gets the default strict policy
    _, headers, _ = get(server, "/doctor/")
    assert "object-src 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/nope.html", "/assets/", "/c/1234567890/obj/", "/empty/",
                                  "/c/1234567890/door/" + "f" * 32 + ".json"])
def test_missing_files_and_folders_are_404_without_listing(server, path):
    status, headers, body = get(server, path)
    assert status == 404
    assert b"app.0123abcd" not in body and b"site.json" not in body
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt",
    "/..%2fsecret.txt", "/assets/..%5c..%5csecret.txt", "/link", "/%00",
])
def test_traversal_is_refused(server, path):
    status, _, body = get(server, path)
    assert status in (400, 404)
    assert b"outside the site" not in body


def test_folder_without_slash_redirects_keeping_the_query(server):
    status, headers, _ = get(server, "/patient?c=1234567890")
    assert status == 404  # no such folder
    status, headers, _ = get(server, "/doctor?c=1234567890")
    assert status == 301 and headers["location"] == "/doctor/?c=1234567890"


def test_head_etag_and_methods(server):
    status, headers, body = get(server, "/c/1234567890/site.json", "HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(SITE["c/1234567890/site.json"]))
    status, _, body = get(server, "/c/1234567890/site.json", headers={"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""
    status, headers, _ = get(server, "/", "POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_mounted_app_gets_its_prefix(server):
    status, _, body = get(server, "/v1/notes", "POST")
    assert status == 200 and body == b"/v1|/notes|POST"
    status, _, _ = get(server, "/v10/notes")
    assert status == 404  # a prefix match must end at a slash


def test_cli_refuses_a_folder_without_a_site(tmp_path):
    result = CliRunner().invoke(serve, ["--site", str(tmp_path)])
    assert result.exit_code != 0
    assert "no exported site" in result.output and "chartseal export" in result.output


def test_cli_without_home_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTSEAL_HOME", str(tmp_path / "none"))
    result = CliRunner().invoke(serve, [])
    assert result.exit_code != 0 and "chartseal init" in result.output


def test_cli_serves_on_loopback(site, tmp_path):
    """The real command in a subprocess: it prints its URL and answers on 127.0.0.1."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", "0", "--site", str(site)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)
    try:
        lines = []
        for _ in range(20):
            line = proc.stdout.readline()
            lines.append(line)
            if "doctor portal:" in line:
                break
        url = next(line.split()[-1] for line in lines if "doctor portal:" in line)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/doctor/")
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(50):
            try:
                conn.request("GET", "/doctor/")
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        res = conn.getresponse()
        assert res.status == 200 and res.read() == SITE["doctor/index.html"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
