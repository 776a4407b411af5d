"""Write tests/vectors/rules.json (FORMAT.md 1, 1.2, 10: the reader rules).

Every expected answer below is written by hand from the spec, not computed: the script
refuses to write the file when exporter/crypto.py or exporter/site_rules.py disagree with
one, so the vectors state the rules and both languages are checked against them.
make_vectors.py runs it too.

    .venv/bin/python tests/vectors/make_rules.py
"""
from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from exporter import crypto, site_rules  # noqa: E402
from make_normalize import write  # noqa: E402
import shard_rules  # noqa: E402

# -- rules.json: reader rules (FORMAT.md 1, 1.2, 10) ---------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fixed(name: str, size: int = 32) -> bytes:
    return hashlib.sha256(f"chartseal test vector: {name}".encode()).digest()[:size]


# Base64: every text and what it decodes to, or None where a reader MUST refuse it.
B64 = [
    ("", ""), ("QQ==", "41"), ("QUI=", "4142"), ("QUJD", "414243"), ("+/8=", "fbff"), ("AAAA", "000000"),
    ("QQ", None),  # padding is required
    ("QQ=", None), ("QQ===", None), ("Q===", None), ("QUI", None), ("QUJD=", None), ("QUJD====", None),
    ("=", None), ("====", None), ("QU=I", None), ("QUI=QUI=", None), ("A", None),
    ("-_8=", None),  # the URL-safe alphabet is refused
    ("QU I=", None), ("QUI=\n", None), ("\nQUI=", None), ("QUI=\r", None), ("\tQUI=", None),  # no white space
    ("QR==", None), ("QUJ=", None), ("AB==", None),  # trailing bits set: not the one text of these bytes
    ("QUJ\u0661", None), ("QUJD\u0000", None), ("ＱＵＩ=", None),
]

SITE_KDF = [
    # (kdf, loopback, (ops, mem) or None)
    ({"alg": "argon2id13", "ops": 3, "mem": 67108864}, False, (3, 67108864)),
    ({"alg": "argon2id13", "ops": 4, "mem": 268435456}, False, (4, 268435456)),
    ({"alg": "argon2id13", "ops": 3, "mem": 67108864, "test": False}, False, (3, 67108864)),
    ({"alg": "argon2id13", "ops": 3, "mem": 67108864, "test": True}, False, (3, 67108864)),
    ({"alg": "argon2id13", "ops": 1, "mem": 8192, "test": True}, True, (1, 8192)),
    ({"alg": "argon2id13", "ops": 1, "mem": 8192, "test": True}, False, None),  # a test site on the web
    ({"alg": "argon2id13", "ops": 1, "mem": 8192}, True, None),  # weak, unmarked
    ({"alg": "argon2id13", "ops": 1, "mem": 8192, "test": False}, True, None),
    ({"alg": "argon2id13", "ops": 2, "mem": 67108864, "test": True}, True, (2, 67108864)),
    ({"alg": "argon2id13", "ops": 3, "mem": 67108863}, False, None),
    ({"alg": "argon2id13", "ops": 1, "mem": 8192, "test": 1}, True, None),
    ({"alg": "argon2id13", "ops": 1, "mem": 8192, "test": "true"}, True, None),
    ({"alg": "argon2id13", "ops": 11, "mem": 8192, "test": True}, True, None),  # caps still apply
    ({"alg": "argon2id13", "ops": 3, "mem": 67108864, "p": 1}, False, None),  # unknown key
    ({"alg": "argon2id13", "ops": 3.0, "mem": 67108864}, False, (3, 67108864)),  # numbers by value
    ({"alg": "argon2id13", "ops": 3.5, "mem": 67108864}, False, None),
    ({"alg": "argon2id13", "ops": 3, "mem": 67108864.5}, False, None),
    ({"alg": "argon2id13", "ops": True, "mem": 67108864}, False, None),
    ({"alg": "argon2i13", "ops": 3, "mem": 67108864}, False, None),
    ([3, 67108864], False, None),
    (None, False, None),
]

LOOPBACK = [("localhost", True), ("127.0.0.1", True), ("[::1]", True), ("LOCALHOST", True),
            ("127.0.0.2", False), ("example.org", False), ("localhost.example.org", False), ("", False)]

SECURE_KDF = {"alg": "argon2id13", "mem": 67108864, "ops": 3}
DOOR = {"v": 2, "kdf": SECURE_KDF, "note_pk": b64(bytes(32)), "n": b64(bytes(24)), "ct": b64(bytes(16))}
ENTRY = DOOR  # format 2: an entry has a door's keys, kdf included (one length for all)
NO_KDF = {k: v for k, v in DOOR.items() if k != "kdf"}
SITE = {"ops": 3, "mem": 67108864}

DOOR_OBJECT = [
    # (object, entry, site params or None, refused?)
    (DOOR, False, None, False),
    (DOOR, False, SITE, False),
    (ENTRY, True, None, False),
    (ENTRY, True, SITE, False),
    ({**DOOR, "kdf": {**SECURE_KDF, "ops": 4}}, False, SITE, True),  # differs from site.json
    ({**DOOR, "kdf": {**SECURE_KDF, "mem": 134217728}}, False, SITE, True),
    ({**DOOR, "kdf": {**SECURE_KDF, "ops": 4}}, False, None, False),
    ({**DOOR, "seq": 7}, False, None, True),  # unknown outer key
    ({**DOOR, "note": ""}, False, None, True),
    ({k: v for k, v in DOOR.items() if k != "note_pk"}, False, None, True),
    (NO_KDF, True, None, True),  # an entry has a kdf
    (NO_KDF, False, None, True),  # and so has a door
    ({**ENTRY, "kdf": {**SECURE_KDF, "ops": 4}}, True, SITE, True),  # entry's differs from site.json
    ({**DOOR, "kdf": {**SECURE_KDF, "test": True}}, False, None, True),
    ({**DOOR, "kdf": {"alg": "argon2id13", "ops": 3}}, False, None, True),
    ({**DOOR, "kdf": [3, 67108864]}, False, None, True),
]

CK, IK, NOTE_SK = b64(fixed("ck")), fixed("ik"), b64(fixed("note sk", 32) * 2)
RID, OBJ = "5e" * 16, "obj/" + "ab" * 16 + ".bin"
RECORD = {"kind": "record", "who": "patient", "rid": RID, "card": "AB12", "bundle": OBJ, "ck": CK, "note_sk": NOTE_SK}
GENERAL = {"kind": "general", "gk": b64(fixed("gk")), "lk": b64(fixed("lk"))}
ACCOUNT = {"kind": "account", "user": "dr.amal", "index": OBJ, "ik": b64(IK), "note_sk": NOTE_SK}

PAYLOAD = [
    # (payload, who, refused?)
    (RECORD, "patient", False),
    ({**RECORD, "who": "general"}, "general", False),
    ({**RECORD, "seq": 3, "extra": {"x": 1}}, "patient", False),  # authenticated: unknown keys ignored
    (RECORD, "general", True),  # a patient door's payload in an entry's place
    ({**RECORD, "rid": "5E" * 16}, "patient", True),
    ({**RECORD, "rid": "5e" * 15}, "patient", True),
    ({**RECORD, "bundle": "obj/../site.json"}, "patient", True),
    ({**RECORD, "bundle": "https://evil.example/" + OBJ}, "patient", True),
    ({**RECORD, "ck": b64(bytes(31))}, "patient", True),
    ({**RECORD, "card": 12}, "patient", True),
    ({k: v for k, v in RECORD.items() if k != "card"}, "patient", True),
    ({**RECORD, "note_sk": b64(bytes(32))}, "patient", True),
    (GENERAL, "general-door", False),
    ({**GENERAL, "lk": "AAAA"}, "general-door", True),
    (GENERAL, "account", True),
    (ACCOUNT, "account", False),
    ({**ACCOUNT, "index": "obj/" + "ab" * 16 + ".json"}, "account", True),
    ({**ACCOUNT, "user": None}, "account", True),
    ({k: v for k, v in ACCOUNT.items() if k != "ik"}, "account", True),
]

POINTER_CARD = [
    # (pointer, typed card, refused?): a record door found by card must be that card's
    (RECORD, "AB12", False),
    (RECORD, "AB13", True),
    (RECORD, "ab12", True),
    ({**RECORD, "card": "AB 12"}, "AB12", True),
]

ROW = {"rid": RID, "bundle": OBJ, "ck": CK, "card": "AB12", "search": "amal ab12", "sort": ["", "amal"], "html": ""}

BUNDLE = {"v": 2, "rid": RID, "card": "AB12", "title": "Amal", "updated": "2026-11-26T10:00:00", "html": "<p>x</p>"}
BUNDLE_CASES = [
    # (bundle, pointer, refused?)
    (BUNDLE, RECORD, False),
    (BUNDLE, ROW, False),
    ({**BUNDLE, "extra": 1}, ROW, False),
    ({**BUNDLE, "rid": "6f" * 16}, ROW, True),  # another patient's bundle behind this pointer
    ({**BUNDLE, "card": "AB13"}, ROW, True),
    ({**BUNDLE, "card": "ab12"}, ROW, True),
    ({k: v for k, v in BUNDLE.items() if k != "card"}, ROW, True),
    ({**BUNDLE, "html": None}, ROW, True),
    ({**BUNDLE, "title": 1}, ROW, True),
    (BUNDLE, {**ROW, "rid": None}, True),
]


CLINIC = "4821930571"
SITE_JSON = {"clinic": CLINIC, "format": site_rules.FORMAT, "kdf": SECURE_KDF, "lang": "en", "notes_pk": b64(bytes(32)),
             "notes_url": "", "patient_pages": True, "idle_lock_minutes": 10}
SITE_CASES = [
    # (site.json, loopback, refused?)
    (SITE_JSON, False, False),
    ({**SITE_JSON, "later": {"x": 1}}, False, False),  # unknown keys of site.json are ignored
    ({k: v for k, v in SITE_JSON.items() if k not in ("lang", "notes_url")}, False, False),
    ({**SITE_JSON, "clinic": "0000000001"}, False, True),
    ({**SITE_JSON, "format": "chartseal-site/0"}, False, True),
    ({k: v for k, v in SITE_JSON.items() if k != "format"}, False, True),
    ({k: v for k, v in SITE_JSON.items() if k != "kdf"}, False, True),
    ({**SITE_JSON, "kdf": {"alg": "argon2id13", "ops": 1, "mem": 8192, "test": True}}, False, True),
    ({**SITE_JSON, "kdf": {"alg": "argon2id13", "ops": 1, "mem": 8192, "test": True}}, True, False),
    ([SITE_JSON], False, True),
]

def _diary(ik: bytes, db: str, month: str) -> str:
    return b64(site_rules.diary_key(ik, db, month))


DIARY = [
    # (pointer, db, month, refused?)
    ({"obj": OBJ, "key": _diary(IK, "main", "2026-11")}, "main", "2026-11", False),
    ({"obj": OBJ, "key": _diary(IK, "عيادة", "2026-01")}, "عيادة", "2026-01", False),
    ({"obj": OBJ, "key": _diary(IK, "main", "2026-11"), "later": 1}, "main", "2026-11", False),
    ({"obj": OBJ, "key": _diary(IK, "main", "2026-10")}, "main", "2026-11", True),  # another month's key
    ({"obj": OBJ, "key": _diary(IK, "old", "2026-11")}, "main", "2026-11", True),
    ({"obj": OBJ, "key": _diary(fixed("other ik"), "main", "2026-11")}, "main", "2026-11", True),
    ({"obj": OBJ, "key": b64(fixed("random diary key"))}, "main", "2026-11", True),
    ({"obj": OBJ}, "main", "2026-11", True),  # the index's copy is required
    ({"obj": "obj/x.bin", "key": _diary(IK, "main", "2026-11")}, "main", "2026-11", True),
    ({"obj": OBJ, "key": _diary(IK, "main", "2026-13")}, "main", "2026-13", True),
    ({"obj": OBJ, "key": _diary(IK, "main", "2026-1")}, "main", "2026-1", True),
]

SHARD = {"v": 2, "db": "main", "month": "2026-11", "days": {}}
SHARD_CASES = [
    (SHARD, "main", "2026-11", False),
    (SHARD, "main", "2026-10", True),
    (SHARD, "old", "2026-11", True),
    ({**SHARD, "days": []}, "main", "2026-11", True),
]


def _refused(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except crypto.CryptoError:
        return True
    return False


def expect(what: str, got: Any, want: Any, case: Any) -> None:
    if got != want:
        raise SystemExit(f"{what} {case!r}: python gives {got!r}, the vector says {want!r}: fix one of them")


def rules_doc() -> dict[str, Any]:
    doc: dict[str, Any] = {"comment": "reader rules (FORMAT.md 1, 1.2, 10); answers written by hand from the spec",
                           "ik": b64(IK)}
    rows = []
    for text, want in B64:
        got = None if _refused(crypto.b64d, text) else crypto.b64d(text).hex()
        expect("b64d", got, want, text)
        rows.append({"text": text, "hex": want})
    doc["b64"] = rows
    rows = []
    for kdf, loopback, want in SITE_KDF:
        got = None if _refused(site_rules.check_site_kdf, kdf, loopback) else (
            lambda p: (p.ops, p.mem))(site_rules.check_site_kdf(kdf, loopback))
        expect("check_site_kdf", got, want, (kdf, loopback))
        rows.append({"kdf": kdf, "loopback": loopback, "params": None if want is None else dict(zip(("ops", "mem"), want))})
    doc["site_kdf"] = rows
    rows = []
    for host, want in LOOPBACK:
        expect("is_loopback", site_rules.is_loopback(host), want, host)
        rows.append({"host": host, "loopback": want})
    doc["loopback"] = rows
    doc["site"] = []
    for site_json, loopback, want in SITE_CASES:
        expect("check_site", _refused(site_rules.check_site, site_json, CLINIC, loopback), want, site_json)
        doc["site"].append({"site": site_json, "clinic": CLINIC, "loopback": loopback, "refused": want})
    doc.update(shard_rules.rules_part())  # root, index_shard, shard_row, object_name
    rows = []
    for obj, entry, site, want in DOOR_OBJECT:
        params = None if site is None else crypto.KdfParams(**site)
        expect("check_door_object", _refused(crypto.check_door_object, obj, entry, params), want, obj)
        rows.append({"door": obj, "entry": entry, "site": site, "refused": want})
    doc["door_object"] = rows
    doc["door_payload"] = []
    for payload, who, want in PAYLOAD:
        expect("check_door_payload", _refused(site_rules.check_door_payload, payload, who), want, payload)
        doc["door_payload"].append({"payload": payload, "who": who, "refused": want})
    doc["pointer_card"] = []
    for pointer, card, want in POINTER_CARD:
        expect("check_record_pointer", _refused(site_rules.check_record_pointer, pointer, card), want, pointer)
        doc["pointer_card"].append({"pointer": pointer, "card": card, "refused": want})
    doc["bundle"] = []
    for bundle, pointer, want in BUNDLE_CASES:
        expect("check_bundle", _refused(site_rules.check_bundle, bundle, pointer), want, bundle)
        doc["bundle"].append({"bundle": bundle, "pointer": pointer, "refused": want})
    doc["diary"] = []
    for pointer, db, month, want in DIARY:
        expect("check_diary_pointer", _refused(site_rules.check_diary_pointer, pointer, IK, db, month), want, pointer)
        key = None if want else b64(site_rules.diary_key(IK, db, month))
        doc["diary"].append({"pointer": pointer, "db": db, "month": month, "refused": want, "key": key})
    doc["diary_shard"] = []
    for shard, db, month, want in SHARD_CASES:
        expect("check_diary_shard", _refused(site_rules.check_diary_shard, shard, db, month), want, shard)
        doc["diary_shard"].append({"shard": shard, "db": db, "month": month, "refused": want})
    return doc


def main() -> None:
    write("rules.json", rules_doc())


if __name__ == "__main__":
    main()
