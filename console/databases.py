"""databases."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("databases", __name__)
CLI_COMMANDS = ('db add', 'db remove', 'db list', 'db auto-update')


@bp.get("/databases")
def index():  # type: ignore[no-untyped-def]
    return page("databases.html", "databases")
