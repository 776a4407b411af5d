"""Jinja2 rendering: the HTML fragments sealed into bundles, indexes and diary shards, and the
app files (pages plus hashed assets) the site root serves.

Every fragment is autoescaped Jinja2 output: the browser inserts decrypted fragments as
HTML, so this module is where hostile text in a patient row is neutralised. Labels carry
``data-i18n`` keys so the app can switch language without re-rendering data.
"""
from __future__ import annotations

import functools
import json
import unicodedata
from datetime import date
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import jinja2
from markupsafe import Markup

from site_templates import ROOT as TEMPLATES

from . import records
from site_templates.build import AssetError, build_assets, csp

__all__ = [
    "AssetError", "LANGS", "age", "age_group", "app_files", "csp", "diary_day_fragment",
    "list_fragment", "list_pieces", "list_row", "list_rows", "patient_fragment", "patient_today", "strings",
]

LANGS = ("en", "ar")
RTL = frozenset({"ar"})
HEALTH_KINDS = ("condition", "medication", "allergy")


class RenderError(Exception):
    """A template or its strings could not be rendered."""


# -- strings -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def strings(lang: str) -> Mapping[str, str]:
    """The UI strings of one language, from ``site_templates/i18n/<lang>.json``."""
    if lang not in LANGS:
        raise RenderError(f"unknown language {lang!r}, expected one of {', '.join(LANGS)}")
    data = json.loads((TEMPLATES / "i18n" / f"{lang}.json").read_text("utf-8"))
    if not isinstance(data, dict):
        raise RenderError(f"i18n/{lang}.json must hold one JSON object")
    # The clinic console's strings share these files but never go on the site.
    return {k: v for k, v in data.items() if not k.startswith("console.")}


def _translator(lang: str) -> tuple[Callable[[str], str], Callable[[str], Markup]]:
    table = strings(lang)

    def t(key: str) -> str:
        try:
            return table[key]
        except KeyError:
            raise RenderError(f"missing string {key!r} in i18n/{lang}.json") from None

    def label(key: str) -> Markup:
        # Markup's % escapes both arguments, so a translation can never inject markup.
        return Markup('<span data-i18n="%s">%s</span>') % (key, t(key))

    return t, label


# -- filters -----------------------------------------------------------------------------


def money(value: float | int | None, currency: str = "") -> str:
    """``1,500.00`` or, with the clinic's ``currency`` setting, ``1,500.00 SAR``."""
    if value is None:
        return ""
    text = f"{float(value):,.2f}"
    # A no-break space: an amount never wraps away from its currency.
    return f"{text}\u00a0{currency}" if currency else text


def fmt_date(value: date | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fmt_datetime(value: str) -> str:
    """``2026-11-26T10:00:00`` -> ``2026-11-26 10:00``; unknown shapes pass through."""
    text = value.replace("T", " ")
    return text[:16] if len(text) >= 16 and text[10] == " " else text


def text_dir(text: str) -> str:
    """``dir`` for an element holding several isolates (a name's parts): the direction of
    the first strong character, as ``dir="auto"`` would find it if it looked inside them."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return "auto"


def tel_href(number: str) -> str:
    """A ``tel:`` link from a stored number: keep only what a dialer understands."""
    # Decimal digits of any script (Arabic-Indic too) become ASCII; other characters that
    # isdigit() accepts, such as superscripts and circled digits, have no decimal value and
    # are dropped, so no stored text can make this raise.
    kept = []
    for ch in number:
        if ch == "+":
            kept.append(ch)
        elif (value := unicodedata.decimal(ch, None)) is not None:
            kept.append(str(value))
    digits = "".join(kept)
    digits = digits[:1] + digits[1:].replace("+", "")
    return f"tel:{digits}" if digits.strip("+") else ""


def age(birth: date | None, today: date) -> int | None:
    """Completed years on ``today``; ``None`` when unknown or in the future."""
    if birth is None or birth > today:
        return None
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def age_group(years: int | None) -> str:
    if years is None:
        return "unknown"
    if years < 13:
        return "child"
    if years < 18:
        return "teen"
    if years < 60:
        return "adult"
    return "senior"


def gender_key(gender: str) -> str:
    return gender if gender in ("M", "F") else "x"


# -- environment -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        money=money, date=fmt_date, datetime=fmt_datetime, tel=tel_href, gender=gender_key,
        textdir=text_dir
    )
    env.globals.update(age_group=age_group)
    return env


def _render(template: str, lang: str, currency: str = "", **context: Any) -> str:
    t, label = _translator(lang)
    tpl = environment().get_template(template)
    has = strings(lang).__contains__
    return tpl.render(t=t, label=label, has=has, lang=lang, currency=currency, **context).strip()


# -- fragments ---------------------------------------------------------------------------


def _visits_newest_first(p: records.Patient) -> list[records.Visit]:
    return sorted(p.visits, key=lambda v: (v.date, v.id), reverse=True)


def patient_today(p: records.Patient, today: date) -> tuple[int | None, tuple[int, ...]]:
    """What of ``today`` the record view shows: the age and which appointments are upcoming."""
    return age(p.birth_date, today), tuple(a.id for a in p.appointments if a.date >= today)


def patient_fragment(p: records.Patient, today: date, lang: str, currency: str = "") -> str:
    """The record view sealed into a patient bundle (FORMAT.md 6.1 ``html``); the caller
    passes ``p.patient_view()`` for a bundle the patient's own door leads to."""
    health = {kind: [h for h in p.health if h.kind == kind] for kind in HEALTH_KINDS}
    deals = sorted(p.deals, key=lambda d: (d.expired, -(d.start_date or date.min).toordinal()))
    upcoming = sorted(
        (a for a in p.appointments if a.date >= today), key=lambda a: (a.date, a.time)
    )
    # Due is each deal's total after deduction and tax, so due - paid = remaining holds.
    totals = {"due": round(sum(d.total - d.deduction + d.tax for d in deals), 2),
              "paid": round(sum(d.paid for d in deals), 2),
              "remaining": round(sum(d.remaining for d in deals), 2)}
    return _render(
        "fragments/_patient.html", lang, currency, p=p, years=age(p.birth_date, today), health=health,
        deals=deals, totals=totals, visits=_visits_newest_first(p), appointments=upcoming,
    )


def list_row(p: records.Patient, years: int | None) -> str:
    """One patient's row of the doctor's list (the same in every language)."""
    return str(environment().get_template("fragments/_list.html").module.row(p, years))


def list_pieces(rows: Iterable[str]) -> Iterator[str]:
    """``<ol>`` with one ``<li data-i="i">`` per rendered row, in the given order (FORMAT.md
    6.2), piece by piece."""
    yield '<ol class="plist">\n'
    for i, row in enumerate(rows):
        yield f'<li data-i="{i}">{row}</li>\n'
    yield "</ol>"


def list_rows(rows: Iterable[str]) -> str:
    return "".join(list_pieces(rows))


def list_fragment(patients: Sequence[records.Patient], today: date, lang: str) -> str:
    """The list of ``patients`` in the given order (``lang``: rows carry no words)."""
    return list_rows([list_row(p, age(p.birth_date, today)) for p in patients])


def diary_day_fragment(
    day: date,
    visits: Sequence[tuple[records.Patient, records.Visit]],
    appointments: Sequence[tuple[records.Patient, records.Appointment]],
    rids: Mapping[int, str],
    lang: str,
    currency: str = "",
) -> str:
    """One day of the diary: a table of the visits (time, patient, action, paid) with its
    totals row, then the appointments (time, patient, reason)."""
    appts = sorted(appointments, key=lambda pa: (pa[1].time or "99:99", pa[1].id))
    paid = round(sum(v.paid for _, v in visits), 2)
    return _render(
        "fragments/_diary_day.html", lang, currency, day=day, visits=list(visits), appointments=appts,
        rids=rids, paid=paid,
    )


# -- app pages ---------------------------------------------------------------------------

PAGES = {
    "index.html": ("pages/index.html", ""),
    "doctor/index.html": ("pages/doctor.html", "../"),
    "patient/index.html": ("pages/patient.html", "../"),
}


def app_files(lang: str, connect_src: Sequence[str] = ()) -> dict[str, bytes]:
    """Every file the site root needs: the three pages and ``assets/<name>.<hash8>.<ext>``.

    ``connect_src`` adds origins the pages may fetch from (the notes endpoint).
    Raises :class:`AssetError` when ``node_modules`` is missing or holds the wrong libsodium.
    """
    strings(lang)  # validate the language before doing any work
    assets = build_assets({code: dict(strings(code)) for code in LANGS})
    policy = csp(connect_src)
    out: dict[str, bytes] = {f"assets/{name}": data for name, data in assets.files.items()}
    for path, (template, root) in PAGES.items():
        def static(name: str, root: str = root) -> str:
            return root + "assets/" + assets.hashed(name)

        def preloads(entry: str, root: str = root) -> list[str]:
            return [root + "assets/" + name for name in assets.modules(entry)]

        html = _render(
            template, lang, static=static, preloads=preloads, csp=policy, dir="rtl" if lang in RTL else "ltr",
            root=root,
        )
        out[path] = (html + "\n").encode("utf-8")
    return out
