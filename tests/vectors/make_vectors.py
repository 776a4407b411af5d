"""Write the known-answer vectors of docs/FORMAT.md into tests/vectors/*.json.

Run ONCE; the output is committed and the tests never regenerate it, so a change to
exporter/crypto.py or crypto.js that alters any byte of the format makes a test fail.

    .venv/bin/python tests/vectors/make_vectors.py

Every input is fixed (keys from SHA-256 of a name, fixed nonces), except the sealed box of
a note, which libsodium always randomizes: that one is stored and checked to OPEN.
"""
from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any

import nacl.public
import nacl.signing

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from exporter import crypto as c  # noqa: E402

OUT = Path(__file__).resolve().parent
CLINIC = "4821930571"
SMALL = [c.KdfParams(ops=1, mem=8192), c.KdfParams(ops=2, mem=16384), c.KdfParams(ops=1, mem=65536)]
SECURE = c.KdfParams(ops=3, mem=64 << 20)


def fixed(name: str, size: int = 32) -> bytes:
    """Deterministic test bytes, named so a reader can see where each one comes from."""
    return hashlib.sha256(f"chartseal test vector: {name}".encode()).digest()[:size]


def fixed_sign_key(name: str) -> tuple[bytes, bytes]:
    # Fixed test keys only; product code makes keys through exporter.crypto.
    key = nacl.signing.SigningKey(fixed(name))
    return bytes(key.verify_key), fixed(name) + bytes(key.verify_key)


def fixed_box_key(name: str) -> tuple[bytes, bytes]:
    key = nacl.public.PrivateKey(fixed(name))
    return bytes(key.public_key), bytes(key)


def write(name: str, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote tests/vectors/{name}")


# -- labels, salts, ids ----------------------------------------------------------------

LABEL_CASES: list[tuple[str, list[Any]]] = [
    ("chartseal/v1/object-name", []),
    ("chartseal/v1/salt/patient", [CLINIC, "AB12"]),
    ("chartseal/v1/door", [CLINIC, "00" * 16, 3, 67108864, "AAAA"]),
    ("chartseal/v1/diary", [CLINIC, "ff" * 16, "main", "2026-11"]),
    ("chartseal/v1/note", [CLINIC, "ab" * 16, 1795000000]),
    ("chartseal/v1/salt/account", [CLINIC, "e\u0301mile"]),  # NFD in, NFC bytes out
    ("chartseal/v1/salt/account", [CLINIC, "د. أمل"]),
    ("chartseal/v1/entry-id", [""]),
    ("chartseal/v1/index-shard", [CLINIC, "ff" * 16, "main", 0]),
    ("chartseal/v1/index-shard-key", ["عيادة", 4095]),
    ("chartseal/v1/index-shard-of", ["5e" * 16]),
]


def labels_doc() -> dict[str, Any]:
    rows = [{"name": n, "parts": p, "hex": c.label(n, *p).hex()} for n, p in LABEL_CASES]
    return {"comment": "L(name, parts...) of FORMAT.md 1.1; string parts are NFC-normalized", "labels": rows}


def ids_doc() -> dict[str, Any]:
    salts = [
        {"kind": "patient", "clinic": CLINIC, "parts": ["AB12"]},
        {"kind": "patient", "clinic": CLINIC, "parts": ["٤٥٦X"]},
        {"kind": "general", "clinic": CLINIC, "parts": []},
        {"kind": "account", "clinic": CLINIC, "parts": ["dr.amal"]},
        {"kind": "account", "clinic": CLINIC, "parts": ["admin"]},
        {"kind": "account", "clinic": "0000000001", "parts": ["سارة"]},
    ]
    for s in salts:
        s["salt"] = c.salt(s["kind"], s["clinic"], *s["parts"]).hex()
    passwords = [[""], ["correct horse"], ["caf\u0065\u0301"], ["كلمة سر"], ["login-pw", "user-pw"], ["login-pw", ""]]
    pw_rows = [{"passwords": p, "hex": c.password_bytes(*p).hex()} for p in passwords]
    entry_rows = []
    for i, card in enumerate(["AB12", "X-77", "٤٥٦X"]):
        lk = fixed(f"lk {i}")
        entry_rows.append({"lk": c.b64e(lk), "card": card, "entry_id": c.entry_id(lk, card)})
    names = [b"", b"\x00", fixed("object body", 32), bytes(range(256))]
    name_rows = [{"body": c.b64e(b), "name": c.object_name(b)} for b in names]
    canon = [
        {"b": [1, 2, {"z": None, "a": True}], "a": "نص", "m": "e\u0301 \u2028 <>&'\"\\\n\t"},
        {"v": 1, "rid": "0f" * 16, "card": "AB12", "text": "شكراً 😀", "ts": 1795000000, "who": "patient", "user": ""},
    ]
    canon_rows = [{"value": v, "text": c.canonical_json(v).decode()} for v in canon]
    return {
        "comment": "salts H(16, L(...)), password bytes, entry ids, object names, canonical JSON",
        "salts": salts, "password_bytes": pw_rows, "entry_ids": entry_rows,
        "object_names": name_rows, "canonical_json": canon_rows,
    }


# -- KDF -------------------------------------------------------------------------------


def kdf_doc() -> dict[str, Any]:
    ok = [{"alg": "argon2id13", "ops": p.ops, "mem": p.mem} for p in [*SMALL, SECURE]]
    ok.append({"alg": "argon2id13", "ops": 10, "mem": 1 << 30})
    bad = [
        {"alg": "argon2id13", "ops": 11, "mem": 65536},
        {"alg": "argon2id13", "ops": 0, "mem": 65536},
        {"alg": "argon2id13", "ops": 3, "mem": (1 << 30) + 1},
        {"alg": "argon2id13", "ops": 3, "mem": 8191},
        {"alg": "argon2i13", "ops": 3, "mem": 65536},
        {"alg": "argon2id13", "ops": "3", "mem": 65536},
        {"alg": "argon2id13", "ops": 3},
        {"ops": 3, "mem": 65536},
    ]
    derive = []
    cases = [
        ("patient", [CLINIC, "AB12"], ["Vq3-kT9p-Hx2w"], SMALL[0]),
        ("general", [CLINIC], ["general pässword"], SMALL[1]),
        ("account", [CLINIC, "dr.amal"], ["clinic login", "amal's pw"], SMALL[2]),
        ("account", [CLINIC, "admin"], ["clinic login", ""], SMALL[0]),
        ("patient", [CLINIC, "AB12"], ["Vq3-kT9p-Hx2w"], SECURE),
    ]
    for kind, parts, pws, p in cases:
        salt, pw = c.salt(kind, *parts), c.password_bytes(*pws)
        key, door_id = c.derive_door(pw, salt, p)
        derive.append({
            "salt_kind": kind, "salt_parts": parts, "passwords": pws, "pw": pw.hex(),
            "salt": salt.hex(), "ops": p.ops, "mem": p.mem, "door_key": c.b64e(key), "door_id": door_id,
        })
    return {"comment": "kdf checks (FORMAT.md 1.2) and door derivation (5.1)", "ok": ok, "bad": bad, "derive": derive}


# -- the chain: doors, entries, bodies -----------------------------------------------------


def body_row(kind: str, key: bytes, ad_parts: list[Any], value: dict[str, Any], tag: str) -> dict[str, Any]:
    ad = c.label(f"chartseal/v1/{kind}", *ad_parts)
    nonce = fixed(f"nonce {tag}", c.NONCE_BYTES)
    body = c.seal_body(key, value, ad, nonce=nonce)
    packed = zlib.compress(c.canonical_json(value), 6)
    return {
        "kind": kind, "key": c.b64e(key), "ad_parts": ad_parts, "ad": ad.hex(), "nonce": c.b64e(nonce),
        "value": value, "deflated_len": len(packed), "block": c.pad_block(len(packed)),
        "body": c.b64e(body), "name": c.object_name(body),
    }


SITE_PK, SITE_SK = fixed_sign_key("site key")
# What every door, entry and index payload of the chain carries (FORMAT.md 5.4).
STAMP = {"site_pk": c.b64e(SITE_PK), "seq": 41, "at": "2026-11-26T10:00:00Z"}


def door_row(tag: str, key: bytes, door_id: str, params: c.KdfParams, payload: dict[str, Any],
             entry: bool = False) -> dict[str, Any]:
    note_pk, _ = fixed_sign_key(f"note key {tag}")
    nonce = fixed(f"nonce {tag}", c.NONCE_BYTES)
    payload = {**payload, **STAMP}
    data = c.seal_door(key, CLINIC, door_id, params, note_pk, payload, nonce=nonce, entry=entry)
    ad = (c.entry_ad if entry else c.door_ad)(CLINIC, door_id, params, note_pk)
    return {
        "entry": entry, "door_key": c.b64e(key), "door_id": door_id, "note_pk": c.b64e(note_pk),
        "nonce": c.b64e(nonce), "ad": ad.hex(), "payload": payload, "json": data.decode(),
        "kdf": params.to_json(),
    }


def site_doc() -> dict[str, Any]:
    """A signed site.json (FORMAT.md 4) and the bytes its signature covers."""
    value = {"clinic": CLINIC, "format": c.FORMAT, "kdf": {**SMALL[0].to_json(), "test": True},
             "lang": "ar", "idle_lock_minutes": 10, "patient_pages": True,
             "notes_pk": c.b64e(fixed_box_key("clinic notes key")[0]), "notes_url": "https://n.example/v1/notes",
             "seq": 41, "at": "2026-11-26T10:00:00Z", "floor": 37}
    signed = c.sign_site(SITE_SK, value)
    return {"site_pk": c.b64e(SITE_PK), "value": signed, "json": c.canonical_json(signed).decode(),
            "signed": c.site_signed_bytes(signed).hex()}


def chain_doc() -> dict[str, Any]:
    """One clinic as a viewer walks it: password -> door -> payload -> body."""
    rid, card = "5e" * 16, "AB12"
    ck, ik = fixed("ck"), fixed("ik")
    dk = c.hash_(32, c.label("chartseal/v1/diary-key", "main", "2026-11"), key=ik)  # derived (FORMAT.md 10.4)
    bundle = body_row("bundle", ck, [CLINIC, rid], {
        "v": 2, "rid": rid, "card": card, "title": "أمل الخطيب — Amal", "updated": "2026-11-26T10:00:00",
        "html": "<section><h2 data-i18n=\"visits\">Visits</h2><p>&lt;script&gt; ٱلسَّلَام</p></section>",
    }, "bundle")
    bundle_path = f"obj/{bundle['name']}.bin"
    big = body_row("bundle", fixed("ck big"), [CLINIC, "7a" * 16], {
        "v": 2, "rid": "7a" * 16, "card": "Z9", "title": "large", "updated": "2026-11-26T10:00:00",
        "html": fixed("big", 32).hex() + "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(400)),
    }, "bundle big")
    pw_acct = c.password_bytes("clinic login", "amal's pw")
    acct_key, acct_id = c.derive_door(pw_acct, c.salt("account", CLINIC, "dr.amal"), SMALL[2])
    diary = body_row("diary", dk, [CLINIC, acct_id, "main", "2026-11"], {
        "v": 2, "db": "main", "month": "2026-11",
        "days": {"2026-11-26": {"appointments": 3, "html": "<ul><li>10:00</li></ul>", "paid": 150.0, "visits": 2}},
    }, "diary")
    row = {"rid": rid, "bundle": bundle_path, "ck": c.b64e(ck), "search": "امل الخطيب ab12 0599", "card": card,
           "sort": ["الخطيب", "امل"], "html": "<a href=\"#patient/" + rid + "\">أمل &lt;الخطيب&gt;</a>"}
    shard = body_row("index-shard", c.shard_key(ik, "main", 0), [CLINIC, acct_id, "main", 0],
                     {"v": 2, "db": "main", "shard": 0, "rows": [row]}, "index shard")
    index = body_row("index", ik, [CLINIC, acct_id], {
        "v": 2, "user": "dr.amal", "generated": "2026-11-26T10:00:00", **STAMP, "databases": [{
            "id": "main", "name": "Main", "count": 1, "shards": [{"obj": f"obj/{shard['name']}.bin", "n": 1}],
            "diary": {"2026-11": {"obj": f"obj/{diary['name']}.bin", "key": c.b64e(dk)}},
        }],
    }, "index")
    _, note_sk_p = fixed_sign_key("note key patient")
    _, note_sk_e = fixed_sign_key("note key entry")
    _, note_sk_a = fixed_sign_key("note key account")
    doors = []
    pw_p = c.password_bytes("Vq3-kT9p-Hx2w")
    key, did = c.derive_door(pw_p, c.salt("patient", CLINIC, card), SMALL[0])
    doors.append({"kind": "patient", "passwords": ["Vq3-kT9p-Hx2w"], "salt_parts": [card], **door_row("patient", key, did, SMALL[0], {
        "kind": "record", "who": "patient", "rid": rid, "card": card, "bundle": bundle_path,
        "ck": c.b64e(ck), "note_sk": c.b64e(note_sk_p)})})
    gk, lk = fixed("gk"), fixed("lk")
    key, did = c.derive_door(c.password_bytes("general pässword"), c.salt("general", CLINIC), SMALL[1])
    doors.append({"kind": "general", "passwords": ["general pässword"], "salt_parts": [], **door_row("general", key, did, SMALL[1], {
        "kind": "general", "gk": c.b64e(gk), "lk": c.b64e(lk)})})
    eid = c.entry_id(lk, card)
    doors.append({"kind": "entry", "passwords": [], "salt_parts": [card], **door_row("entry", gk, eid, SMALL[1], {
        "kind": "record", "who": "general", "rid": rid, "card": card, "bundle": bundle_path,
        "ck": c.b64e(ck), "note_sk": c.b64e(note_sk_e)}, entry=True)})
    doors.append({"kind": "account", "passwords": ["clinic login", "amal's pw"], "salt_parts": ["dr.amal"], **door_row(
        "account", acct_key, acct_id, SMALL[2], {
            "kind": "account", "user": "dr.amal", "index": f"obj/{index['name']}.bin", "ik": c.b64e(ik),
            "note_sk": c.b64e(note_sk_a)})})
    return {"comment": "site.json (FORMAT.md 4), doors (5) and sealed bodies (6) of one clinic", "clinic": CLINIC,
            "site": site_doc(), "doors": doors, "bodies": [bundle, big, index, shard, diary]}


# -- notes -----------------------------------------------------------------------------


def notes_doc(chain: dict[str, Any]) -> dict[str, Any]:
    door = chain["doors"][0]
    note_pk, note_sk = fixed_sign_key("note key patient")
    notes_pk, notes_sk = fixed_box_key("clinic notes key")
    payload = {"v": 1, "rid": door["payload"]["rid"], "card": "AB12", "text": "شكراً — thank you",
               "ts": 1795000000, "who": "patient", "user": ""}
    payload_json = c.canonical_json(payload)
    sealed = c.seal_to(notes_pk, payload_json)
    signed = c.note_signed_bytes(CLINIC, door["door_id"], payload["ts"], sealed)
    sig = c.sign(note_sk, signed)
    return {
        "comment": "a note (FORMAT.md 9); the sealed box is random, so check it opens, not its bytes",
        "clinic": CLINIC, "door": door["door_id"], "ts": payload["ts"],
        "note_pk": c.b64e(note_pk), "note_sk": c.b64e(note_sk),
        "notes_pk": c.b64e(notes_pk), "notes_sk": c.b64e(notes_sk),
        "payload": payload, "payload_json": payload_json.decode(),
        "sealed": c.b64e(sealed), "signed": signed.hex(), "sig": c.b64e(sig),
        "note_id": c.hash_(16, c.label("chartseal/v1/note", "id") + sig).hex(),
    }


def main() -> None:
    from negative_vectors import negative_doc  # noqa: PLC0415 - sibling script

    chain = chain_doc()
    write("labels.json", labels_doc())
    write("ids.json", ids_doc())
    write("kdf.json", kdf_doc())
    write("chain.json", chain)
    write("notes.json", notes_doc(chain))
    write("negative.json", negative_doc(chain))
    import shard_rules  # noqa: PLC0415 - sibling script

    write("shards.json", shard_rules.shards_doc())
    import make_normalize  # noqa: PLC0415 - sibling scripts: hand-written answers of FORMAT.md 2, 10
    import make_rules  # noqa: PLC0415

    make_normalize.main()
    make_rules.main()


if __name__ == "__main__":
    main()
