"""The console's guards over real HTTP: token, Host, CSRF, CSP, no CORS; 403 and no change."""
from __future__ import annotations

import http.client
from urllib.parse import urlencode

import pytest
from conftest import keys
from console_kit import console  # noqa: F401

from console.security import COOKIE


def request(console, method, path, host=None, cookie=None, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", console.server.port, timeout=10)
    h = {"Host": host or f"127.0.0.1:{console.server.port}"}
    if cookie:
        h["Cookie"] = f"{COOKIE}={cookie}"
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    h.update(headers or {})
    conn.request(method, path, body=urlencode(body) if body is not None else None, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def session(console):
    resp, _ = request(console, "GET", f"/accounts?token={console.token}")
    assert resp.status == 303
    return resp.getheader("Set-Cookie").split(";")[0].split("=", 1)[1]


def accounts(home):
    conn = keys(home)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM accounts")}
    finally:
        conn.close()


def test_the_token_is_traded_for_a_strict_httponly_cookie_and_leaves_the_address(console):
    resp, _ = request(console, "GET", f"/accounts?token={console.token}&q=x")
    assert resp.status == 303
    assert resp.getheader("Location").endswith("/accounts?q=x")
    cookie = resp.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert value != console.token  # the cookie is not the secret that was in the URL
    resp, body = request(console, "GET", "/accounts", cookie=value)
    assert resp.status == 200 and b"admin" in body


@pytest.mark.parametrize("path", ["/", "/accounts", "/passwords", "/notes/unread.json", "/static/console.js"])
def test_no_cookie_no_page(console, path):
    resp, body = request(console, "GET", path)
    assert resp.status == 403 and b"admin" not in body


def test_a_wrong_token_or_cookie_is_refused(console):
    resp, _ = request(console, "GET", "/?token=" + "x" * 43)
    assert resp.status == 403 and resp.getheader("Set-Cookie") is None
    resp, _ = request(console, "GET", "/", cookie="guess")
    assert resp.status == 403


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:1", "localhost", "127.0.0.1.nip.io:{port}"])
def test_a_wrong_host_is_refused_even_with_the_cookie(console, host):
    cookie = session(console)
    resp, _ = request(console, "GET", "/", host=host.format(port=console.server.port), cookie=cookie)
    assert resp.status == 403
    resp, _ = request(console, "GET", f"/?token={console.token}", host=host.format(port=console.server.port))
    assert resp.status == 403 and resp.getheader("Set-Cookie") is None


def test_localhost_with_the_port_is_allowed(console):
    cookie = session(console)
    resp, _ = request(console, "GET", "/", host=f"localhost:{console.server.port}", cookie=cookie)
    assert resp.status == 200


@pytest.mark.parametrize("csrf", [None, "", "wrong"])
def test_a_post_without_the_csrf_token_changes_nothing(console, home, csrf):
    cookie = session(console)
    body = {"name": "intruder", "how": "generate"}
    if csrf is not None:
        body["csrf"] = csrf
    resp, _ = request(console, "POST", "/accounts/create", cookie=cookie, body=body)
    assert resp.status == 403
    assert "intruder" not in accounts(home)
    # the same request with the token succeeds: the check above is what refused it
    body["csrf"] = console.app.config["CONSOLE_CSRF"]
    resp, _ = request(console, "POST", "/accounts/create", cookie=cookie, body=body)
    assert resp.status == 200 and "intruder" in accounts(home)


def test_csrf_in_a_header_is_accepted(console, home):
    cookie = session(console)
    resp, _ = request(console, "POST", "/accounts/create", cookie=cookie,
                      body={"name": "viaheader", "how": "generate"},
                      headers={"X-CSRF-Token": console.app.config["CONSOLE_CSRF"]})
    assert resp.status == 200 and "viaheader" in accounts(home)


def test_a_post_without_the_cookie_changes_nothing(console, home):
    resp, _ = request(console, "POST", "/accounts/create",
                      body={"name": "intruder", "csrf": console.app.config["CONSOLE_CSRF"]})
    assert resp.status == 403 and "intruder" not in accounts(home)


def test_headers_strict_csp_no_store_and_no_cors(console):
    cookie = session(console)
    resp, _ = request(console, "GET", "/", cookie=cookie, headers={"Origin": "https://evil.example"})
    csp = resp.getheader("Content-Security-Policy")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.getheader("Cache-Control") == "no-store"
    assert not [h for h, _ in resp.getheaders() if h.lower().startswith("access-control-")]
    resp, _ = request(console, "OPTIONS", "/accounts/create", cookie=cookie,
                      headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert resp.status == 403
    assert not [h for h, _ in resp.getheaders() if h.lower().startswith("access-control-")]


def test_pages_have_no_inline_script(console):
    cookie = session(console)
    for path in ("/", "/passwords", "/patients", "/accounts", "/sharing", "/databases", "/notes"):
        resp, body = request(console, "GET", path, cookie=cookie)
        assert resp.status == 200, path
        html = body.decode()
        assert "<script>" not in html and " on" + "click=" not in html and "style=" not in html, path


def test_the_language_switch_only_redirects_inside_the_console(console):
    cookie = session(console)
    resp, _ = request(console, "POST", "/lang", cookie=cookie,
                      body={"lang": "ar", "next": "//evil.example/", "csrf": console.app.config["CONSOLE_CSRF"]})
    assert resp.status == 303 and resp.getheader("Location") == "/"
