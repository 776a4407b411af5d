"""The console's Publishing section: update all, publish changes, synchronize, the upload list
and log, and the target setting (CLI: publish, queue, log, sync)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("publishing", __name__)

CLI_COMMANDS = ("publish", "queue", "log", "sync", "jobs", "test-target")


@bp.get("/publishing")
def index() -> str:
    return "publishing"
