"""What every console section shares: the home, the keystore, strings, errors next to fields."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Response, current_app, g, redirect, render_template, request
from markupsafe import Markup

from exporter import keystore
from exporter.errors import ChartsealError
from exporter.home import Home, load_home
from site_templates import ROOT as TEMPLATES_ROOT

T = TypeVar("T")
LANGS = ("en", "ar")
LANG_COOKIE = "chartseal_console_lang"
PREFIX = "console."
# The side menu, in the manual's order: (section, path, string key).
MENU = (
    ("status", "/", "menu.status"),
    ("passwords", "/passwords", "menu.passwords"),
    ("patients", "/patients", "menu.patients"),
    ("accounts", "/accounts", "menu.accounts"),
    ("sharing", "/sharing", "menu.sharing"),
    ("databases", "/databases", "menu.databases"),
    ("publishing", "/publishing", "menu.publishing"),
    ("notes", "/notes", "menu.notes"),
)


@lru_cache(maxsize=None)
def strings(lang: str) -> dict[str, str]:
    """The console's strings of one language (``console.*`` keys of the portal's files)."""
    data = json.loads((TEMPLATES_ROOT / "i18n" / f"{lang}.json").read_text("utf-8"))
    return {k[len(PREFIX):]: v for k, v in data.items() if k.startswith(PREFIX)}


def current_home() -> Home:
    """The clinic home, read again for each request so changes made by the CLI show."""
    if "home" not in g:
        g.home = load_home(current_app.config["CONSOLE_HOME"])
    return g.home


def keys() -> sqlite3.Connection:
    """The keystore, opened once per request and closed when it ends."""
    if "keys" not in g:
        g.keys = keystore.connect(current_home().keys_path)
    return g.keys


def close_request(_exc: BaseException | None) -> None:
    conn = g.pop("keys", None)
    if conn is not None:
        conn.close()


def lang() -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGS:
        return chosen
    try:
        return str(current_home().config["lang"])
    except ChartsealError:
        return "en"


def t(key: str, **values: Any) -> str:
    """The string ``console.<key>`` in the page's language (English when it lacks one)."""
    text = strings(lang()).get(key) or strings("en").get(key) or key
    return text.format(**values) if values else text


@dataclass(frozen=True)
class FormError:
    """A core error shown next to the field it is about."""

    message: str
    hint: str
    kind: str  # the error class name, e.g. WeakPasswordError (offers "use it anyway")


def attempt(errors: dict[str, FormError], field: str, fn: Callable[..., T], *args: Any,
            **kwargs: Any) -> T | None:
    """Run one core call; a ChartsealError lands in ``errors[field]`` and None comes back."""
    try:
        return fn(*args, **kwargs)
    except ChartsealError as exc:
        errors[field] = FormError(str(exc), exc.hint, type(exc).__name__)
        return None


def field_error(errors: dict[str, FormError] | None, field: str) -> Markup:
    """The error paragraph of one field (its id is what aria-describedby points at)."""
    err = (errors or {}).get(field)
    if err is None:
        return Markup("")
    # The core's hint names the CLI's --weak-ok; here the check box below the field does that.
    text = t("password.weak_hint") if err.kind == "WeakPasswordError" else err.hint
    hint = Markup('<span class="hint">%s</span>') % text if text else Markup("")
    return Markup('<p class="error" id="%s-error" role="alert">%s %s</p>') % (field, err.message, hint)


def unread_notes() -> int | None:
    """How many notes are unread, or None when a database cannot be read just now."""
    from exporter.notes_store import list_notes

    try:
        return len(list_notes(current_home(), unread=True))
    except ChartsealError:
        return None


def page(template: str, section: str, status: int = 200, **ctx: Any) -> tuple[str, int]:
    """Render a section's page with what base.html needs."""
    language = lang()
    ctx.setdefault("errors", {})
    ctx.setdefault("notice", notice())
    html = render_template(template, section=section, menu=MENU, lang=language,
                           dir="rtl" if language == "ar" else "ltr", t=t,
                           unread=unread_notes(), home=current_home(), **ctx)
    return html, status


def done(path: str, key: str, name: str = "") -> Response:
    """After a change, back to the section's page with a short "done" line (POST-redirect-GET)."""
    parts = urlsplit(path)
    keep = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("ok", "name")]
    query = urlencode(keep + [("ok", key)] + ([("name", name)] if name else []))
    return redirect(f"{parts.path}?{query}", code=303)


def local_path(text: str | None, default: str) -> str:
    """``text`` if it is a path on this console (never another site), else ``default``."""
    if text and text.startswith("/") and not text.startswith(("//", "/\\")):
        return text
    return default


def notice() -> str:
    key = request.args.get("ok", "")
    if not key or f"ok.{key}" not in strings("en"):
        return ""
    return t(f"ok.{key}", name=request.args.get("name", ""))


def when(text: str) -> str:
    """An ISO time as people read it: "2026-11-24 09:12 UTC" (the input when not ISO)."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return text
    zone = " UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def flag(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "true", "yes")
