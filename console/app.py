"""The console's Flask app: every section's blueprint behind the security hooks."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, redirect, request
from markupsafe import escape

from exporter.home import Home
from exporter.keystore import KeystoreError

from . import security, web

HERE = Path(__file__).parent


def create_app(home: Home, token: str, port: int | None = None) -> Flask:
    """The console for ``home``; ``token`` is the secret in the URL the CLI opens.

    ``port`` is the port it is served on (the Host check needs it); pass it later as
    ``app.config["CONSOLE_PORT"]`` when the server picks a free port.
    """
    app = Flask(__name__, template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"), static_url_path="/static")
    app.config.update(CONSOLE_HOME=home.root, CONSOLE_PORT=port, MAX_CONTENT_LENGTH=1 << 20, CONSOLE_POLL_MS=15000,
                      TEMPLATES_AUTO_RELOAD=False)
    app.jinja_env.autoescape = True
    security.install(app, token)
    app.teardown_request(web.close_request)
    app.add_template_global(web.field_error)
    app.add_template_global(web.t, "t")
    app.add_template_filter(web.when, "when")
    app.add_template_global(security.csrf_token)

    from . import accounts, databases, notes, passwords, patients, publishing, sharing, status

    for module in (status, passwords, patients, accounts, sharing, databases, notes):
        app.register_blueprint(module.bp)
    app.register_blueprint(publishing.bp)
    app.add_url_rule("/lang", "lang", _set_lang, methods=["POST"])
    app.register_error_handler(KeystoreError, _keystore_lost)
    return app


def _keystore_lost(exc: KeystoreError):  # type: ignore[no-untyped-def]
    """A lost or damaged keystore stops every page that needs it, with the way back."""
    text = f"error: {exc}\nhint: {exc.hint}"
    return Response(f"<!doctype html><title>chartseal</title><pre>{escape(text)}</pre>", 503,
                    mimetype="text/html")


def _set_lang():  # type: ignore[no-untyped-def]
    """Switch the page language; stays in a cookie, not in the clinic's settings."""
    choice = request.form.get("lang", "en")
    resp = redirect(web.local_path(request.form.get("next"), "/"), code=303)
    if choice in web.LANGS:
        resp.set_cookie(web.LANG_COOKIE, choice, httponly=True, samesite="Strict", path="/")
    return resp
