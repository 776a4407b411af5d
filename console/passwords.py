"""passwords."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("passwords", __name__)
CLI_COMMANDS = ('passwords set', 'passwords show')


@bp.get("/passwords")
def index():  # type: ignore[no-untyped-def]
    return page("passwords.html", "passwords")
