"""Normalizations: the shared vectors (also checked by the JavaScript tests), each rule, and
every code point of Unicode 14.0 through both languages."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from exporter.normalize import INVISIBLE_CHARS, WS_CHARS, normalize_card, normalize_search, normalize_user

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "normalize.json").read_text("utf-8"))
FN = {"search": normalize_search, "card": normalize_card, "user": normalize_user}
CASES = [(kind, case) for kind in FN for case in VECTORS[kind]]


def test_vector_file_is_substantial():
    assert len(VECTORS["search"]) >= 50 and len(VECTORS["card"]) >= 15 and len(VECTORS["user"]) >= 8
    assert all(set(case) == {"in", "out"} for _, case in CASES)
    arabic = [c for c in VECTORS["search"] if any("\u0600" <= ch <= "\u06ff" for ch in c["in"])]
    assert len(arabic) >= 15


def test_vector_file_lists_the_sets():
    # The sets are spelled out in the vectors so a third implementation can copy them.
    assert [int(x, 16) for x in VECTORS["white_space"]] == [ord(c) for c in WS_CHARS]
    assert [int(x, 16) for x in VECTORS["invisible"]] == [ord(c) for c in INVISIBLE_CHARS]


@pytest.mark.parametrize("kind, case", CASES, ids=lambda x: x if isinstance(x, str) else repr(x["in"][:16]))
def test_vectors(kind, case):
    assert FN[kind](case["in"]) == case["out"]


@pytest.mark.parametrize("kind, case", CASES, ids=lambda x: x if isinstance(x, str) else repr(x["in"][:16]))
def test_idempotent(kind, case):
    assert FN[kind](case["out"]) == case["out"]


def test_every_arabic_diacritic_and_tatweel_removed():
    marks = [chr(c) for c in range(0x064B, 0x0653)] + ["\u0670", "\u0640"]
    for mark in marks:
        assert normalize_search(f"ب{mark}ت") == "بت", hex(ord(mark))


def test_letter_folds():
    for alef in "آأإٱ":
        assert normalize_search(alef) == "ا"
    assert normalize_search("ى") == "ي"
    assert normalize_search("ة") == "ه"
    assert normalize_search("Σ ς σ") == "σ σ σ"


def test_all_digits_fold():
    arabic_indic = "".join(chr(0x0660 + i) for i in range(10))
    eastern = "".join(chr(0x06F0 + i) for i in range(10))
    assert normalize_search(arabic_indic) == normalize_search(eastern) == "0123456789"


def test_every_listed_white_space_collapses():
    assert len(WS_CHARS) == 25
    for ws in WS_CHARS:
        assert normalize_card(f"{ws}a{ws}1{ws}") == "A1", hex(ord(ws))
        assert normalize_user(f"{ws}A{ws}") == "a", hex(ord(ws))
        if ws not in INVISIBLE_CHARS:
            assert normalize_search(f"{ws}A{ws}{ws}b{ws}") == "a b", hex(ord(ws))


def test_every_invisible_control_is_removed_from_search_keys():
    assert len(INVISIBLE_CHARS) == 23
    for ch in INVISIBLE_CHARS:
        assert normalize_search(f"{ch}A{ch}b{ch}") == "ab", hex(ord(ch))
        assert unicodedata.category(ch) in ("Cf", "Mn"), hex(ord(ch))


@pytest.mark.parametrize("ch", ["\u0085", "\u001c", "\u001d", "\u001e", "\u001f", "\u180e", "\u200b"])
def test_not_white_space(ch):
    # Python's isspace() says yes to the first five; none is white space in the format.
    assert normalize_card(f"a{ch}b") == f"A{ch}B"
    assert normalize_user(f"{ch}a") == f"{ch}a"


def test_non_text_is_refused():
    for fn in FN.values():
        with pytest.raises((TypeError, AttributeError)):
            fn(None)  # type: ignore[arg-type]


# -- every code point through both languages ----------------------------------------------

NODE = shutil.which("node")
HAVE_SODIUM_JS = (ROOT / "node_modules" / "libsodium-wrappers-sumo" / "package.json").exists()


def assigned() -> list[str]:
    """Code points assigned in Unicode 14.0 (Python 3.11's data), the range FORMAT.md 2
    promises agreement on; surrogates cannot travel alone."""
    return [chr(c) for c in range(0x110000)
            if unicodedata.category(chr(c)) not in ("Cn", "Cs")]


def code_point_texts() -> list[str]:
    """Each character alone, and marks and sigma after a letter too: composition and the
    final-sigma rule are the only answers that depend on what comes before."""
    chars = assigned()
    return chars + [f"A{ch}" for ch in chars if unicodedata.category(ch)[0] == "M" or ch in "Σς"]


@pytest.mark.skipif(not (NODE and HAVE_SODIUM_JS), reason="node or node_modules missing: run make setup")
def test_every_code_point_agrees_with_javascript():
    assert unicodedata.unidata_version == "14.0.0", "the fixes in normalize.py are for Unicode 14.0 data"
    texts = code_point_texts()
    out = subprocess.run([NODE, str(ROOT / "tests" / "js" / "crosscheck.mjs")],
                         input=json.dumps({"normalize": texts}), capture_output=True, text=True,
                         cwd=ROOT, check=False, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout)["normalize"]
    bad = []
    for i, t in enumerate(texts):
        want = [normalize_search(t), normalize_card(t), normalize_user(t)]
        if js[i] != want:
            bad.append(f"U+{ord(t[-1]):04X} {t!r}: python {want!r}, javascript {js[i]!r}")
    assert not bad, f"{len(bad)} differ, e.g. " + "; ".join(bad[:10])
