"""notes."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("notes", __name__)
CLI_COMMANDS = ('notes fetch', 'notes list', 'notes ack')


@bp.get("/notes")
def index():  # type: ignore[no-untyped-def]
    return page("notes.html", "notes")
