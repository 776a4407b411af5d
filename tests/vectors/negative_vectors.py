"""Negative vectors: objects every reader MUST refuse (called by make_vectors.py).

Each case names the operation, its inputs and the error class the browser raises:
``format`` (damaged or unknown object) or ``auth`` (wrong key, tampered, moved). Python
raises ``CryptoError`` for both. An ``open_door`` case with ``site`` passes site.json's
``{ops, mem}`` to the reader (FORMAT.md 10.1).
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

import nacl.signing

from exporter import crypto as c


def _flip_field(text: str, field: str, index: int) -> str:
    obj = json.loads(text)
    raw = bytearray(base64.b64decode(obj[field]))
    raw[index] ^= 0x01
    obj[field] = c.b64e(bytes(raw))
    return c.canonical_json(obj).decode()


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64_alias(text: str) -> str:
    """The same bytes with a padding bit set: lenient decoders accept it, strict ones don't."""
    assert text.endswith("=") and not text.endswith("==")
    last = B64[B64.index(text[-2]) ^ 0x01]
    return text[:-2] + last + "="


def _edit(text: str, **changes: Any) -> str:
    obj = json.loads(text)
    obj.update(changes)
    return c.canonical_json(obj).decode()


def _door_case(name: str, error: str, door: dict[str, Any], text: str, **extra: Any) -> dict[str, Any]:
    case = {"name": name, "op": "open_door", "error": error, "door_key": door["door_key"],
            "door_id": door["door_id"], "entry": door["entry"], "json": text}
    case.update(extra)
    return case


def _unpadded(chain: dict[str, Any], door: dict[str, Any], fill: bytes | None = None) -> str:
    """The door's payload sealed authentically but not padded (``fill``: filled to 1024
    bytes with it instead of ISO/IEC 7816-4 padding)."""
    params = c.KdfParams(**{k: door["kdf"][k] for k in ("ops", "mem")})
    note_pk = base64.b64decode(door["note_pk"])
    plain = c.canonical_json(door["payload"])
    if fill is not None:
        plain += fill * (c.DOOR_PLAIN - len(plain))
    ad = c.door_ad(chain["clinic"], door["door_id"], params, note_pk)
    n, ct = c.aead_seal(base64.b64decode(door["door_key"]), plain, ad, nonce=b"\x09" * 24)
    return _edit(door["json"], n=c.b64e(n), ct=c.b64e(ct))


def _door_cases(chain: dict[str, Any]) -> list[dict[str, Any]]:
    patient, general, entry, account = chain["doors"]
    pj = patient["json"]
    resealed_kind = c.seal_door(
        base64.b64decode(patient["door_key"]), chain["clinic"], patient["door_id"],
        c.KdfParams(**{k: patient["kdf"][k] for k in ("ops", "mem")}), base64.b64decode(patient["note_pk"]),
        {**patient["payload"], "kind": "prescription"}, nonce=b"\x07" * 24).decode()
    note_pk = base64.b64decode(patient["note_pk"])
    alias = _b64_alias(c.b64e(note_pk))
    cases = [
        _door_case("door: one bit of ct flipped", "auth", patient, _flip_field(pj, "ct", 5)),
        _door_case("door: last byte of the tag flipped", "auth", patient, _flip_field(pj, "ct", -1)),
        _door_case("door: nonce flipped", "auth", patient, _flip_field(pj, "n", 0)),
        _door_case("door: note_pk replaced (bound in ad)", "auth", patient, _flip_field(pj, "note_pk", 3)),
        _door_case("door: kdf changed within the caps (bound in ad)", "auth", patient,
                   _edit(pj, kdf={"alg": "argon2id13", "ops": 2, "mem": 8192})),
        _door_case("door: opened under another door id (moved)", "auth",
                   {**patient, "door_id": account["door_id"]}, pj),
        _door_case("door: opened with another door's key", "auth", {**patient, "door_key": account["door_key"]}, pj),
        _door_case("door: kdf ops over the cap", "format", patient,
                   _edit(pj, kdf={"alg": "argon2id13", "ops": 11, "mem": 8192})),
        _door_case("door: kdf mem over the cap", "format", patient,
                   _edit(pj, kdf={"alg": "argon2id13", "ops": 1, "mem": 2 << 30})),
        _door_case("door: kdf mem under the floor", "format", patient,
                   _edit(pj, kdf={"alg": "argon2id13", "ops": 1, "mem": 4096})),
        _door_case("door: unknown kdf algorithm", "format", patient,
                   _edit(pj, kdf={"alg": "scrypt", "ops": 1, "mem": 8192})),
        _door_case("door: no kdf", "format", patient, c.canonical_json(
            {k: v for k, v in json.loads(pj).items() if k != "kdf"}).decode()),
        _door_case("door: unknown version 3", "format", patient, _edit(pj, v=3)),
        _door_case("door: version 1 (an older site)", "format", patient, _edit(pj, v=1)),
        _door_case("door: version as text", "format", patient, _edit(pj, v="2")),
        _door_case("door: payload not padded to the door size", "format", patient, _unpadded(chain, patient)),
        _door_case("door: authentic, 1024 bytes without padding", "format", patient, _unpadded(chain, patient, b"\0")),
        _door_case("door: no version", "format", patient, c.canonical_json(
            {k: v for k, v in json.loads(pj).items() if k != "v"}).decode()),
        _door_case("door: not JSON", "format", patient, pj[:-1]),
        _door_case("door: JSON array", "format", patient, "[" + pj + "]"),
        _door_case("door: byte order mark", "format", patient, "\ufeff" + pj),
        _door_case("door: nonce of 23 bytes", "format", patient,
                   _edit(pj, n=c.b64e(base64.b64decode(json.loads(pj)["n"])[:23]))),
        _door_case("door: ct shorter than a tag", "format", patient, _edit(pj, ct=c.b64e(b"\0" * 15))),
        _door_case("door: ct not base64", "format", patient, _edit(pj, ct="*" + json.loads(pj)["ct"][1:])),
        _door_case("door: note_pk of 31 bytes", "format", patient, _edit(pj, note_pk=c.b64e(note_pk[:31]))),
        _door_case("door: base64 with a line break", "format", patient,
                   _edit(pj, ct=json.loads(pj)["ct"][:8] + "\n" + json.loads(pj)["ct"][8:])),
        _door_case("door: note_pk in non-canonical base64 (padding bits set)", "format", patient,
                   _edit(pj, note_pk=alias)),
        _door_case("door: payload of unknown kind", "format", patient, resealed_kind),
        _door_case("entry: one bit of ct flipped", "auth", entry, _flip_field(entry["json"], "ct", 0)),
        _door_case("entry: opened under another entry id (moved)", "auth",
                   {**entry, "door_id": "00" * 16}, entry["json"]),
        _door_case("entry: opened as a door (ad differs)", "auth", {**entry, "entry": False}, entry["json"]),
        _door_case("entry: kdf changed (bound in ad)", "auth", entry,
                   _edit(entry["json"], kdf={"alg": "argon2id13", "ops": 1, "mem": 8192})),
        _door_case("entry: unknown version", "format", entry, _edit(entry["json"], v=0)),
        _door_case("general door opened as an entry (ad differs)", "auth", {**general, "entry": True}, general["json"]),
        _door_case("door: unknown outer key", "format", patient, _edit(pj, seq=1)),
        _door_case("entry: no kdf", "format", entry, c.canonical_json(
            {k: v for k, v in json.loads(entry["json"]).items() if k != "kdf"}).decode()),
        _door_case("door: kdf with an unknown key", "format", patient, _edit(pj, kdf={**patient["kdf"], "test": True})),
        _door_case("door: opens, but its kdf differs from site.json's", "format", patient, pj,
                   site={"ops": 2, "mem": patient["kdf"]["mem"]}),
    ]
    return cases


def _body_case(name: str, error: str, key: str, body: bytes, ad: bytes, **extra: Any) -> dict[str, Any]:
    case = {"name": name, "op": "open_body", "error": error, "key": key, "body": c.b64e(body), "ad": ad.hex()}
    case.update(extra)
    return case


def _sealed_plain(key: bytes, plain: bytes, ad: bytes, tag: int) -> bytes:
    """An authentic body whose plaintext is broken after the AEAD (bad pad, zlib, JSON)."""
    nonce, ct = c.aead_seal(key, plain, ad, nonce=bytes([tag]) * 24)
    return nonce + ct


def _body_cases(chain: dict[str, Any]) -> list[dict[str, Any]]:
    by_kind: dict[str, dict[str, Any]] = {}
    for body in chain["bodies"]:
        by_kind.setdefault(body["kind"], body)  # the first of each kind
    bundle, index, shard, ishard = by_kind["bundle"], by_kind["index"], by_kind["diary"], by_kind["index-shard"]
    clinic = chain["clinic"]
    key, raw = bundle["key"], base64.b64decode(bundle["body"])
    ad = bytes.fromhex(bundle["ad"])
    k = base64.b64decode(key)
    other_rid = "6f" * 16
    flipped = bytearray(raw)
    flipped[30] ^= 0x80
    good_json = zlib.compress(b'{"v":1}')
    cases = [
        _body_case("bundle: moved to another rid's ad", "auth", key, raw, c.label("chartseal/v1/bundle", clinic, other_rid)),
        _body_case("bundle: moved to another clinic", "auth", key, raw,
                   c.label("chartseal/v1/bundle", "0000000001", bundle["ad_parts"][1])),
        _body_case("bundle: opened as an index", "auth", key, raw, c.label("chartseal/v1/index", *bundle["ad_parts"])),
        _body_case("bundle: one bit of ct flipped", "auth", key, bytes(flipped), ad),
        _body_case("bundle: nonce flipped", "auth", key, bytes([raw[0] ^ 1]) + raw[1:], ad),
        _body_case("bundle: truncated by one byte", "auth", key, raw[:-1], ad),
        _body_case("bundle: 39 bytes", "format", key, raw[:39], ad),
        _body_case("bundle: empty", "format", key, b"", ad),
        _body_case("bundle: wrong key", "auth", index["key"], raw, ad),
        _body_case("index: moved to another account's door id", "auth", index["key"],
                   base64.b64decode(index["body"]), c.label("chartseal/v1/index", clinic, "00" * 16)),
        _body_case("diary: opened for another month", "auth", shard["key"], base64.b64decode(shard["body"]),
                   c.label("chartseal/v1/diary", clinic, shard["ad_parts"][1], "main", "2026-10")),
        _body_case("diary: opened for another database", "auth", shard["key"], base64.b64decode(shard["body"]),
                   c.label("chartseal/v1/diary", clinic, shard["ad_parts"][1], "old", "2026-11")),
        _body_case("index shard: opened at another position", "auth", ishard["key"], base64.b64decode(ishard["body"]),
                   c.label("chartseal/v1/index-shard", clinic, ishard["ad_parts"][1], "main", 1)),
        _body_case("index shard: opened for another database", "auth", ishard["key"], base64.b64decode(ishard["body"]),
                   c.label("chartseal/v1/index-shard", clinic, ishard["ad_parts"][1], "old", 0)),
        _body_case("index shard: moved to another account's door id", "auth", ishard["key"],
                   base64.b64decode(ishard["body"]), c.label("chartseal/v1/index-shard", clinic, "00" * 16, "main", 0)),
        _body_case("index shard: opened with the root's key", "auth", index["key"], base64.b64decode(ishard["body"]),
                   bytes.fromhex(ishard["ad"])),
        _body_case("body: authentic but not padded", "format", key, _sealed_plain(k, good_json, ad, 1), ad),
        _body_case("body: authentic, empty plaintext", "format", key, _sealed_plain(k, b"", ad, 2), ad),
        _body_case("body: authentic, padded, not zlib", "format", key,
                   _sealed_plain(k, b"\x01\x02\x03\x04\x80" + b"\0" * 507, ad, 3), ad),
        _body_case("body: authentic, raw deflate without the zlib header", "format", key,
                   _sealed_plain(k, zlib.compress(b'{"v":1}')[2:-4] + b"\x80" + b"\0" * 100, ad, 4), ad),
        _body_case("body: authentic, truncated zlib stream", "format", key,
                   _sealed_plain(k, good_json[:-3] + b"\x80" + b"\0" * 100, ad, 5), ad),
        _body_case("body: authentic, JSON array", "format", key,
                   _sealed_plain(k, zlib.compress(b"[1,2]") + b"\x80" + b"\0" * 100, ad, 6), ad),
        _body_case("body: authentic, not UTF-8", "format", key,
                   _sealed_plain(k, zlib.compress(b'{"v":1,"t":"\xff"}') + b"\x80", ad, 7), ad),
        _body_case("body: authentic, unknown version", "format", key,
                   _sealed_plain(k, zlib.compress(b'{"v":3}') + b"\x80", ad, 8), ad),
        _body_case("body: authentic, version 1 (an older site)", "format", key,
                   _sealed_plain(k, zlib.compress(b'{"v":1}') + b"\x80", ad, 9), ad),
    ]
    return cases


def _other_cases(chain: dict[str, Any]) -> list[dict[str, Any]]:
    salt = c.salt("general", chain["clinic"]).hex()
    pw = c.password_bytes("x").hex()
    return [
        {"name": "derive: ops over the cap", "op": "derive_door", "error": "format", "pw": pw, "salt": salt, "ops": 11, "mem": 8192},
        {"name": "derive: mem over the cap", "op": "derive_door", "error": "format", "pw": pw, "salt": salt,
         "ops": 1, "mem": (1 << 30) + 1024},
        {"name": "derive: salt of 15 bytes", "op": "derive_door", "error": "format", "pw": pw, "salt": salt[:30],
         "ops": 1, "mem": 8192},
        {"name": "b64: missing padding", "op": "b64d", "error": "format", "text": "QUI"},
        {"name": "b64: url-safe alphabet", "op": "b64d", "error": "format", "text": "-_8="},
        {"name": "b64: white space", "op": "b64d", "error": "format", "text": "QU I="},
        {"name": "b64: padding bits set", "op": "b64d", "error": "format", "text": "QR=="},
    ]


def _site_cases(chain: dict[str, Any]) -> list[dict[str, Any]]:
    """site.json against a door payload (FORMAT.md 5.4 steps 1-2); ``stale`` is a rollback."""
    site, payload = chain["site"]["value"], chain["doors"][0]["payload"]
    other_pk = c.b64e(nacl.signing.SigningKey(b"\x05" * 32).verify_key.encode())

    def case(name: str, error: str, site_: dict[str, Any], payload_: dict[str, Any] = payload) -> dict[str, Any]:
        return {"name": name, "op": "check_site", "error": error, "site": site_, "payload": payload_}

    sig = bytearray(base64.b64decode(site["sig"]))
    sig[10] ^= 1
    resigned = lambda **kw: c.sign_site(nacl.signing.SigningKey(  # noqa: E731 - the chain's own key
        hashlib.sha256(b"chartseal test vector: site key").digest()).encode() + base64.b64decode(chain["site"]["site_pk"]),
        {**site, **kw})
    return [
        case("site: a signed field changed (lang)", "auth", {**site, "lang": "en"}),
        case("site: floor lowered", "auth", {**site, "floor": 1}),
        case("site: a field added", "auth", {**site, "extra": True}),
        case("site: signature flipped", "auth", {**site, "sig": c.b64e(bytes(sig))}),
        case("site: no signature", "format", {k: v for k, v in site.items() if k != "sig"}),
        case("site: verified with another clinic's key", "auth", site, {**payload, "site_pk": other_pk}),
        case("site: door of a publish below the floor (rollback)", "stale", resigned(seq=payload["seq"] + 2, floor=payload["seq"] + 1)),
        case("site: floor above seq", "format", resigned(floor=site["seq"] + 1)),
        case("site: seq as text", "format", resigned(seq="41")),
        case("site: at without the zone", "format", resigned(at="2026-11-26T10:00:00")),
        case("site: door seq missing", "format", site, {k: v for k, v in payload.items() if k != "seq"}),
        case("site: door seq zero", "format", site, {**payload, "seq": 0}),
    ]


def negative_doc(chain: dict[str, Any]) -> dict[str, Any]:
    cases = _door_cases(chain) + _body_cases(chain) + _other_cases(chain) + _site_cases(chain)
    return {"comment": __doc__.strip(), "clinic": chain["clinic"], "cases": cases}
