"""Sharing: a database or chosen patients with an account, optionally until a day; stop sharing."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, request

from exporter import access
from exporter.patient_list import list_patients

from .web import FormError, attempt, current_home, done, keys, page, t

bp = Blueprint("sharing", __name__)
CLI_COMMANDS = ("share", "unshare", "shares")
MAX_FOUND = 100  # a search shows at most this many patients to tick; narrow it for more


def _show(errors: dict[str, FormError] | None = None, status: int = 200, **form: str):  # type: ignore[no-untyped-def]
    home, conn = current_home(), keys()
    errors = errors or {}
    db = form.get("db") or request.args.get("db") or next(iter(sorted(home.databases)), "")
    query = form.get("q", request.args.get("q", "")).strip()
    found = []
    if query and db in home.databases:
        found = attempt(errors, "q", list_patients, home, conn, query, db) or []
    accounts = [a for a in access.list_accounts(conn) if not a.builtin]
    return page("sharing.html", "sharing", status, shares=access.list_shares(conn),
                accounts=accounts, databases=sorted(home.databases), db=db, query=query,
                found=found[:MAX_FOUND], more=len(found) > MAX_FOUND, errors=errors, form=form,
                today=date.today().isoformat())


@bp.get("/sharing")
def index():  # type: ignore[no-untyped-def]
    return _show()


@bp.post("/sharing/share")
def share():  # type: ignore[no-untyped-def]
    home, conn = current_home(), keys()
    db = request.form.get("db", "")
    account = request.form.get("account", "")
    until = request.form.get("until", "").strip()
    cards = request.form.getlist("card") if request.form.get("what") == "patients" else []
    errors: dict[str, FormError] = {}
    keep = dict(db=db, account=account, until=until, q=request.form.get("q", ""),
                what=request.form.get("what", "all"))
    if attempt(errors, "db", home.database, db) is None:
        return _show(errors, 400, **keep)
    if request.form.get("what") == "patients" and not cards:
        errors["card"] = FormError(t("sharing.tick_some"), "", "")
        return _show(errors, 400, **keep)
    field = "until" if until else "account"
    attempt(errors, field, access.share, conn, db, account, cards, until, today=date.today())
    if errors:
        if field == "until" and not errors[field].message.startswith(("--until", "the last day")):
            errors["account"] = errors.pop("until")
        return _show(errors, 400, **keep)
    return done("/sharing", "shared", account)


@bp.post("/sharing/stop")
def stop():  # type: ignore[no-untyped-def]
    conn = keys()
    db, account, card = (request.form.get(k, "") for k in ("db", "account", "card"))
    errors: dict[str, FormError] = {}
    attempt(errors, "stop", access.unshare, conn, db, account, [card] if card else [],
            access.known_cards(conn))
    if errors:
        return _show(errors, 400)
    return done("/sharing", "unshared", account)
