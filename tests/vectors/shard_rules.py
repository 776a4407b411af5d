"""The index root and shard cases of tests/vectors/rules.json and shards.json (FORMAT.md 6.2,
10.2, 10.3), answers written by hand from the spec. make_rules.py and make_vectors.py use them.
"""
from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from exporter import crypto as c, site_rules  # noqa: E402


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def fixed(name: str, size: int = 32) -> bytes:
    return hashlib.sha256(f"chartseal test vector: {name}".encode()).digest()[:size]


RID, OBJ, OBJ2 = "5e" * 16, "obj/" + "ab" * 16 + ".bin", "obj/" + "cd" * 16 + ".bin"
ROW = {"rid": RID, "bundle": OBJ, "ck": b64(fixed("ck")), "card": "AB12", "search": "amal ab12",
       "sort": ["khatib", "amal"], "html": "<a>Amal</a>"}

SHARD_ROW = [
    # (row, refused?)
    (ROW, False),
    ({**ROW, "later": True}, False),  # unknown keys are ignored (authenticated)
    ({**ROW, "sort": ["", ""]}, False),
    ({k: v for k, v in ROW.items() if k != "search"}, True),
    ({k: v for k, v in ROW.items() if k != "sort"}, True),
    ({k: v for k, v in ROW.items() if k != "html"}, True),
    ({**ROW, "rid": None}, True),
    ({**ROW, "rid": "5E" * 16}, True),
    ({**ROW, "card": 12}, True),
    ({**ROW, "bundle": "obj/../site.json"}, True),
    ({**ROW, "ck": b64(bytes(31))}, True),
    ({**ROW, "html": ["<a>"]}, True),
    ({**ROW, "search": None}, True),
    ({**ROW, "sort": ["khatib"]}, True),  # exactly two strings
    ({**ROW, "sort": ["khatib", "amal", "x"]}, True),
    ({**ROW, "sort": ["khatib", 1]}, True),
    ({**ROW, "sort": "khatib amal"}, True),
    ([RID, OBJ], True),
]

SHARD = {"v": 2, "db": "main", "shard": 3, "rows": [ROW, ROW]}
INDEX_SHARD = [
    # (shard, db, i, n, refused?)
    (SHARD, "main", 3, 2, False),
    ({**SHARD, "later": 1}, "main", 3, 2, False),
    ({**SHARD, "shard": 3.0}, "main", 3, 2, False),  # numbers by value
    ({**SHARD, "rows": []}, "main", 3, 0, False),  # an empty shard
    ({**SHARD, "rows": [ROW, None]}, "main", 3, 2, False),  # rows MAY be checked when used
    (SHARD, "old", 3, 2, True),  # another database's shard
    (SHARD, "main", 2, 2, True),  # another position's shard
    (SHARD, "main", 3, 3, True),  # the root says another number of rows
    (SHARD, "main", 3, 1, True),
    ({**SHARD, "v": 1}, "main", 3, 2, True),
    ({**SHARD, "v": True}, "main", 3, 2, True),
    ({**SHARD, "shard": "3"}, "main", 3, 2, True),
    ({**SHARD, "shard": True}, "main", 1, 2, True),
    ({k: v for k, v in SHARD.items() if k != "shard"}, "main", 3, 2, True),
    ({k: v for k, v in SHARD.items() if k != "db"}, "main", 3, 2, True),
    ({k: v for k, v in SHARD.items() if k != "rows"}, "main", 3, 0, True),
    ({**SHARD, "rows": {"0": ROW}}, "main", 3, 1, True),
    ([SHARD], "main", 3, 2, True),
]

DB = {"id": "main", "name": "Main", "count": 3, "shards": [{"obj": OBJ, "n": 1}, {"obj": OBJ2, "n": 2}], "diary": {}}
ROOT = {"v": 2, "user": "dr.amal", "generated": "2026-11-26T10:00:00", "databases": [DB]}
ROOT_CASES = [
    # (root, refused?)
    (ROOT, False),
    ({**ROOT, "databases": []}, False),
    ({**ROOT, "later": 1, "databases": [{**DB, "later": 2, "shards": [{"obj": OBJ, "n": 3, "later": 3}]}]}, False),
    ({**ROOT, "databases": [{**DB, "count": 0, "shards": [{"obj": OBJ, "n": 0}]}]}, False),  # an empty database
    ({**ROOT, "databases": [{**DB, "count": 3.0, "shards": [{"obj": OBJ, "n": 3.0}]}]}, False),
    # 4096 shards are accepted and 4097 refused: tests/test_vectors.py and tests/js build those two
    # (8,193 pointers would swell this file).
    ({**ROOT, "databases": [{**DB, "count": 0, "shards": []}]}, True),  # at least one shard
    ({**ROOT, "databases": [{**DB, "count": 4}]}, True),  # count differs from the sum of n
    ({**ROOT, "databases": [{**DB, "count": 2}]}, True),
    ({**ROOT, "databases": [{**DB, "count": -1, "shards": [{"obj": OBJ, "n": -1}]}]}, True),
    ({**ROOT, "databases": [{**DB, "count": 1.5, "shards": [{"obj": OBJ, "n": 1.5}]}]}, True),
    ({**ROOT, "databases": [{**DB, "count": "3"}]}, True),
    ({**ROOT, "databases": [{**DB, "count": 2**53 - 1, "shards": [{"obj": OBJ, "n": 2**53 - 1}]}]}, False),
    ({**ROOT, "databases": [{**DB, "count": 2**53, "shards": [{"obj": OBJ, "n": 2**53}]}]}, True),  # not exact in JS
    ({**ROOT, "databases": [{**DB, "count": True, "shards": [{"obj": OBJ, "n": True}]}]}, True),
    ({**ROOT, "databases": [{**DB, "shards": [{"obj": OBJ, "n": 1}, {"obj": "obj/x.bin", "n": 2}]}]}, True),
    ({**ROOT, "databases": [{**DB, "shards": [{"obj": OBJ, "n": 1}, {"n": 2}]}]}, True),
    ({**ROOT, "databases": [{**DB, "shards": [{"obj": OBJ, "n": 1}, None]}]}, True),
    ({**ROOT, "databases": [{**DB, "shards": {"0": {"obj": OBJ, "n": 3}}}]}, True),
    ({**ROOT, "databases": [{k: v for k, v in DB.items() if k != "shards"}]}, True),
    ({**ROOT, "databases": [{k: v for k, v in DB.items() if k != "count"}]}, True),
    ({**ROOT, "databases": [{k: v for k, v in DB.items() if k != "diary"}]}, True),
    ({**ROOT, "databases": [{k: v for k, v in DB.items() if k != "name"}]}, True),
    ({**ROOT, "databases": [{**DB, "id": 1}]}, True),
    # the unsharded index of the first revision is refused as damaged
    ({**ROOT, "databases": [{"id": "main", "name": "main", "list_html": "<ol></ol>", "patients": [], "diary": {}}]}, True),
    ({k: v for k, v in ROOT.items() if k != "databases"}, True),
    ({**ROOT, "databases": {"main": DB}}, True),
    ({**ROOT, "databases": [DB, None]}, True),
]


def _expect(what: str, got: Any, want: Any, case: Any) -> None:
    if got != want:
        raise SystemExit(f"{what} {str(case)[:200]}: python gives {got!r}, the vector says {want!r}: fix one of them")


def _refused(fn: Callable[..., Any], *args: Any) -> bool:
    try:
        fn(*args)
    except c.CryptoError:
        return True
    return False


def rules_part() -> dict[str, Any]:
    """The rules.json sections ``root``, ``index_shard``, ``shard_row``, ``object_name``."""
    doc: dict[str, Any] = {"root": [], "index_shard": [], "shard_row": [], "object_name": []}
    for root, want in ROOT_CASES:
        _expect("check_root", _refused(site_rules.check_root, root), want, root)
        doc["root"].append({"index": root, "refused": want})
    for shard, db, i, n, want in INDEX_SHARD:
        _expect("check_shard", _refused(site_rules.check_shard, shard, db, i, n), want, shard)
        doc["index_shard"].append({"shard": shard, "db": db, "i": i, "n": n, "refused": want})
    for row, want in SHARD_ROW:
        _expect("check_shard_row", _refused(site_rules.check_shard_row, row), want, row)
        doc["shard_row"].append({"row": row, "refused": want})
    body = fixed("an object's bytes") * 3
    name = "obj/" + c.object_name(body) + ".bin"
    for obj, data, want in [(name, body, False), (name, body[:-1], True), (name, body + b"\0", True),
                            (name.upper(), body, True), (name[:-4] + ".json", body, True)]:
        _expect("check_object_name", _refused(site_rules.check_object_name, obj, data), want, obj)
        doc["object_name"].append({"obj": obj, "body": b64(data), "refused": want})
    return doc


# -- shards.json: sealed shards of one root, with the reader's whole walk ---------------------

CLINIC, DOOR_ID, IK = "4821930571", "3c" * 16, fixed("shard ik")


def _row(n: int) -> dict[str, Any]:
    rid = hashlib.sha256(f"rid {n}".encode()).hexdigest()[:32]
    return {"rid": rid, "bundle": "obj/" + hashlib.sha256(f"b {n}".encode()).hexdigest()[:32] + ".bin",
            "ck": b64(fixed(f"ck {n}")), "card": f"A{100 + n}", "search": f"name{n} a{100 + n}",
            "sort": [f"surname{n % 2}", f"name{n}"], "html": f"<a>name{n}</a>"}


def _seal(db: str, i: int, value: dict[str, Any], tag: str, key_db: str | None = None, key_i: int | None = None,
          ik: bytes = IK, door_id: str = DOOR_ID) -> tuple[str, str]:
    """(obj, b64 body): sealed with the key and ad of (key_db, key_i), by default (db, i)."""
    kd, ki = key_db or db, i if key_i is None else key_i
    body = c.seal_body(c.shard_key(ik, kd, ki), value, c.shard_ad(CLINIC, door_id, kd, ki),
                       nonce=fixed(f"shard nonce {tag}", c.NONCE_BYTES))
    return "obj/" + c.object_name(body) + ".bin", b64(body)


def _walk(case: dict[str, Any]) -> None:
    """What a reader does with one shard pointer (site_rules.read_rows without the sort)."""
    body = site_rules.check_object_name(case["obj"], base64.b64decode(case["body"]))
    shard = c.open_body(c.shard_key(IK, case["db"], case["i"]), body, c.shard_ad(CLINIC, DOOR_ID, case["db"], case["i"]))
    for row in site_rules.check_shard(shard, case["db"], case["i"], case["n"])["rows"]:
        site_rules.check_shard_row(row)


def shards_doc() -> dict[str, Any]:
    """A root of database "main" with two shards, then each way a shard may be wrong."""
    rows = [_row(n) for n in range(3)]
    shard0 = {"v": 2, "db": "main", "shard": 0, "rows": [rows[1]]}
    shard1 = {"v": 2, "db": "main", "shard": 1, "rows": [rows[0], rows[2]]}
    (o0, b0), (o1, b1) = _seal("main", 0, shard0, "0"), _seal("main", 1, shard1, "1")
    older0 = _seal("main", 0, {**shard0, "rows": [{**rows[1], "html": "<a>before the edit</a>"}]}, "older 0")
    cases: list[tuple[str, str, str, str, int, int, bool]] = [
        # (name, obj the root names, body fetched, db, i, n, refused?)
        ("shard 0 as the root names it", o0, b0, "main", 0, 1, False),
        ("shard 1 as the root names it", o1, b1, "main", 1, 2, False),
        ("shard 1's bytes in shard 0's place", o0, b1, "main", 0, 1, True),
        ("an older shard 0 (same key and ad) in shard 0's place", o0, older0[1], "main", 0, 1, True),
        ("another account's shard 0 in this one's place",) + (lambda ob: (ob[0], ob[1]))(
            _seal("main", 0, shard0, "other account", ik=fixed("other ik"), door_id="4d" * 16)) + ("main", 0, 1, True),
        ("shard 1 named and opened as position 0",) + (lambda ob: ob)(_seal("main", 1, shard1, "1")) + ("main", 0, 2, True),
        ("the root says 2 rows, the shard has 1", o0, b0, "main", 0, 2, True),
        ("sealed for position 0, says shard 1",) + _seal("main", 0, {**shard0, "shard": 1}, "says 1") + ("main", 0, 1, True),
        ("sealed for database main, says db old",) + _seal("main", 0, {**shard0, "db": "old"}, "says old") + ("main", 0, 1, True),
        ("a row with sort of one string",) + _seal("main", 0, {**shard0, "rows": [{**rows[1], "sort": ["x"]}]},
                                                   "bad sort") + ("main", 0, 1, True),
        ("a row with a number for html",) + _seal("main", 0, {**shard0, "rows": [{**rows[1], "html": 1}]},
                                                  "bad html") + ("main", 0, 1, True),
        ("an empty shard",) + _seal("main", 0, {**shard0, "rows": []}, "empty") + ("main", 0, 0, False),
    ]
    out = []
    for name, obj, body, db, i, n, want in cases:
        case = {"name": name, "obj": obj, "body": body, "db": db, "i": i, "n": n, "refused": want}
        _expect("shard walk", _refused(_walk, case), want, name)
        out.append(case)
    root = {"v": 2, "databases": [{"id": "main", "name": "main", "count": 3, "diary": {},
                                   "shards": [{"obj": o0, "n": 1}, {"obj": o1, "n": 2}]}]}
    order = [r["rid"] for r in sorted(rows, key=site_rules.row_order)]
    return {"comment": "index shards (FORMAT.md 6.2, 10.3): object name, key, ad, db, position, rows; "
                       "a reader opens each case's body as the pointer {obj, n} at position i of database db",
            "clinic": CLINIC, "door_id": DOOR_ID, "ik": b64(IK),
            "keys": [{"db": db, "i": i, "key": b64(c.shard_key(IK, db, i)), "ad": c.shard_ad(CLINIC, DOOR_ID, db, i).hex()}
                     for db, i in [("main", 0), ("main", 1), ("عيادة", 4095)]],
            "membership": [{"rid": r["rid"], "shards": s, "shard": c.shard_of(IK, r["rid"], s)}
                           for r in rows for s in (1, 2, 256)],
            "root": root, "order": order, "cases": out}
