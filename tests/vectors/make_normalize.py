"""Write tests/vectors/normalize.json (FORMAT.md 2: cards, users, search keys).

Every expected answer below is written by hand from the spec, not computed: the script
refuses to write the file when exporter/normalize.py disagrees with one, so the vectors
state the rules and both languages are checked against them. make_vectors.py runs it too.

    .venv/bin/python tests/vectors/make_normalize.py
"""
from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from exporter import normalize as norm  # noqa: E402

OUT = Path(__file__).resolve().parent

SEARCH = [
    ("Hello World", "hello world"),
    ("  José   García  ", "jose garcia"),
    ("Zoë Brontë", "zoe bronte"),
    ("FRANÇOIS Müller", "francois muller"),
    ("Ångström Øre", "angstrom øre"),
    ("naïve café", "naive cafe"),
    ("ŞEYMA Çelik", "seyma celik"),
    ("O'Brien & Sons", "o'brien & sons"),
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ("tab\there\nnewline", "tab here newline"),
    ("no\u00a0break\u2003em\u3000ideographic end", "no break em ideographic end"),
    ("e\u0301cole", "ecole"),
    ("école", "ecole"),
    # Greek: lower-case, then final sigma folded to sigma (no language's context rule matters)
    ("ΟΔΟΣ", "οδοσ"),
    ("ΣΟΦΊΑ ΣΑΣ", "σοφια σασ"),
    ("οδος", "οδοσ"),
    # İ lower-cases to i + U+0307 in both languages; the mark then goes
    ("İstanbul", "istanbul"),
    ("IŞIK ılık", "işik ılık".replace("ş", "s")),
    ("Straße", "straße"),
    ("ǰ", "j"),
    ("한국", "한국"),
    ("ﬁ", "ﬁ"),
    ("Ⅻ", "ⅻ"),
    ("שָׁלוֹם", "שלום"),
    ("हिंदी", "हिदी"),  # only Mn goes: the anusvara, not the spacing vowel signs (Mc)
    ("مُحَمَّد", "محمد"),
    ("أحمد", "احمد"),
    ("إبراهيم", "ابراهيم"),
    ("آمنة", "امنه"),
    ("ٱلله", "الله"),
    ("مصطفى", "مصطفي"),
    ("فاطمة", "فاطمه"),
    ("عـــلـي", "علي"),
    ("قُرْآن", "قران"),
    ("رحمٰن", "رحمن"),
    ("مؤمن", "مومن"),
    ("عائشة", "عايشه"),
    ("٠١٢٣٤٥٦٧٨٩", "0123456789"),
    ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),
    ("+٩٦١ ٣ ١٢٣ ٤٥٦", "+961 3 123 456"),
    ("سَلْمَى الحُسَيْنِي", "سلمي الحسيني"),
    ("ليلى حداد ٠٧٠", "ليلي حداد 070"),
    ("Layla  حَدّاد  12", "layla حداد 12"),
    ("ﻻ", "ﻻ"),
    ("AB 12-34", "ab 12-34"),
    ("", ""),
    ("   ", ""),
    # zero-width and bidi controls are removed, not turned into spaces (item 6 of issue 10)
    ("Sa\u200bmi", "sami"),
    ("\u202eimaS\u202c", "imas"),
    ("\u2067أمل\u2069 \u2066Amal\u2069", "امل amal"),
    ("م\u061cحمد", "محمد"),
    ("ab\ufeffcd", "abcd"),
    ("\ufeff Amal \ufeff", "amal"),
    ("a\u200c\u200d\u200e\u200fb", "ab"),
    ("co\u00adop", "coop"),
    ("a\u2060b\u2064c", "abc"),
    ("\u180eab", "ab"),
    # not white space: U+0085, U+001C-U+001F, U+180E is invisible (removed) not a separator
    ("a\u0085b", "a\u0085b"),
    ("a\u001cb\u001fc", "a\u001cb\u001fc"),
    ("a\u2028\u2029b", "a b"),
    # letters whose case or category changed after Unicode 14.0
    ("a\U0001171eb", "a\U0001171eb"),
]

CARD = [
    (" ab 12 ", "AB12"),
    ("12\t34\n56", "123456"),
    ("x\u00a0y\u3000z\ufeff", "XYZ"),
    ("000123", "000123"),
    ("", ""),
    ("ab\u2028cd\u2029", "ABCD"),
    ("\u1680a\u2000b\u200ac\u202fd\u205fe", "ABCDE"),
    ("straße", "STRASSE"),
    ("٤٥٦x", "٤٥٦X"),
    ("e\u0301", "\u00c9"),  # NFC at the end: decomposed and composed spellings are one card
    ("ǰ", "J\u030c"),  # no precomposed capital: stays decomposed after NFC
    ("ƛ-ɤ-ꟓ-ꟕ", "\ua7dc-\ua7cb-\ua7d2-\ua7d4"),
    ("ı", "I"),
    ("i", "I"),
    # not white space in the card rule: kept, so the card does not match one without them
    ("a\u0085b", "A\u0085B"),
    ("a\u001cb", "A\u001cB"),
    ("a\u200bb", "A\u200bB"),
    ("a\u180eb", "A\u180eB"),
]

USER = [
    ("  Dr.Sami ", "dr.sami"),
    ("ADMIN", "admin"),
    ("Jose\u0301", "jos\u00e9"),
    ("\u00a0ليلى\u3000", "ليلى"),
    ("\ufeffadmin\u2029", "admin"),
    ("Dr  Amal", "dr  amal"),  # inner white space is kept
    ("İpek", "i\u0307pek"),
    ("ΟΔΟΣ", "οδος"),  # final sigma: both languages apply the context rule of toLowerCase
    ("\u0085admin", "\u0085admin"),
    ("admin\u200b", "admin\u200b"),
]


def check(name: str, fn: Any, rows: list[tuple[str, str]]) -> list[dict[str, str]]:
    out = []
    for raw, want in rows:
        got = fn(raw)
        if got != want:
            raise SystemExit(f"{name}({raw!r}) = {got!r}, the vector says {want!r}: fix one of them")
        out.append({"in": raw, "out": want})
    return out


def _escape_invisible(text: str) -> str:
    """JSON text with letters left readable but controls, spaces and marks escaped, so the
    file shows exactly which code point each case holds."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}")
        elif ch != " " and ch != "\n" and unicodedata.category(ch)[0] in "CZM":
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def write(name: str, doc: Any) -> None:
    text = _escape_invisible(json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True)) + "\n"
    (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote tests/vectors/{name}")


def normalize_doc() -> dict[str, Any]:
    return {
        "comment": "FORMAT.md 2 (card, user) and 6.2 (search); answers written by hand from the spec",
        "white_space": [f"{ord(c):04X}" for c in norm.WS_CHARS],
        "invisible": [f"{ord(c):04X}" for c in norm.INVISIBLE_CHARS],
        "search": check("normalize_search", norm.normalize_search, SEARCH),
        "card": check("normalize_card", norm.normalize_card, CARD),
        "user": check("normalize_user", norm.normalize_user, USER),
    }


def main() -> None:
    write("normalize.json", normalize_doc())


if __name__ == "__main__":
    main()
