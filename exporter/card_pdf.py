"""Drawing patient access cards into a PDF (fpdf2, with HarfBuzz shaping for Arabic).

Credit-card size (85.6 x 54 mm, ISO/IEC 7810 ID-1), ten to an A4 page with cut marks, or
one per page. The fonts are bundled (exporter/fonts, SIL OFL 1.1): Noto Sans for Latin text
and Noto Sans Arabic, used as each other's fallback, so a name in either script prints in
either card language. Text goes through HarfBuzz (fpdf2's text shaping), which joins Arabic
letters and orders mixed Arabic and Latin text with the Unicode bidi algorithm.
"""
from __future__ import annotations

import functools
import logging
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Sequence

import segno
from fontTools.ttLib import TTFont
from fpdf import FPDF

CARD_W, CARD_H = 85.6, 54.0  # mm
A4_W, A4_H = 210.0, 297.0
COLS, ROWS = 2, 5
PAD = 4.0
QR_SIZE = 27.0
CUT = 6.0  # length of a cut mark, mm
FONT_FILES = {"latin": "NotoSans-Regular.ttf", "latin-b": "NotoSans-Bold.ttf",
              "arabic": "NotoSansArabic-Regular.ttf", "arabic-b": "NotoSansArabic-Bold.ttf"}
# Bidi embeddings, overrides and isolates would let a hostile name reorder the card's text.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}

LABELS = {
    "en": {"card": "Card number", "password": "Password",
           "how": "Scan the code with a phone camera, or open the address below and type the"
                  " card number and password. Keep this card private: it opens your record."},
    "ar": {"card": "رقم البطاقة", "password": "كلمة المرور",
           "how": "امسح الرمز بكاميرا الهاتف، أو افتح العنوان أدناه واكتب رقم البطاقة وكلمة"
                  " المرور. احتفظ بهذه البطاقة لنفسك: فهي تفتح ملفك."},
}


class TooLong(ValueError):
    """A card number or password that must print whole does not fit on the card."""


@dataclass(frozen=True)
class CardFace:
    """What one card shows; ``url`` (with the password) goes into the QR code only."""
    clinic_name: str
    name: str
    card: str
    password: str
    address: str
    url: str


@functools.lru_cache(maxsize=None)
def _font_path(key: str) -> str:
    return str(resources.files("exporter").joinpath("fonts", FONT_FILES[key]))


@functools.lru_cache(maxsize=1)
def _covered() -> frozenset[int]:
    """Code points that one of the bundled fonts can draw."""
    points: set[int] = set()
    for key in ("latin", "arabic"):
        font = TTFont(_font_path(key), lazy=True)
        points.update(font.getBestCmap())
        font.close()
    return frozenset(points)


def printable(text: str, limit: int = 120) -> str:
    """Text as the card prints it: one line, no control or bidi-override characters, and
    '?' for a character the fonts cannot draw, so nothing is silently dropped."""
    covered = _covered()
    out = []
    for ch in " ".join(str(text).split()):
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            continue
        out.append(ch if ord(ch) in covered or unicodedata.category(ch) == "Cf" else "?")
    return "".join(out)[:limit]


def _direction(text: str, rtl: bool) -> str:
    """'rtl' or 'ltr' from the first strong character (as HTML's dir=auto), else the card's."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return "rtl" if rtl else "ltr"


class _Doc:
    """An fpdf2 document with the bundled fonts and the card language's direction."""

    def __init__(self, lang: str, single: bool) -> None:
        self.rtl = lang == "ar"
        self.labels = LABELS[lang]
        fmt = (CARD_W, CARD_H) if single else "A4"
        self.pdf = FPDF(orientation="portrait", unit="mm", format=fmt)
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margin(0)
        self.pdf.set_creator("chartseal")
        for key in FONT_FILES:
            self.pdf.add_font(key.replace("-b", ""), "B" if key.endswith("-b") else "",
                              _font_path(key))
        # The card language's script first; the other one draws what the first lacks.
        main, other = ("arabic", "latin") if self.rtl else ("latin", "arabic")
        self.main = main
        self._lines: dict[tuple[str, float, float], list[str]] = {}
        self.pdf.set_fallback_fonts([other], exact_match=False)
        self.pdf.set_text_shaping(True, direction="rtl" if self.rtl else "ltr")

    def _font(self, family: str, style: str, size: float) -> None:
        # fpdf2 2.8 does not note that a fallback font's Tf was the last one written: text
        # after a line that ended in the fallback font, in the same family and size, would be
        # drawn with the fallback's font. Choosing another font first makes it write its own.
        self.pdf.set_font("arabic" if family == "latin" else "latin", style, size)
        self.pdf.set_font(family, style, size)

    def text(self, x: float, y: float, w: float, h: float, text: str, size: float,
             bold: bool = False, grey: bool = False, min_size: float = 0.0,
             ltr: bool = False, fit: bool = True, auto: bool = False, exact: str = "") -> None:
        """One line in the box, shrunk down to ``min_size`` to fit, then cut with '…'
        (``fit=False`` for the card's own labels, which are known to fit). ``ltr``: Latin
        text read left to right in either language; ``auto``: the direction of the text's
        first letter (names), so a Latin name on an Arabic card keeps its punctuation.
        ``exact`` names text that must never be cut (a password): TooLong instead."""
        pdf = self.pdf
        self._font("latin" if ltr else self.main, "B" if bold else "", size)
        direction = "ltr" if ltr else _direction(text, self.rtl) if auto else None
        if direction:
            pdf.set_text_shaping(True, direction=direction)
        while fit and min_size and size > min_size and pdf.get_string_width(text) > w:
            size = max(min_size, size - 0.5)
            pdf.set_font_size(size)
        if exact and pdf.get_string_width(text) > w:
            raise TooLong(exact)
        while fit and len(text) > 1 and pdf.get_string_width(text) > w:
            text = text[:-2] + "…"
        pdf.set_text_color(90 if grey else 0)
        pdf.set_xy(x, y)
        pdf.cell(w, h, text, align="R" if self.rtl else "L")
        if direction:
            pdf.set_text_shaping(True, direction="rtl" if self.rtl else "ltr")

    def paragraph(self, x: float, y: float, w: float, text: str, size: float) -> None:
        """Wrapped text; the same on every card, so it is broken into lines once."""
        pdf = self.pdf
        self._font(self.main, "", size)
        pdf.set_text_color(90)
        height = size * 0.42
        key = (text, w, size)
        if key not in self._lines:
            self._lines[key] = pdf.multi_cell(w, height, text, dry_run=True, output="LINES")
        for i, line in enumerate(self._lines[key]):
            pdf.set_xy(x, y + i * height)
            pdf.cell(w, height, line, align="R" if self.rtl else "L")


def _runs(row: Sequence[int]) -> list[tuple[int, int]]:
    """[start, end) of each run of dark modules in a row."""
    out, col = [], 0
    while col < len(row):
        if row[col]:
            start = col
            while col < len(row) and row[col]:
                col += 1
            out.append((start, col))
        else:
            col += 1
    return out


def _qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """The QR code as filled rectangles (vector, sharp at any printer resolution): a run of
    dark modules repeated in the rows below is one taller rectangle, a third fewer to draw."""
    matrix = segno.make(url, error="m", micro=False).matrix
    unit = size / len(matrix)
    pdf.set_fill_color(0)
    open_: dict[tuple[int, int], int] = {}  # run -> first row it appeared in, unbroken
    for row_no, row in enumerate([*matrix, b""]):  # the empty row closes every run
        runs = set(_runs(row))
        for run in [r for r in open_ if r not in runs]:
            first = open_.pop(run)
            pdf.rect(x + run[0] * unit, y + first * unit, (run[1] - run[0]) * unit,
                     (row_no - first) * unit, "F")
        for run in runs:
            open_.setdefault(run, row_no)


def _card(doc: _Doc, face: CardFace, ox: float, oy: float) -> None:
    pdf, lab = doc.pdf, doc.labels
    inner = CARD_W - 2 * PAD
    doc.text(ox + PAD, oy + PAD, inner, 5, face.clinic_name, 10, bold=True, min_size=7, auto=True)
    doc.text(ox + PAD, oy + PAD + 5.5, inner, 4.5, face.name, 9, min_size=6.5, auto=True)
    pdf.set_draw_color(170)
    pdf.set_line_width(0.2)
    pdf.line(ox + PAD, oy + 15.5, ox + CARD_W - PAD, oy + 15.5)
    col_w = inner - QR_SIZE - 3
    qr_x = ox + PAD if doc.rtl else ox + CARD_W - PAD - QR_SIZE
    col_x = ox + PAD + QR_SIZE + 3 if doc.rtl else ox + PAD
    _qr(pdf, face.url, qr_x, oy + 16.5, QR_SIZE)
    doc.text(col_x, oy + 17, col_w, 3, lab["card"], 6.5, grey=True, fit=False)
    doc.text(col_x, oy + 20, col_w, 5, face.card, 11, bold=True, min_size=5.5, ltr=True,
             exact=f"the card number {face.card!r}")
    doc.text(col_x, oy + 26, col_w, 3, lab["password"], 6.5, grey=True, fit=False)
    doc.text(col_x, oy + 29, col_w, 5.5, face.password, 12, bold=True, min_size=5.5, ltr=True,
             exact=f"the password of card {face.card!r}")
    doc.paragraph(col_x, oy + 35.5, col_w, lab["how"], 5.2)
    doc.text(ox + PAD, oy + CARD_H - PAD - 3, inner, 3, face.address, 6.5, min_size=4, ltr=True)


def _cut_marks(pdf: FPDF, x0: float, y0: float) -> None:
    """Short lines in the margins, on every edge between cards, for a guillotine."""
    pdf.set_draw_color(0)
    pdf.set_line_width(0.15)
    x1, y1 = x0 + COLS * CARD_W, y0 + ROWS * CARD_H
    for i in range(COLS + 1):
        x = x0 + i * CARD_W
        pdf.line(x, y0 - 1 - CUT, x, y0 - 1)
        pdf.line(x, y1 + 1, x, y1 + 1 + CUT)
    for j in range(ROWS + 1):
        y = y0 + j * CARD_H
        pdf.line(x0 - 1 - CUT, y, x0 - 1, y)
        pdf.line(x1 + 1, y, x1 + 1 + CUT, y)


def _chunks(faces: Sequence[CardFace], n: int) -> Iterable[Sequence[CardFace]]:
    for i in range(0, len(faces), n):
        yield faces[i:i + n]


def render(faces: Sequence[CardFace], lang: str = "en", single: bool = False) -> bytes:
    """The PDF of ``faces`` (at least one): one per page with ``single``, else ten per A4."""
    if lang not in LABELS:
        raise ValueError(f"expected en or ar, got {lang!r}")
    # fpdf2 logs each glyph a font lacks; printable() already replaced those characters.
    logging.getLogger("fpdf").setLevel(logging.ERROR)
    doc = _Doc(lang, single)
    if single:
        for face in faces:
            doc.pdf.add_page()
            _card(doc, face, 0.0, 0.0)
    else:
        x0, y0 = (A4_W - COLS * CARD_W) / 2, (A4_H - ROWS * CARD_H) / 2
        for page in _chunks(faces, COLS * ROWS):
            doc.pdf.add_page()
            _cut_marks(doc.pdf, x0, y0)
            for i, face in enumerate(page):
                col = COLS - 1 - i % COLS if doc.rtl else i % COLS  # Arabic: from the right
                _card(doc, face, x0 + col * CARD_W, y0 + (i // COLS) * CARD_H)
    return bytes(doc.pdf.output())
