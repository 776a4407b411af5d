"""Normalizations: the shared vectors (also checked by the JavaScript tests) and each rule."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.normalize import WS_CHARS, normalize_card, normalize_search, normalize_user

VECTORS = json.loads((Path(__file__).parent / "vectors" / "normalize.json").read_text("utf-8"))


def test_vector_file_is_substantial():
    assert len(VECTORS) >= 25
    assert all(set(case) == {"in", "out"} for case in VECTORS)
    arabic = [c for c in VECTORS if any("\u0600" <= ch <= "\u06ff" for ch in c["in"])]
    assert len(arabic) >= 10


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: c["in"][:20])
def test_search_vectors(case):
    assert normalize_search(case["in"]) == case["out"]


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: c["in"][:20])
def test_search_is_idempotent(case):
    assert normalize_search(case["out"]) == case["out"]


def test_every_arabic_diacritic_and_tatweel_removed():
    marks = [chr(c) for c in range(0x064B, 0x0653)] + ["\u0670", "\u0640"]
    for mark in marks:
        assert normalize_search(f"ب{mark}ت") == "بت", hex(ord(mark))


def test_letter_folds():
    for alef in "آأإٱ":
        assert normalize_search(alef) == "ا"
    assert normalize_search("ى") == "ي"
    assert normalize_search("ة") == "ه"


def test_all_digits_fold():
    arabic_indic = "".join(chr(0x0660 + i) for i in range(10))
    eastern = "".join(chr(0x06F0 + i) for i in range(10))
    assert normalize_search(arabic_indic) == normalize_search(eastern) == "0123456789"


def test_every_listed_white_space_collapses():
    assert len(WS_CHARS) == 25
    for ws in WS_CHARS:
        assert normalize_search(f"{ws}A{ws}{ws}b{ws}") == "a b", hex(ord(ws))
        assert normalize_card(f"{ws}a{ws}1{ws}") == "A1", hex(ord(ws))


def test_zero_width_space_is_not_white_space():
    # U+200B is not in the list (it is not \s in JavaScript either)
    assert normalize_search("a\u200bb") == "a\u200bb"


@pytest.mark.parametrize("raw, card", [
    (" ab 12 ", "AB12"),
    ("12\t34\n56", "123456"),
    ("x\u00a0y\u3000z", "XYZ"),
    ("000123", "000123"),
    ("", ""),
])
def test_card(raw, card):
    assert normalize_card(raw) == card


@pytest.mark.parametrize("raw, user", [
    ("  Dr.Sami ", "dr.sami"),
    ("ADMIN", "admin"),
    ("Jose\u0301", "jos\u00e9"),  # NFC: decomposed and composed spellings are one user
    ("\u00a0ليلى\u3000", "ليلى"),
])
def test_user(raw, user):
    assert normalize_user(raw) == user
