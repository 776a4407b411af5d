"""status."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("status", __name__)
CLI_COMMANDS = ("service status", "service install", "service uninstall")


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return page("status.html", "status")
