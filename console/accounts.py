"""accounts."""
from __future__ import annotations

from flask import Blueprint

from .web import page

bp = Blueprint("accounts", __name__)
CLI_COMMANDS = ('accounts list', 'accounts create', 'accounts delete', 'accounts password')


@bp.get("/accounts")
def index():  # type: ignore[no-untyped-def]
    return page("accounts.html", "accounts")
