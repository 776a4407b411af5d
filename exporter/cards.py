"""Patient access cards: which patients get one, their address and QR code, and the PDF.

A card carries what a patient needs to open their page: the site address with the clinic ID,
the card number, the password, and a QR code of

    <site_url>/patient/?c=<clinic ID>&k=<card>#p=<password>

The password rides in the URL fragment, which browsers never send to a server or a CDN;
the patient page reads it and removes it from the address bar and history at once
(docs/SECURITY.md). Cards are all-or-nothing: every requested card is checked before any
password changes or any page is drawn, so a refused request changes and prints nothing.
This module is the one the CLI (`chartseal patient-page card`) and the clinic console call.
"""
from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from . import access, card_pdf, keystore
from .clinic_db import ClinicDbError, connect_readonly
from .errors import ChartsealError
from .home import Home
from .normalize import normalize_card

__all__ = ["CardError", "CardInfo", "card_url", "page_address", "prepare", "render_pdf", "check_writable",
           "write_pdf"]
_SHOWN = 8  # cards named in one error message


class CardError(ChartsealError):
    """Access cards cannot be printed for the patients asked for."""


@dataclass(frozen=True)
class CardInfo:
    db: str
    card: str
    name: str
    password: str


def card_url(site_url: str, clinic: str, card: str, password: str) -> str:
    """The QR code's URL: the password in the fragment (never sent), the rest in the query."""
    return (f"{site_url.rstrip('/')}/patient/?c={quote(clinic, safe='')}"
            f"&k={quote(card, safe='')}#p={quote(password, safe='')}")


def page_address(site_url: str, clinic: str) -> str:
    """The address printed as text: the patient page of this clinic, without secrets."""
    return f"{site_url.rstrip('/')}/patient/?c={quote(clinic, safe='')}"


def _check_home(home: Home) -> str:
    site_url = str(home.config.get("site_url") or "")
    if not site_url:
        raise CardError("the site's public address is not set, so a card would carry a wrong"
                        " address", hint="chartseal config set site_url https://records.example.org"
                        " (the URL where <site>/patient/ opens)")
    if not home.config.get("patient_pages", True):
        raise CardError("patient pages are off for this clinic, so no card would open anything",
                        hint="chartseal config set patient_pages on, then publish")
    return site_url


def _rows(conn: sqlite3.Connection, cards: Sequence[str], all_: bool,
          db: str | None) -> list[sqlite3.Row]:
    """Keystore rows of the patients asked for, in the order asked (``--all``: by db, card)."""
    if all_ == bool(cards):
        raise CardError("name the cards to print, or --all, not both" if cards else
                        "no card named", hint="chartseal patient-page card CARD... --out FILE.pdf"
                        " or --all")
    if all_:
        sql = "SELECT * FROM patients WHERE page_enabled = 1"
        rows = conn.execute(sql + (" AND db = ?" if db else "") + " ORDER BY db, card",
                            (db,) if db else ()).fetchall()
        if not rows:
            raise CardError("no exported patient with a page" + (f" in {db}" if db else ""),
                            hint="run chartseal export first; patients get keys then")
        return rows
    out, missing, several = [], [], []
    for raw in dict.fromkeys(normalize_card(c) for c in cards):
        found = conn.execute("SELECT * FROM patients WHERE card = ?" + (" AND db = ?" if db else ""),
                             (raw, db) if db else (raw,)).fetchall()
        if not found:
            missing.append(raw)
        elif len(found) > 1:
            several.append(raw)
        else:
            out.append(found[0])
    if missing:
        raise CardError(f"no exported patient with card {_names(missing)}" + (f" in {db}" if db else ""),
                        hint="check the numbers; new patients get keys at the next export")
    if several:
        raise CardError(f"card {_names(several)} is in several databases", hint="name one with --db")
    return out


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _patient_names(home: Home, dbs: set[str]) -> dict[tuple[str, str], str]:
    """(db, card) -> "first name surname", read from the clinic databases (read-only)."""
    names: dict[tuple[str, str], str] = {}
    for name in sorted(dbs):
        path = home.database(name).path
        conn = connect_readonly(path)
        try:
            rows = conn.execute("SELECT card, first_name, surname FROM patients ORDER BY id")
            for card, first, last in rows:
                key = (name, normalize_card(str(card or "")))
                full = " ".join(str(p) for p in (first, last) if p not in (None, ""))
                names.setdefault(key, full)
        except sqlite3.Error as exc:
            raise ClinicDbError(f"cannot read patients from {path}: {exc}",
                                "check that it is a clinic database (docs/CLINIC_DB.md)") from exc
        finally:
            conn.close()
    return names


def prepare(home: Home, conn: sqlite3.Connection, cards: Sequence[str] = (), *, all: bool = False,
            db: str | None = None, new_password: bool = False) -> list[CardInfo]:
    """Check every card asked for, then (``new_password``) give each a fresh password.

    Refuses, before changing anything, when ``site_url`` is missing, a card is unknown, its
    page is off, its patient left the clinic database, or (without ``new_password``) the
    keystore holds no password for it. With ``new_password`` the old passwords stop opening
    at the next publish (access.set_patient_password retires their doors).
    """
    _check_home(home)
    if db is not None:
        home.database(db)
    rows = _rows(conn, cards, all, db)
    names = _patient_names(home, {r["db"] for r in rows})
    off = [r["card"] for r in rows if not r["page_enabled"]]
    if off:
        raise CardError(f"the page of card {_names(off)} is off, so its card would open nothing",
                        hint="chartseal patient-page enable CARD, then print the card")
    gone = [r["card"] for r in rows if (r["db"], r["card"]) not in names]
    if gone:
        raise CardError(f"card {_names(gone)} is no longer in its clinic database",
                        hint="leave it out, or check the database with chartseal db list")
    unknown = [r["card"] for r in rows if not r["password"]]
    if unknown and not new_password:
        raise CardError(f"the clinic holds no password for card {_names(unknown)}; nothing printed",
                        hint="print them with --new-password (a card printed before stops"
                        " working at the next publish)")
    out = []
    for r in rows:
        password = str(r["password"])
        if new_password:
            password = access.set_patient_password(conn, r["card"], None, r["db"])
        out.append(CardInfo(r["db"], r["card"], names[(r["db"], r["card"])], password))
    return out


def render_pdf(home: Home, cards: Sequence[str] = (), *, all: bool = False, db: str | None = None,
               new_password: bool = False, lang: str = "en", single: bool = False) -> bytes:
    """The PDF of access cards for ``cards`` (card numbers) or ``all`` patients with a page.

    ``db`` picks the database when a card is in several (and limits ``all``);
    ``new_password`` sets a fresh generated password for each first (the old card stops
    working after the next publish); ``lang`` is ``en`` or ``ar`` (right to left);
    ``single`` puts one card per credit-card-size page instead of ten per A4 page with cut
    marks. Raises CardError (or another ChartsealError) before changing anything when any
    card cannot be printed.
    """
    if lang not in card_pdf.LABELS:
        raise CardError(f"unknown card language {lang!r}", hint="use en or ar")
    site_url = _check_home(home)
    keys = keystore.connect(home.keys_path)
    try:
        infos = prepare(home, keys, cards, all=all, db=db, new_password=new_password)
    finally:
        keys.close()
    clinic_name = card_pdf.printable(home.config.get("clinic_name") or "", 80)
    # The card number prints whole (a long one is refused, never cut); so does the password.
    address = page_address(site_url, home.clinic_id)
    faces = [card_pdf.CardFace(clinic_name, card_pdf.printable(i.name), card_pdf.printable(i.card, 200),
                               i.password, address, card_url(site_url, home.clinic_id, i.card, i.password))
             for i in infos]
    try:
        return card_pdf.render(faces, lang=lang, single=single)
    except card_pdf.TooLong as exc:
        raise CardError(f"{exc} is too long to print on a card; nothing printed",
                        hint="give it a generated password with --new-password") from exc


def check_writable(path: str | Path) -> None:
    """Refuse an --out the cards could not be written to before any password changes."""
    folder = Path(path).absolute().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise CardError(f"cannot write {path}: {folder} is not a writable folder",
                        hint="choose a writable folder for --out")


def write_pdf(path: str | Path, data: bytes) -> None:
    """Write the cards owner-only, whole or not at all (they hold passwords)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CardError(f"cannot write {path}: {exc.strerror or exc}",
                        hint="choose a writable folder for --out") from exc
