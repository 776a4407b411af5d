"""Text normalizations shared by the exporter and the browser app (docs/FORMAT.md 2, 6.2).

The browser implements the same rules in JavaScript (site_templates/static/js/crypto.js) and
both sides check ``tests/vectors/normalize.json``, so every rule is spelled out here exactly,
with the character sets listed instead of relying on each language's idea of "white space".
FORMAT.md 2 and 6.2 are the normative text; this docstring follows them.

White space (WS), for every function below, is exactly these code points:
    U+0009-U+000D, U+0020, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
    U+205F, U+3000, U+FEFF
(spelled out: Python's str.isspace() adds U+001C-U+001F and U+0085 and lacks U+FEFF;
JavaScript's \\s is this list today but follows the runtime's Unicode data).

Invisible controls (INVISIBLE), removed from search keys only:
    U+00AD, U+061C, U+180E, U+200B-U+200F, U+202A-U+202E, U+2060-U+2064,
    U+2066-U+2069, U+FEFF

Unicode data: case mappings, NFC/NFD and general categories are those of Unicode 17.0 for
every code point assigned in Unicode 14.0 (Python 3.11 ships 14.0, browsers ship 15-17).
The few answers that changed between those versions are applied by explicit tables below
(UPPER_FIXES, and U+1171E, no longer Mn), so a runtime on either version agrees.

normalize_card(s): remove every WS character, upper-case (full mapping, str.upper() /
    toUpperCase(), after UPPER_FIXES), then NFC.

normalize_user(s): NFC, strip WS at both ends, lower-case (str.lower() / toLowerCase()).

normalize_search(s), applied in this order:
    1. Remove every INVISIBLE character (zero-width and bidi controls cannot hide a name).
    2. NFC, then lower-case (full mapping: str.lower() / toLowerCase()).
    3. NFD, then remove every character of general category Mn (non-spacing mark), except
       U+1171E. This removes Latin accents (é -> e), the combining dot of İ's lower case
       (İ -> i), the Arabic diacritics U+064B-U+0652 and U+0670, and the hamza/madda marks
       that NFD splits off, so آ أ إ -> ا and, as a consequence, ؤ -> و and ئ -> ي.
       Then NFC again (recomposes e.g. Hangul).
    4. Fold: tatweel U+0640 removed; ٱ (U+0671) and any remaining آ أ إ -> ا (U+0627);
       ى (U+0649) -> ي (U+064A); ة (U+0629) -> ه (U+0647); final sigma ς (U+03C2) -> σ
       (U+03C3), so the languages' final-sigma rules never matter.
    5. Digits: Arabic-Indic U+0660-U+0669 and Eastern Arabic-Indic U+06F0-U+06F9 -> 0-9.
    6. Replace every run of WS by one U+0020 and strip WS at both ends.
"""
from __future__ import annotations

import re
import unicodedata

WS_CHARS = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u00a0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_WS_CLASS = "[" + re.escape(WS_CHARS) + "]"
_WS_RUN = re.compile(_WS_CLASS + "+")

INVISIBLE_CHARS = (
    "\u00ad\u061c\u180e"
    + "".join(chr(c) for c in range(0x200B, 0x2010))
    + "".join(chr(c) for c in range(0x202A, 0x202F))
    + "".join(chr(c) for c in range(0x2060, 0x2065))
    + "".join(chr(c) for c in range(0x2066, 0x206A))
    + "\ufeff"
)
_INVISIBLE = {ord(c): None for c in INVISIBLE_CHARS}

# Upper-case mappings added after Unicode 14.0 (Python 3.11's data) to letters it already had.
UPPER_FIXES = {0x019B: "\ua7dc", 0x0264: "\ua7cb", 0xA7D3: "\ua7d2", 0xA7D5: "\ua7d4"}
# Mn in Unicode 14.0, Mc since: kept, as a current browser keeps it.
_NOT_MN = "\U0001171e"

_FOLD: dict[int, int | None] = {
    0x0640: None,  # tatweel
    0x0622: 0x0627,  # آ
    0x0623: 0x0627,  # أ
    0x0625: 0x0627,  # إ
    0x0671: 0x0627,  # ٱ
    0x0649: 0x064A,  # ى -> ي
    0x0629: 0x0647,  # ة -> ه
    0x03C2: 0x03C3,  # ς -> σ
}
_FOLD.update({0x0660 + i: 0x30 + i for i in range(10)})
_FOLD.update({0x06F0 + i: 0x30 + i for i in range(10)})


def _strip_ws(text: str) -> str:
    return text.strip(WS_CHARS)


def normalize_card(text: str) -> str:
    """Card number as used in identifiers: no white space at all, upper-case, NFC."""
    upper = _WS_RUN.sub("", text).translate(UPPER_FIXES).upper()
    return unicodedata.normalize("NFC", upper)


def normalize_user(text: str) -> str:
    """Account user name: NFC, trimmed, lower-case."""
    return _strip_ws(unicodedata.normalize("NFC", text)).lower()


def normalize_search(text: str) -> str:
    """Fold text for matching a typed query against names, cards and phone numbers."""
    text = unicodedata.normalize("NFC", text.translate(_INVISIBLE)).lower()
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if c == _NOT_MN or unicodedata.category(c) != "Mn")
    text = unicodedata.normalize("NFC", text).translate(_FOLD)
    return _strip_ws(_WS_RUN.sub(" ", text))
