"""Databases: the clinic databases with their paths; add, remove, automatic update."""
from __future__ import annotations

from flask import Blueprint, request

from exporter import databases as core

from .web import FormError, attempt, current_home, done, flag, page

bp = Blueprint("databases", __name__)
CLI_COMMANDS = ("db add", "db remove", "db list", "db auto-update")


def _show(errors: dict[str, FormError] | None = None, status: int = 200, **form: str):  # type: ignore[no-untyped-def]
    dbs = sorted(current_home().databases.values(), key=lambda d: d.name)
    return page("databases.html", "databases", status, databases=dbs, errors=errors or {},
                form=form)


@bp.get("/databases")
def index():  # type: ignore[no-untyped-def]
    return _show()


@bp.post("/databases/add")
def add():  # type: ignore[no-untyped-def]
    name = request.form.get("name", "").strip()
    path = request.form.get("path", "").strip()
    errors: dict[str, FormError] = {}
    field = "name" if not name or not _name_ok(name) else "path"
    attempt(errors, field, core.add_database, current_home().root, name, path,
            auto_update=flag("auto_update"))
    if errors:
        return _show(errors, 400, name=name, path=path)
    return done("/databases", "db_added", name)


def _name_ok(name: str) -> bool:
    try:
        core.check_name(name)
    except Exception:
        return False
    return name not in current_home().databases


@bp.post("/databases/<name>/remove")
def remove(name: str):  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    attempt(errors, f"db-{name}", core.remove_database, current_home().root, name)
    if errors:
        return _show(errors, 400)
    return done("/databases", "db_removed", name)


@bp.post("/databases/<name>/auto-update")
def auto_update(name: str):  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    on = flag("auto_update")
    attempt(errors, f"db-{name}", core.set_auto_update, current_home().root, name, on)
    if errors:
        return _show(errors, 400)
    return done("/databases", "auto_on" if on else "auto_off", name)
