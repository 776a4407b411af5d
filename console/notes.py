"""Notes: every note sent from the site, newest first; unread / all / per patient; mark read."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from exporter.notes_store import ack, list_notes

from .web import FormError, attempt, current_home, done, local_path, page, t, unread_notes

bp = Blueprint("notes", __name__)
CLI_COMMANDS = ("notes fetch", "notes list", "notes ack")
SHOWS = ("unread", "all")


def _show(errors: dict[str, FormError] | None = None, status: int = 200, fetched: str = ""):  # type: ignore[no-untyped-def]
    errors = errors or {}
    show = request.args.get("show", "unread")
    show = show if show in SHOWS else "unread"
    card = request.args.get("card", "").strip()
    rows = attempt(errors, "list", list_notes, current_home(), show == "unread", card or None) or []
    rows.sort(key=lambda n: (n.created_at, n.id), reverse=True)
    return page("notes.html", "notes", status, notes=rows, show=show, card=card, errors=errors,
                fetched=fetched)


@bp.get("/notes")
def index():  # type: ignore[no-untyped-def]
    return _show()


@bp.get("/notes/unread.json")
def unread():  # type: ignore[no-untyped-def]
    return jsonify(unread=unread_notes())


@bp.post("/notes/ack")
def mark_read():  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    ids = request.form.getlist("id")
    changed = attempt(errors, "list", ack, current_home(), ids) if ids else 0
    if errors:
        return _show(errors, 400)
    return done(local_path(request.form.get("next"), "/notes"), "marked", str(changed))


@bp.post("/notes/fetch")
def fetch():  # type: ignore[no-untyped-def]
    from exporter.notes import fetch_notes

    errors: dict[str, FormError] = {}
    result = attempt(errors, "fetch", fetch_notes, current_home())
    if result is None:
        return _show(errors, 400)
    text = t("notes.fetched", n=result.stored)
    if result.rejected:
        text += " " + t("notes.rejected", n=len(result.rejected))
    return _show(fetched=text)
