"""Text normalizations shared by the exporter and the browser app (docs/FORMAT.md 2, 6.2).

The browser implements the same rules in JavaScript and both sides check
``tests/vectors/normalize.json``, so every rule is spelled out here exactly, with the
character sets listed instead of relying on each language's idea of "white space".

White space (WS), for every function below, is exactly these code points:
    U+0009-U+000D, U+0020, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
    U+205F, U+3000, U+FEFF
(listed because Python's str.split() and JavaScript's \\s disagree on a few code points).

normalize_card(s): remove every WS character, then upper-case (full Unicode upper-case
    mapping, as Python str.upper() and JS toUpperCase()).

normalize_user(s): NFC, strip WS at both ends, lower-case.

normalize_search(s), applied in this order:
    1. NFC, then lower-case (full Unicode mapping: str.lower() / toLowerCase()).
    2. NFD, then remove every character of general category Mn (non-spacing mark).
       This removes Latin accents (é -> e), the Arabic diacritics U+064B-U+0652 and
       U+0670, and the hamza/madda marks that NFD splits off, so آ أ إ -> ا and, as a
       consequence, ؤ -> و and ئ -> ي. Then NFC again (recomposes e.g. Hangul).
    3. Remove tatweel U+0640.
    4. Fold letters: ٱ (U+0671) and any remaining آ أ إ -> ا (U+0627);
       ى (U+0649) -> ي (U+064A); ة (U+0629) -> ه (U+0647).
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

_FOLD = {
    0x0640: None,  # tatweel
    0x0622: 0x0627,  # آ
    0x0623: 0x0627,  # أ
    0x0625: 0x0627,  # إ
    0x0671: 0x0627,  # ٱ
    0x0649: 0x064A,  # ى -> ي
    0x0629: 0x0647,  # ة -> ه
}
_FOLD.update({0x0660 + i: 0x30 + i for i in range(10)})
_FOLD.update({0x06F0 + i: 0x30 + i for i in range(10)})


def _strip_ws(text: str) -> str:
    return text.strip(WS_CHARS)


def normalize_card(text: str) -> str:
    """Card number as used in identifiers: no white space at all, upper-case."""
    return _WS_RUN.sub("", text).upper()


def normalize_user(text: str) -> str:
    """Account user name: NFC, trimmed, lower-case."""
    return _strip_ws(unicodedata.normalize("NFC", text)).lower()


def normalize_search(text: str) -> str:
    """Fold text for matching a typed query against names, cards and phone numbers."""
    text = unicodedata.normalize("NFC", text).lower()
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = unicodedata.normalize("NFC", text).translate(_FOLD)
    return _strip_ws(_WS_RUN.sub(" ", text))
