"""Passwords: the login, admin and general passwords; set your own or generate; shown once."""
from __future__ import annotations

from flask import Blueprint, abort, request

from exporter import access, backup, keystore
from exporter.backup_format import key_text

from .accounts import chosen_password
from .web import FormError, attempt, current_home, done, flag, keys, page, t

bp = Blueprint("passwords", __name__)
CLI_COMMANDS = ("passwords set", "passwords show", "backup key", "backup create")


def _show(errors: dict[str, FormError] | None = None, status: int = 200, **form: str):  # type: ignore[no-untyped-def]
    return page("passwords.html", "passwords", status, which=access.CLINIC_PASSWORDS,
                errors=errors or {}, form=form)


@bp.get("/passwords")
def index():  # type: ignore[no-untyped-def]
    return _show()


@bp.post("/passwords/<which>")
def change(which: str):  # type: ignore[no-untyped-def]
    if which not in access.CLINIC_PASSWORDS:
        abort(404)
    errors: dict[str, FormError] = {}
    pw = attempt(errors, which, access.set_clinic_password, keys(), which, chosen_password(),
                 weak_ok=flag("weak_ok"))
    if pw is None:
        return _show(errors, 400, open=which, how=request.form.get("how", "generate"))
    facts = [(t("accounts.user"), access.ADMIN)] if which == "admin" else []
    return page("shown.html", "passwords", heading=t(f"passwords.new_{which}"), facts=facts,
                secret=pw, note=t("passwords.next_publish"), back="/passwords")


@bp.post("/passwords/show")
def show():  # type: ignore[no-untyped-def]
    """The three passwords (``passwords show``): by POST, so no link or history entry opens them."""
    conn = keys()
    current = [(t(f"passwords.{w}"), keystore.get_text(conn, f"{w}_password"))
               for w in access.CLINIC_PASSWORDS]
    return page("shown_all.html", "passwords", current=current)


@bp.post("/passwords/recovery-key")
def recovery_key():  # type: ignore[no-untyped-def]
    """The recovery key (``backup key``): by POST, like the passwords; made if there is none."""
    rk, _new = backup.ensure_recovery_key(keys())
    return page("shown.html", "passwords", heading=t("passwords.recovery"), facts=[],
                secret=key_text(rk), secret_label=t("passwords.recovery"),
                note=t("passwords.recovery_note"), back="/passwords")


@bp.post("/passwords/backup")
def write_backup():  # type: ignore[no-untyped-def]
    """A keystore backup into backup_dir now (``backup create``)."""
    backup.ensure_recovery_key(keys())
    errors: dict[str, FormError] = {}
    path = attempt(errors, "backup", backup.create_backup, current_home())
    if path is None:
        return _show(errors, 400)
    return done("/passwords", "backup_written", str(path))
