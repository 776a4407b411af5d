"""What a reader checks around the cryptography: docs/FORMAT.md 10 ("Reader rules").

The browser does the same in site_templates/static/js/rules.js; both are checked against
tests/vectors/rules.json. exporter/crypto.py opens objects (AEAD, versions, the exact keys
of a door); this module holds the rules that need more than one object: site.json's key
derivation parameters (a door's are checked against them by crypto.open_door), a pointer
against the body it names, a diary pointer against the key it must carry, an index shard
against the root that named it. Every refusal is :class:`crypto.CryptoError`.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from . import crypto

HEX32 = re.compile(r"[0-9a-f]{32}")
OBJ_PATH = re.compile(r"obj/[0-9a-f]{32}\.bin")
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
FORMAT = crypto.FORMAT
SITE_KDF_KEYS = frozenset({"alg", "ops", "mem", "test"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def _refuse(message: str) -> crypto.CryptoError:
    return crypto.CryptoError(message)


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _refuse(f"{key!r} must be text")
    return value


def _match(obj: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = _text(obj, key)
    if not pattern.fullmatch(value):
        raise _refuse(f"{key!r} is malformed")
    return value


def _key(obj: dict[str, Any], key: str, size: int) -> bytes:
    return crypto.b64d(obj.get(key), size)


# -- site.json and key derivation parameters (FORMAT.md 1.2, 10.1, 10.2) ------------------


def check_site(site: Any, clinic: str, loopback: bool) -> crypto.KdfParams:
    """site.json: this clinic's, of this format, with usable parameters (unknown keys ignored)."""
    if not isinstance(site, dict) or site.get("format") != FORMAT:
        raise _refuse("unknown site format")
    if site.get("clinic") != clinic:
        raise _refuse("site.json belongs to another clinic")
    return check_site_kdf(site.get("kdf"), loopback)



def is_loopback(host: str) -> bool:
    """A page served from this machine: the only place a ``"test": true`` site may open."""
    return host.lower() in LOOPBACK_HOSTS


def check_site_kdf(kdf: Any, loopback: bool) -> crypto.KdfParams:
    """site.json's ``kdf``: the parameters every derivation uses, checked before any runs.

    Parameters under the secure floor are refused unless ``"test": true`` marks a test
    site AND the reader runs on a loopback origin: a hostile site.json must not make a
    browser hash passwords cheaply and send the result (the door id) to the server.
    """
    if not isinstance(kdf, dict) or not set(kdf) <= SITE_KDF_KEYS:
        raise _refuse("site.json kdf has unknown keys")
    test = kdf.get("test", False)
    if type(test) is not bool:
        raise _refuse("site.json kdf test must be true or false")
    params = crypto.KdfParams.from_json(kdf)
    if params.weak and not (test and loopback):
        raise _refuse(f"key derivation below the secure floor (ops={params.ops}, mem={params.mem})"
                      + ("" if test else " and not marked as a test site")
                      + ("" if loopback else ": a test site opens only on this machine"))
    return params


# -- door payloads (FORMAT.md 5.2, 5.3, 10.2) -----------------------------------------------


def check_door_payload(payload: dict[str, Any], who: str) -> dict[str, Any]:
    """The keys a reader uses, with their types; ``who`` is the door it came from:
    ``patient``, ``general`` (an entry), ``general-door`` or ``account``. Other keys are
    ignored (the payload is authenticated)."""
    if who in ("patient", "general"):
        if payload.get("kind") != "record" or payload.get("who") != who:
            raise _refuse(f"expected a record door of {who!r}")
        check_record_pointer(payload)
        _key(payload, "note_sk", 64)
    elif who == "general-door":
        if payload.get("kind") != "general":
            raise _refuse("expected the general door")
        _key(payload, "gk", 32)
        _key(payload, "lk", 32)
    elif who == "account":
        if payload.get("kind") != "account":
            raise _refuse("expected an account door")
        _text(payload, "user")
        _match(payload, "index", OBJ_PATH)
        _key(payload, "ik", 32)
        _key(payload, "note_sk", 64)
    else:
        raise ValueError(f"unknown door {who!r}")
    return payload


def check_record_pointer(pointer: dict[str, Any], card: str | None = None) -> dict[str, Any]:
    """A record door or entry payload, or an index row: ``rid``, ``card``, ``bundle``, ``ck``.
    ``card`` is the normalized card the viewer typed, when there is one."""
    _match(pointer, "rid", HEX32)
    _match(pointer, "bundle", OBJ_PATH)
    _key(pointer, "ck", 32)
    if _text(pointer, "card") != card and card is not None:
        raise _refuse("the door belongs to another card")
    return pointer


def _count(obj: dict[str, Any], key: str) -> int:
    """A row count: an integer of 0 or more, compared by value (FORMAT.md 1: 3.0 is 3), and
    one a browser holds exactly (JavaScript's safe integers), so both readers agree."""
    value = obj.get(key)
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= crypto.MAX_SEQ:  # bool is an int subclass
        raise _refuse(f"{key!r} must be an integer of 0 or more")
    return value


def check_root(index: Any) -> dict[str, Any]:
    """An opened index root (FORMAT.md 6.2): each database names 1 to 4096 shards whose
    row counts ``n`` add up to its ``count``. The shards are checked by :func:`check_shard`."""
    dbs = index.get("databases") if isinstance(index, dict) else None
    if not isinstance(dbs, list):
        raise _refuse("index has no databases")
    for db in dbs:
        if not isinstance(db, dict) or not isinstance(db.get("diary"), dict) \
                or not isinstance(db.get("shards"), list):
            raise _refuse("bad database entry in index")
        _text(db, "id")
        _text(db, "name")
        total = _count(db, "count")
        if not 1 <= len(db["shards"]) <= crypto.MAX_SHARDS:
            raise _refuse("an index database has 1 to 4096 shards")
        rows = 0
        for shard in db["shards"]:
            if not isinstance(shard, dict):
                raise _refuse("bad shard pointer in index")
            _match(shard, "obj", OBJ_PATH)
            rows += _count(shard, "n")
        if rows != total:
            raise _refuse("index count differs from its shards' rows")
    return index


def check_object_name(obj: str, body: bytes) -> bytes:
    """Fetched bytes MUST hash to the name that led to them (FORMAT.md 3, 10.3): this pins
    an index shard to the fresh root, so an older shard of the same position, which opens
    with the same key, cannot be put in its place."""
    if obj != f"obj/{crypto.object_name(body)}.bin":
        raise _refuse("object does not match its name")
    return body


def _same_int(value: Any, want: int) -> bool:
    return type(value) in (int, float) and value == want


def check_shard(shard: Any, db: str, i: int, n: int) -> dict[str, Any]:
    """An opened index shard: the ``db`` and position ``i`` that led to it, ``n`` rows."""
    if not isinstance(shard, dict) or not _same_int(shard.get("v"), crypto.VERSION) \
            or shard.get("db") != db or not _same_int(shard.get("shard"), i):
        raise _refuse("index shard does not match its pointer")
    rows = shard.get("rows")
    if not isinstance(rows, list) or len(rows) != n:
        raise _refuse("index shard has the wrong number of rows")
    return shard


def check_shard_row(row: Any) -> dict[str, Any]:
    """One row of an index shard; a reader MAY check it only when it uses it (10.2)."""
    if not isinstance(row, dict):
        raise _refuse("index row is not an object")
    check_record_pointer(row)
    _text(row, "search")
    _text(row, "html")
    sort = row.get("sort")
    if not isinstance(sort, list) or len(sort) != 2 or not all(isinstance(x, str) for x in sort):
        raise _refuse("index row sort must be two strings")
    return row


def row_order(row: dict[str, Any]) -> tuple[bytes, bytes, bytes, str]:
    """The order readers show rows in: sort[0], sort[1], card, then rid, comparing strings
    by UTF-16 code units as JavaScript's ``<`` does (big-endian UTF-16 bytes compare so)."""
    sort = row["sort"]
    return (sort[0].encode("utf-16-be"), sort[1].encode("utf-16-be"), row["card"].encode("utf-16-be"), row["rid"])


# -- bodies against their pointers (FORMAT.md 10.3) ------------------------------------------


def check_bundle(bundle: dict[str, Any], pointer: dict[str, Any]) -> dict[str, Any]:
    """An opened bundle MUST carry the rid and card of the pointer that led to it."""
    check_record_pointer(pointer)
    if bundle.get("rid") != pointer.get("rid") or bundle.get("card") != pointer.get("card"):
        raise _refuse("bundle does not match its pointer")
    _text(bundle, "html")
    _text(bundle, "title")
    _text(bundle, "updated")
    return bundle


def diary_key(ik: bytes, db: str, month: str) -> bytes:
    """The normative diary key: derived from the index key (FORMAT.md 6, 10.4)."""
    return crypto.hash_(32, crypto.label("chartseal/v1/diary-key", db, month), key=ik)


def check_diary_pointer(pointer: Any, ik: bytes, db: str, month: str) -> bytes:
    """The key to open a diary shard with: derived, and the index's copy MUST be the same."""
    if not isinstance(pointer, dict) or not MONTH.fullmatch(month):
        raise _refuse("bad diary pointer")
    _match(pointer, "obj", OBJ_PATH)
    key = diary_key(ik, db, month)
    if _key(pointer, "key", 32) != key:
        raise _refuse("diary key in the index differs from the derived one")
    return key


def check_diary_shard(shard: dict[str, Any], db: str, month: str) -> dict[str, Any]:
    """An opened diary shard: the database and month that led to it."""
    if shard.get("db") != db or shard.get("month") != month or not isinstance(shard.get("days"), dict):
        raise _refuse("diary shard does not match its pointer")
    return shard


def read_rows(read: Callable[[str], bytes], clinic: str, door_id: str, ik: bytes,
              db: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of one database of a checked root, as a reader gets them: each shard
    fetched with ``read(obj)``, pinned by its name, opened with its derived key and ``ad``,
    checked against its pointer, each row checked; rows in the readers' order."""
    rows: list[dict[str, Any]] = []
    for i, pointer in enumerate(db["shards"]):
        body = check_object_name(pointer["obj"], read(pointer["obj"]))
        shard = crypto.open_body(crypto.shard_key(ik, db["id"], i), body,
                                 crypto.shard_ad(clinic, door_id, db["id"], i))
        rows += (check_shard_row(row) for row in check_shard(shard, db["id"], i, _count(pointer, "n"))["rows"])
    return sorted(rows, key=row_order)
