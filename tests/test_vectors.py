"""Python re-computes every committed vector in tests/vectors/ (crypto.js checks the same).

The vectors were written once by tests/vectors/make_vectors.py; any change to a byte of the
format shows up here as a mismatch. The last tests run crypto.js under Node on random
inputs and check Python gets the same bytes, and that a note made by the browser code
opens and verifies in Python.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from exporter import crypto as c

ROOT = Path(__file__).resolve().parents[1]
VEC = ROOT / "tests" / "vectors"


def load(name: str) -> dict[str, Any]:
    return json.loads((VEC / name).read_text(encoding="utf-8"))


def b(text: str) -> bytes:
    return base64.b64decode(text)


CHAIN = load("chain.json")
NEGATIVE = load("negative.json")["cases"]


def test_labels() -> None:
    rows = load("labels.json")["labels"]
    assert len(rows) >= 8
    for row in rows:
        assert c.label(row["name"], *row["parts"]).hex() == row["hex"], row


def test_salts_passwords_ids() -> None:
    doc = load("ids.json")
    for s in doc["salts"]:
        assert c.salt(s["kind"], s["clinic"], *s["parts"]).hex() == s["salt"], s
    for p in doc["password_bytes"]:
        assert c.password_bytes(*p["passwords"]).hex() == p["hex"], p
    for e in doc["entry_ids"]:
        assert c.entry_id(b(e["lk"]), e["card"]) == e["entry_id"], e
    for o in doc["object_names"]:
        assert c.object_name(b(o["body"])) == o["name"], o
    for j in doc["canonical_json"]:
        assert c.canonical_json(j["value"]).decode() == j["text"]


def test_kdf_checks() -> None:
    doc = load("kdf.json")
    for kdf in doc["ok"]:
        p = c.KdfParams.from_json(kdf)
        assert (p.ops, p.mem) == (kdf["ops"], kdf["mem"])
    for kdf in doc["bad"]:
        with pytest.raises(c.CryptoError):
            c.KdfParams.from_json(kdf)


@pytest.mark.parametrize("row", load("kdf.json")["derive"], ids=lambda r: f"{r['salt_kind']}-{r['ops']}-{r['mem']}")
def test_derive_door(row: dict[str, Any]) -> None:
    salt = c.salt(row["salt_kind"], *row["salt_parts"])
    pw = c.password_bytes(*row["passwords"])
    assert (salt.hex(), pw.hex()) == (row["salt"], row["pw"])
    key, door_id = c.derive_door(pw, salt, c.KdfParams(ops=row["ops"], mem=row["mem"]))
    assert (c.b64e(key), door_id) == (row["door_key"], row["door_id"])


@pytest.mark.parametrize("door", CHAIN["doors"], ids=lambda d: d["kind"])
def test_doors_open_and_reseal(door: dict[str, Any]) -> None:
    clinic, key = CHAIN["clinic"], b(door["door_key"])
    params = c.KdfParams.from_json(door["kdf"])
    if door["kind"] != "entry":
        kind = "patient" if door["kind"] == "patient" else door["kind"]
        salt = c.salt(kind, clinic, *door["salt_parts"])
        assert c.derive_door(c.password_bytes(*door["passwords"]), salt, params) == (key, door["door_id"])
    else:
        general = next(d for d in CHAIN["doors"] if d["kind"] == "general")
        lk = b(general["payload"]["lk"])
        assert c.entry_id(lk, door["salt_parts"][0]) == door["door_id"]
        assert key == b(general["payload"]["gk"])
    payload = c.open_door(key, clinic, door["door_id"], door["json"].encode(), entry=door["entry"])
    assert payload == door["payload"]
    # a reader passes site.json's parameters: equal ones open
    assert c.open_door(key, clinic, door["door_id"], door["json"].encode(), entry=door["entry"],
                       site=params) == payload
    note_pk = b(door["note_pk"])
    ad = (c.entry_ad if door["entry"] else c.door_ad)(clinic, door["door_id"], params, note_pk)
    assert ad.hex() == door["ad"]
    again = c.seal_door(key, clinic, door["door_id"], params, note_pk, payload, nonce=b(door["nonce"]),
                        entry=door["entry"])
    assert again.decode() == door["json"]
    # One length for every door and entry of a site (FORMAT.md 5.2).
    assert len(b(json.loads(door["json"])["ct"])) == c.DOOR_PLAIN + c.TAG_BYTES


def test_site_json_signature() -> None:
    site = CHAIN["site"]
    assert c.canonical_json(site["value"]).decode() == site["json"]
    assert c.site_signed_bytes(site["value"]).hex() == site["signed"]
    for door in CHAIN["doors"]:
        assert door["payload"]["site_pk"] == site["site_pk"]
        c.check_site(site["value"], door["payload"])  # signature good, seq 41 above floor 37


@pytest.mark.parametrize("body", CHAIN["bodies"], ids=lambda x: f"{x['kind']}-{x['deflated_len']}")
def test_bodies_open_and_reseal(body: dict[str, Any]) -> None:
    key, raw, ad = b(body["key"]), b(body["body"]), bytes.fromhex(body["ad"])
    assert c.label(f"chartseal/v1/{body['kind']}", *body["ad_parts"]) == ad
    assert c.open_body(key, raw, ad) == body["value"]
    assert c.object_name(raw) == body["name"]
    # sodium_pad always adds at least the 0x80 byte, then fills the block.
    block = c.pad_block(body["deflated_len"])
    assert block == body["block"]
    assert len(raw) == 24 + 16 + block
    packed = zlib.compress(c.canonical_json(body["value"]), 6)
    if len(packed) != body["deflated_len"]:
        pytest.skip(f"this zlib ({zlib.ZLIB_RUNTIME_VERSION}) deflates differently; opening was checked")
    assert c.seal_body(key, body["value"], ad, nonce=b(body["nonce"])) == raw


def test_chain_pointers_name_the_bodies() -> None:
    names = {f"obj/{x['name']}.bin": x for x in CHAIN["bodies"]}
    patient, _, entry, account = CHAIN["doors"]
    assert patient["payload"]["bundle"] in names and entry["payload"]["bundle"] in names
    index = names[account["payload"]["index"]]
    assert index["key"] == account["payload"]["ik"]
    assert index["ad_parts"] == [CHAIN["clinic"], account["door_id"]]
    shard = index["value"]["databases"][0]["diary"]["2026-11"]
    assert names[shard["obj"]]["key"] == shard["key"]
    ik = b(account["payload"]["ik"])
    [pointer] = index["value"]["databases"][0]["shards"]
    assert names[pointer["obj"]]["key"] == c.b64e(c.shard_key(ik, "main", 0))
    assert names[pointer["obj"]]["ad_parts"] == [CHAIN["clinic"], account["door_id"], "main", 0]


def test_note_vector() -> None:
    n = load("notes.json")
    sealed = b(n["sealed"])
    opened = c.open_sealed(b(n["notes_pk"]), b(n["notes_sk"]), sealed)
    assert opened.decode() == n["payload_json"] == c.canonical_json(n["payload"]).decode()
    signed = c.note_signed_bytes(n["clinic"], n["door"], n["ts"], sealed)
    assert signed.hex() == n["signed"]
    assert c.b64e(c.sign(b(n["note_sk"]), signed)) == n["sig"]
    assert c.verify(b(n["note_pk"]), signed, b(n["sig"]))
    assert not c.verify(b(n["note_pk"]), signed[:-1] + bytes([signed[-1] ^ 1]), b(n["sig"]))
    assert n["note_pk"] == CHAIN["doors"][0]["note_pk"]


def run_negative(case: dict[str, Any]) -> Any:
    op = case["op"]
    if op == "open_door":
        site = c.KdfParams(**case["site"]) if "site" in case else None
        return c.open_door(b(case["door_key"]), NEGATIVE_CLINIC, case["door_id"], case["json"].encode(),
                           entry=case["entry"], site=site)
    if op == "open_body":
        return c.open_body(b(case["key"]), b(case["body"]), bytes.fromhex(case["ad"]))
    if op == "derive_door":
        return c.derive_door(bytes.fromhex(case["pw"]), bytes.fromhex(case["salt"]), c.KdfParams(case["ops"], case["mem"]))
    if op == "b64d":
        return c.b64d(case["text"])
    if op == "check_site":
        return c.check_site(case["site"], case["payload"])
    raise AssertionError(f"unknown op {op}")


NEGATIVE_CLINIC = load("negative.json")["clinic"]


@pytest.mark.parametrize("case", NEGATIVE, ids=lambda x: x["name"])
def test_negative(case: dict[str, Any]) -> None:
    # crypto.py refuses every negative case itself, as crypto.js does.
    with pytest.raises(c.StaleError if case["error"] == "stale" else c.CryptoError) as info:
        run_negative(case)
    assert (case["error"] == "stale") == isinstance(info.value, c.StaleError)


def test_negative_vectors_cover_the_brief() -> None:
    names = " | ".join(x["name"] for x in NEGATIVE)
    for needle in ("ct flipped", "another rid", "over the cap", "unknown version", "version 1",
                   "below the floor", "signature flipped"):
        assert needle in names


# -- crypto.js under Node, against Python on random inputs ------------------------------------

NODE = shutil.which("node")
HAVE_SODIUM_JS = (ROOT / "node_modules" / "libsodium-wrappers-sumo" / "package.json").exists()
needs_node = pytest.mark.skipif(not (NODE and HAVE_SODIUM_JS), reason="node or node_modules missing: run make setup")


def crosscheck(request: dict[str, Any]) -> dict[str, Any]:
    script = ROOT / "tests" / "js" / "crosscheck.mjs"
    out = subprocess.run([NODE, str(script)], input=json.dumps(request), capture_output=True, text=True,
                         cwd=ROOT, check=False, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@needs_node
def test_js_agrees_on_random_inputs() -> None:
    rnd = os.urandom
    texts = ["".join(chr(x) for x in rnd(6)) + "é\u0301ة ـ٣", "  Dr. أمل  ", " ab 12 ", "ΣΟΦΊΑ ς", "x\u2028y\u00a0z"]
    keys = [rnd(32) for _ in texts]
    pws = [[t] for t in texts] + [[texts[0], texts[1]]]
    req = {"texts": texts, "keys": [c.b64e(k) for k in keys], "passwords": pws, "kdf": {"ops": 1, "mem": 8192}}
    res = crosscheck(req)
    from exporter import normalize as norm

    clinic = "4821930571"
    for i, t in enumerate(texts):
        assert res["labels"][i] == c.label("chartseal/v1/door", t, i, clinic).hex()
        assert res["salts"][i] == c.salt("account", clinic, t).hex()
        assert res["entry_ids"][i] == c.entry_id(keys[i], t)
        assert res["search"][i] == norm.normalize_search(t)
        assert res["user"][i] == norm.normalize_user(t)
        assert res["card"][i] == norm.normalize_card(t)
    for p, row in zip(pws, res["derive"]):
        key, door_id = c.derive_door(c.password_bytes(*p), c.salt("general", clinic), c.KdfParams(1, 8192))
        assert row == {"pw": c.password_bytes(*p).hex(), "door_key": c.b64e(key), "door_id": door_id}


@needs_node
def test_note_made_by_js_opens_in_python() -> None:
    n = load("notes.json")
    res = crosscheck({"note": {"clinic": n["clinic"], "door": n["door"], "ts": n["ts"], "note_sk": n["note_sk"],
                               "notes_pk": n["notes_pk"], "payload": n["payload"]}})
    note = res["note"]
    assert set(note) == {"v", "clinic", "door", "ts", "sealed", "sig"}
    sealed = b(note["sealed"])
    assert sealed != b(n["sealed"])  # a fresh ephemeral key every time
    signed = c.note_signed_bytes(note["clinic"], note["door"], note["ts"], sealed)
    assert c.verify(b(n["note_pk"]), signed, b(note["sig"]))
    assert c.open_sealed(b(n["notes_pk"]), b(n["notes_sk"]), sealed).decode() == n["payload_json"]


# -- reader rules (FORMAT.md 1, 1.2, 10): tests/vectors/rules.json, also checked by rules.js ----

RULES = load("rules.json")


def refused(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except c.CryptoError:
        return True
    return False


def test_rule_base64_is_strict() -> None:
    assert len(RULES["b64"]) >= 25
    for row in RULES["b64"]:
        if row["hex"] is None:
            assert refused(c.b64d, row["text"]), row
        else:
            assert c.b64d(row["text"]).hex() == row["hex"], row


def test_rule_site_kdf_test_flag_and_loopback() -> None:
    from exporter import site_rules

    for row in RULES["site_kdf"]:
        if row["params"] is None:
            assert refused(site_rules.check_site_kdf, row["kdf"], row["loopback"]), row
        else:
            p = site_rules.check_site_kdf(row["kdf"], row["loopback"])
            assert {"ops": p.ops, "mem": p.mem} == row["params"], row
    for row in RULES["loopback"]:
        assert site_rules.is_loopback(row["host"]) is row["loopback"], row


def test_rule_site_json_and_index() -> None:
    from exporter import site_rules

    for row in RULES["site"]:
        assert refused(site_rules.check_site, row["site"], row["clinic"], row["loopback"]) is row["refused"], row
    for row in RULES["root"]:
        assert refused(site_rules.check_root, row["index"]) is row["refused"], row

    def root(n: int) -> dict[str, Any]:
        return {"v": 2, "databases": [{"id": "main", "name": "main", "count": n, "diary": {},
                                       "shards": [{"obj": "obj/" + "ab" * 16 + ".bin", "n": 1}] * n}]}
    assert not refused(site_rules.check_root, root(4096))
    assert refused(site_rules.check_root, root(4097))


def test_rule_index_shard_and_rows() -> None:
    from exporter import site_rules

    for row in RULES["index_shard"]:
        assert refused(site_rules.check_shard, row["shard"], row["db"], row["i"], row["n"]) is row["refused"], row
    for row in RULES["shard_row"]:
        assert refused(site_rules.check_shard_row, row["row"]) is row["refused"], row
    for row in RULES["object_name"]:
        assert refused(site_rules.check_object_name, row["obj"], b(row["body"])) is row["refused"], row


SHARDS = load("shards.json")


def _walk_shard(case: dict[str, Any]) -> dict[str, Any]:
    from exporter import site_rules

    d = SHARDS
    body = site_rules.check_object_name(case["obj"], b(case["body"]))
    shard = c.open_body(c.shard_key(b(d["ik"]), case["db"], case["i"]), body,
                        c.shard_ad(d["clinic"], d["door_id"], case["db"], case["i"]))
    for row in site_rules.check_shard(shard, case["db"], case["i"], case["n"])["rows"]:
        site_rules.check_shard_row(row)
    return shard


@pytest.mark.parametrize("case", SHARDS["cases"], ids=lambda x: x["name"])
def test_index_shard_walk(case: dict[str, Any]) -> None:
    if case["refused"]:
        with pytest.raises(c.CryptoError):
            _walk_shard(case)
    else:
        assert len(_walk_shard(case)["rows"]) == case["n"]


def test_index_shard_keys_membership_and_order() -> None:
    from exporter import site_rules

    ik = b(SHARDS["ik"])
    for k in SHARDS["keys"]:
        assert c.b64e(c.shard_key(ik, k["db"], k["i"])) == k["key"]
        assert c.shard_ad(SHARDS["clinic"], SHARDS["door_id"], k["db"], k["i"]).hex() == k["ad"]
    for m in SHARDS["membership"]:
        assert c.shard_of(ik, m["rid"], m["shards"]) == m["shard"]
    root = SHARDS["root"]
    files = {x["obj"]: b(x["body"]) for x in SHARDS["cases"] if not x["refused"]}
    rows = site_rules.read_rows(files.__getitem__, SHARDS["clinic"], SHARDS["door_id"], ik,
                                site_rules.check_root(root)["databases"][0])
    assert [r["rid"] for r in rows] == SHARDS["order"]


def test_rule_door_keys_and_site_kdf() -> None:
    for row in RULES["door_object"]:
        site = None if row["site"] is None else c.KdfParams(**row["site"])
        assert refused(c.check_door_object, row["door"], row["entry"], site) is row["refused"], row


def test_rule_door_payloads_and_pointers() -> None:
    from exporter import site_rules

    for row in RULES["door_payload"]:
        assert refused(site_rules.check_door_payload, row["payload"], row["who"]) is row["refused"], row
    for row in RULES["pointer_card"]:
        assert refused(site_rules.check_record_pointer, row["pointer"], row["card"]) is row["refused"], row


def test_rule_bundle_matches_pointer() -> None:
    from exporter import site_rules

    for row in RULES["bundle"]:
        assert refused(site_rules.check_bundle, row["bundle"], row["pointer"]) is row["refused"], row


def test_rule_diary_key_is_derived() -> None:
    from exporter import site_rules

    ik = b(RULES["ik"])
    for row in RULES["diary"]:
        args = (row["pointer"], ik, row["db"], row["month"])
        assert refused(site_rules.check_diary_pointer, *args) is row["refused"], row
        if not row["refused"]:
            assert c.b64e(site_rules.check_diary_pointer(*args)) == row["key"]
    for row in RULES["diary_shard"]:
        assert refused(site_rules.check_diary_shard, row["shard"], row["db"], row["month"]) is row["refused"], row
    # the chain's index carries the derived key, as every writer MUST
    index = next(x for x in CHAIN["bodies"] if x["kind"] == "index")
    account = CHAIN["doors"][3]
    shard = index["value"]["databases"][0]["diary"]["2026-11"]
    assert site_rules.check_diary_pointer(shard, b(account["payload"]["ik"]), "main", "2026-11") == b(shard["key"])


def test_rows_are_ordered_by_utf16_code_units_as_javascript_compares() -> None:
    """U+FF5E sorts after U+1F9B7 in UTF-16 (a surrogate pair starts with 0xD83E), though not
    by code point: the Python reader and writer order rows as the browser does."""
    from exporter import site_rules

    def row(s0: str, card: str, rid: str) -> dict[str, Any]:
        return {"sort": [s0, ""], "card": card, "rid": rid}
    rows = [row("\uff5e", "A", "1"), row("\U0001f9b7", "A", "1"), row("a", "B", "1"), row("a", "A", "2"), row("a", "A", "1")]
    assert [(r["sort"][0], r["card"], r["rid"]) for r in sorted(rows, key=site_rules.row_order)] == [
        ("a", "A", "1"), ("a", "A", "2"), ("a", "B", "1"), ("\U0001f9b7", "A", "1"), ("\uff5e", "A", "1")]
    assert sorted(["\uff5e", "\U0001f9b7"]) == ["\uff5e", "\U0001f9b7"]  # code points differ
