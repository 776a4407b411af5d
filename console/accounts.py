"""Accounts: list, create (with a generated, chosen or no password), change password, delete."""
from __future__ import annotations

from flask import Blueprint, request

from exporter import access

from .web import FormError, attempt, done, flag, keys, page, t

bp = Blueprint("accounts", __name__)
CLI_COMMANDS = ("accounts list", "accounts create", "accounts delete", "accounts password")


def _show(errors: dict[str, FormError] | None = None, status: int = 200, **form: str):  # type: ignore[no-untyped-def]
    conn = keys()
    shares: dict[str, list[tuple[str, str, str]]] = {}
    for db, account, card, until in access.list_shares(conn):
        shares.setdefault(account, []).append((db, card, until))
    return page("accounts.html", "accounts", status, accounts=access.list_accounts(conn),
                shares=shares, errors=errors or {}, form=form)


@bp.get("/accounts")
def index():  # type: ignore[no-untyped-def]
    return _show()


def chosen_password(prefix: str = "") -> str | None:
    """The password a form asks for: None to generate one, "" for none, else the typed one."""
    how = request.form.get(prefix + "how", "generate")
    if how == "none":
        return ""
    if how == "own":
        return request.form.get(prefix + "password", "")
    return None


@bp.post("/accounts/create")
def create():  # type: ignore[no-untyped-def]
    name = request.form.get("name", "").strip()
    password = chosen_password()
    errors: dict[str, FormError] = {}
    field = "name" if not name else "password"
    made = None
    if name:
        # the name is checked first so its errors sit next to the name field
        made = attempt(errors, "password", access.create_account, keys(), name, password,
                       weak_ok=flag("weak_ok"))
        if errors and errors["password"].message.startswith(("user name", "an account")):
            errors["name"] = errors.pop("password")
    else:
        errors[field] = FormError(t("accounts.name_required"), "", "")
    if made is None:
        return _show(errors, 400, name=name, how=request.form.get("how", "generate"))
    user, pw = made
    return page("shown.html", "accounts", heading=t("accounts.created", name=user),
                facts=[(t("accounts.user"), user)], secret=pw,
                empty=t("accounts.no_password"), back="/accounts")


@bp.post("/accounts/<name>/password")
def password(name: str):  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    pw = attempt(errors, f"pw-{name}", access.set_account_password, keys(), name,
                 chosen_password(), weak_ok=flag("weak_ok"))
    if pw is None:
        return _show(errors, 400, open=name, how=request.form.get("how", "generate"))
    return page("shown.html", "accounts", heading=t("accounts.new_password", name=name),
                facts=[(t("accounts.user"), name)], secret=pw,
                empty=t("accounts.no_password"), back="/accounts")


@bp.post("/accounts/<name>/delete")
def delete(name: str):  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    conn = keys()
    attempt(errors, f"del-{name}", access.delete_account, conn, name, access.known_cards(conn))
    if errors:
        return _show(errors, 400)
    return done("/accounts", "account_deleted", name)
