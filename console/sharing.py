"""sharing."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("sharing", __name__)
CLI_COMMANDS = ('share', 'unshare', 'shares')


@bp.get("/sharing")
def index():  # type: ignore[no-untyped-def]
    return page("sharing.html", "sharing")
