"""The console's guards, run once for every blueprint (before/after_request hooks).

It holds every secret of the clinic, so any web page the user visits must not be able to
drive it: the token the CLI opens is traded for an HttpOnly, SameSite=Strict cookie, the Host
header is checked (DNS rebinding), every POST needs the CSRF token, and responses carry a
strict CSP, no CORS headers and ``no-store``. Every failure is a plain 403 and changes nothing.
"""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from flask import Flask, Response, abort, current_app, redirect, request

COOKIE = "chartseal_console"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_SAFE_METHODS = {"GET", "HEAD"}


def install(app: Flask, token: str) -> None:
    """Add the checks to ``app``; ``token`` is the one in the URL the CLI opens."""
    if len(token) < 16:
        raise ValueError("the console token must be at least 16 characters")
    app.config["CONSOLE_TOKEN"] = token
    # The cookie's value and the CSRF token are separate secrets: neither is in any URL.
    app.config["CONSOLE_SESSION"] = secrets.token_urlsafe(32)
    app.config["CONSOLE_CSRF"] = secrets.token_urlsafe(32)
    app.before_request(_check)
    app.after_request(_headers)
    app.add_template_global(csrf_token)


def csrf_token() -> str:
    return str(current_app.config["CONSOLE_CSRF"])


def _same(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _host_ok() -> bool:
    port = current_app.config.get("CONSOLE_PORT")
    if not port:
        return False
    return request.host in (f"127.0.0.1:{port}", f"localhost:{port}")


def _check() -> Response | None:
    cfg = current_app.config
    if not _host_ok():
        abort(403)
    if request.method not in _SAFE_METHODS | {"POST"}:
        abort(403)  # no CORS preflight, no PUT/DELETE: the console's forms only POST
    if "token" in request.args:
        if request.method != "GET" or not _same(request.args.get("token"), cfg["CONSOLE_TOKEN"]):
            abort(403)
        return _trade_token()
    if not _same(request.cookies.get(COOKIE), cfg["CONSOLE_SESSION"]):
        abort(403)
    if request.method == "POST":
        given = request.headers.get("X-CSRF-Token") or request.form.get("csrf")
        if not _same(given, cfg["CONSOLE_CSRF"]):
            abort(403)
    return None


def _trade_token() -> Response:
    """Set the session cookie and send the browser to the same address without the token."""
    rest = [(k, v) for k, vs in request.args.lists() if k != "token" for v in vs]
    target = request.path + ("?" + urlencode(rest) if rest else "")
    resp = redirect(target, code=303)
    resp.set_cookie(COOKIE, current_app.config["CONSOLE_SESSION"], httponly=True,
                    samesite="Strict", path="/")
    return resp


def _headers(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    # Passwords shown once must not survive in the cache or the back/forward cache.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Pragma"] = "no-cache"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    for name in [h for h in resp.headers.keys() if h.lower().startswith("access-control-")]:
        del resp.headers[name]
    return resp
