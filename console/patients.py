"""Patient pages: the clinic switch, and per patient the page on/off and a new password.

Searching a patient shows that patient's unread notes first: the manual's "note reminder"
when a patient's file is opened.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Response, request

from exporter import access, cards, databases
from exporter.notes_store import list_notes
from exporter.patient_list import list_patients

from .accounts import chosen_password
from .web import FormError, attempt, current_home, done, flag, keys, page, t

bp = Blueprint("patients", __name__)
CLI_COMMANDS = ("patient-page enable", "patient-page disable", "patient-page password",
                "patient-page card")
PER_PAGE = 50
REMIND_AT_MOST = 20  # a search matching more patients than this is a list, not "a patient"


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 10**6 else 1


def _show(errors: dict[str, FormError] | None = None, status: int = 200, **form: str):  # type: ignore[no-untyped-def]
    home, errors = current_home(), errors or {}
    query = form.get("q", request.args.get("q", "")).strip()
    rows = attempt(errors, "q", list_patients, home, keys(), query) or []
    pages = max(1, -(-len(rows) // PER_PAGE))
    number = min(_number(form.get("p") or request.args.get("p")), pages)
    shown = rows[(number - 1) * PER_PAGE: number * PER_PAGE]
    # An error about a patient not in the rows shown (a card that does not exist) goes on top.
    rids = {f"{r.db}-{r.card}" for r in shown if r.exported}
    for key in [k for k in errors if k.startswith(("row-", "page-"))]:
        if key.split("-", 1)[1] not in rids:
            errors["patient"] = errors.pop(key)
    reminders = []
    if query and 0 < len(rows) <= REMIND_AT_MOST:
        cards = {(r.db, r.card) for r in rows}
        notes = attempt(errors, "notes", list_notes, home, True) or []
        reminders = sorted((n for n in notes if (n.db, n.card) in cards),
                           key=lambda n: n.created_at, reverse=True)
    return page("patients.html", "patients", status, rows=shown, total=len(rows), query=query,
                number=number, pages=pages, reminders=reminders, errors=errors, form=form,
                clinic_on=bool(home.config["patient_pages"]), card_lang=str(home.config["lang"]))


@bp.get("/patients")
def index():  # type: ignore[no-untyped-def]
    return _show()


def _back() -> str:
    q, p = request.form.get("q", ""), request.form.get("p", "")
    rest = urlencode({k: v for k, v in (("q", q), ("p", p)) if v})
    return "/patients" + ("?" + rest if rest else "")


@bp.post("/patients/clinic")
def clinic_switch():  # type: ignore[no-untyped-def]
    errors: dict[str, FormError] = {}
    on = flag("patient_pages")
    attempt(errors, "clinic", databases.set_setting, current_home().root, "patient_pages",
            "on" if on else "off")
    if errors:
        return _show(errors, 400)
    return done("/patients", "pages_on" if on else "pages_off")


def _patient() -> tuple[str, str]:
    return request.form.get("db", ""), request.form.get("card", "")


@bp.post("/patients/page")
def patient_page():  # type: ignore[no-untyped-def]
    db, card = _patient()
    errors: dict[str, FormError] = {}
    on = flag("page_enabled")
    attempt(errors, f"page-{db}-{card}", access.set_patient_page, keys(), card, on, db)
    if errors:
        return _show(errors, 400, q=request.form.get("q", ""), p=request.form.get("p", ""))
    return done(_back(), "page_on" if on else "page_off", card)


@bp.post("/patients/password")
def patient_password():  # type: ignore[no-untyped-def]
    db, card = _patient()
    errors: dict[str, FormError] = {}
    min_bits = current_home().config["patient_password_min_bits"]
    pw = attempt(errors, f"row-{db}-{card}", access.set_patient_password, keys(), card,
                 chosen_password(), db, weak_ok=flag("weak_ok"), min_bits=min_bits)
    if pw is None:
        return _show(errors, 400, q=request.form.get("q", ""), p=request.form.get("p", ""),
                     open=f"{db}-{card}", how=request.form.get("how", "generate"))
    return page("shown.html", "patients", heading=t("patients.new_password", name=card),
                facts=[(t("card"), card), (t("sharing.database"), db)], secret=pw,
                note=t("patients.password_note"), back=_back())


@bp.post("/patients/cards")
def print_cards():  # type: ignore[no-untyped-def]
    """Access cards as a PDF download: one patient's (a row's button) or every page's."""
    db, card = _patient()
    home, errors = current_home(), {}  # type: ignore[var-annotated]
    lang = request.form.get("lang") or str(home.config["lang"])
    pdf = attempt(errors, "cards", cards.render_pdf, home, [card] if card else [],
                  all=not card, db=db or None, new_password=flag("new_password"), lang=lang,
                  single=flag("single"))
    if pdf is None:
        return _show(errors, 400, q=request.form.get("q", ""), p=request.form.get("p", ""))
    name = f"cards-{card or 'all'}.pdf".replace("/", "_")
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
