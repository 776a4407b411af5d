"""The only module that touches libsodium: every construction of docs/FORMAT.md.

Sizes are constants, lengths are checked before any call, nonces are random, and every
failure is raised as :class:`CryptoError`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

import nacl.bindings as _b
import nacl.exceptions
import nacl.signing
import nacl.public
import nacl.utils

KEY_BYTES = 32
NONCE_BYTES = _b.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES  # 24
TAG_BYTES = _b.crypto_aead_xchacha20poly1305_ietf_ABYTES  # 16
SALT_BYTES = _b.crypto_pwhash_SALTBYTES  # 16
ID_BYTES = 16

MIN_OPS, MAX_OPS = 1, 10
MIN_MEM, MAX_MEM = 8192, 1 << 30
SECURE_OPS, SECURE_MEM = 3, 64 << 20

FORMAT = "chartseal-site/2"
VERSION = 2  # "v" of every door, entry and sealed body
DOOR_PLAIN = 1024  # every door and entry payload is padded to this many bytes (FORMAT.md 5.2)
BODY_MIN = 16384  # the one bucket of every small body (FORMAT.md 6)
MAX_SEQ = (1 << 53) - 1  # a counter a browser holds exactly
_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class CryptoError(Exception):
    """A sealed object could not be opened, or an input had the wrong size."""


class StaleError(CryptoError):
    """A door, entry or index is older than the floor or than one already seen (rollback)."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost: passes and memory in bytes."""

    ops: int = SECURE_OPS
    mem: int = SECURE_MEM

    def check(self) -> "KdfParams":
        if not (MIN_OPS <= self.ops <= MAX_OPS) or not (MIN_MEM <= self.mem <= MAX_MEM):
            raise CryptoError(
                f"key derivation parameters out of range: ops={self.ops}, mem={self.mem}"
            )
        return self

    @property
    def weak(self) -> bool:
        return self.ops < SECURE_OPS or self.mem < SECURE_MEM

    def to_json(self) -> dict[str, Any]:
        return {"alg": "argon2id13", "mem": self.mem, "ops": self.ops}

    @classmethod
    def from_json(cls, obj: Any) -> "KdfParams":
        if not isinstance(obj, dict) or obj.get("alg") != "argon2id13":
            raise CryptoError("unknown key derivation algorithm")
        return cls(ops=_json_int(obj.get("ops")), mem=_json_int(obj.get("mem"))).check()


def _json_int(value: Any) -> int:
    """An integer of a site object, compared by value (FORMAT.md 1): a browser's JSON.parse
    cannot tell 3.0 from 3, so neither may this reader. ``True`` is not a number."""
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is not int:  # bool is an int subclass
        raise CryptoError("key derivation parameters must be integers")
    return value


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def label(name: str, *parts: str | int) -> bytes:
    """``L(name, a, b, ...)`` of FORMAT.md 1.1: each part followed by one 0x00."""
    out = bytearray(name.encode("ascii") + b"\0")
    for part in parts:
        out += nfc(str(part)).encode("utf-8") + b"\0"
    return bytes(out)


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: Any, size: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise CryptoError("expected base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise CryptoError("bad base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        # Non-canonical padding bits would let door text change without detection.
        raise CryptoError("bad base64")
    if size is not None and len(data) != size:
        raise CryptoError(f"expected {size} bytes, got {len(data)}")
    return data


def random_key() -> bytes:
    return nacl.utils.random(KEY_BYTES)


def random_id() -> str:
    return nacl.utils.random(ID_BYTES).hex()


def hash_(size: int, msg: bytes, key: bytes = b"") -> bytes:
    """libsodium's crypto_generichash: BLAKE2b with an optional key.

    hashlib's BLAKE2b is the same function byte for byte (the test vectors check it against
    libsodium.js) and costs a fraction of PyNaCl's call, which matters for the tens of
    thousands of object names and digests an export computes.
    """
    if not 16 <= size <= 64 or len(key) > 64:
        raise CryptoError(f"hash size {size} or key length {len(key)} out of range")
    return hashlib.blake2b(msg, digest_size=size, key=key).digest()


def object_name(body: bytes) -> str:
    return hash_(ID_BYTES, label("chartseal/v1/object-name") + body).hex()


# -- the sharded account index (FORMAT.md 6.2) --------------------------------------------

MAX_SHARDS = 4096
# A writer's shards hold count / S <= this many rows on average. Fewer, larger shards cost
# an edit a larger re-seal (one shard per account, ~100-200 KB at 50,000 patients) but save
# the doctor's browser a request per 256 rows: the whole 50,000 list painted in 1.1 s
# instead of 2.3 s on 2 cores (docs/PERFORMANCE.md, Portal).
SHARD_ROWS = 1024


def shard_key(ik: bytes, db: str, i: int) -> bytes:
    return hash_(KEY_BYTES, label("chartseal/v1/index-shard-key", db, i), key=_key(ik))


def shard_ad(clinic: str, door_id: str, db: str, i: int) -> bytes:
    return label("chartseal/v1/index-shard", clinic, door_id, db, i)


def shard_count(count: int) -> int:
    """S: the smallest power of two with count / S <= SHARD_ROWS, from 1 to 4096."""
    s = 1
    while s < MAX_SHARDS and count > s * SHARD_ROWS:
        s *= 2
    return s


def shard_of(ik: bytes, rid: str, shards: int) -> int:
    """The shard a record's row is in (writers only): keyed by ``ik``, so membership says
    nothing about the patient and is reshuffled when ``ik`` rotates. The first four bytes
    of a 16-byte hash: crypto_generichash has no output shorter than 16 bytes."""
    h = hash_(ID_BYTES, label("chartseal/v1/index-shard-of", rid), key=_key(ik))
    return int.from_bytes(h[:4], "little") % shards


# -- doors ---------------------------------------------------------------------------


def salt(kind: str, clinic: str, *parts: str) -> bytes:
    return hash_(SALT_BYTES, label(f"chartseal/v1/salt/{kind}", clinic, *parts))


def password_bytes(*passwords: str) -> bytes:
    return b"\0".join(nfc(p).encode("utf-8") for p in passwords)


def derive_door(pw: bytes, salt_: bytes, params: KdfParams) -> tuple[bytes, str]:
    """Return ``(door_key, door_id)`` for a password (FORMAT.md 5.1)."""
    params.check()
    if len(salt_) != SALT_BYTES:
        raise CryptoError("salt must be 16 bytes")
    master = _b.crypto_pwhash_alg(
        KEY_BYTES, pw, salt_, params.ops, params.mem, _b.crypto_pwhash_ALG_ARGON2ID13
    )
    door_key = hash_(KEY_BYTES, label("chartseal/v1/door-key"), key=master)
    door_id = hash_(ID_BYTES, label("chartseal/v1/door-id"), key=master).hex()
    return door_key, door_id


def entry_id(lk: bytes, card: str) -> str:
    return hash_(ID_BYTES, label("chartseal/v1/entry-id", card), key=_key(lk)).hex()


# -- AEAD ------------------------------------------------------------------------------


def _key(key: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise CryptoError(f"key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def aead_seal(key: bytes, msg: bytes, ad: bytes, nonce: bytes | None = None) -> tuple[bytes, bytes]:
    nonce = nonce if nonce is not None else nacl.utils.random(NONCE_BYTES)
    if len(nonce) != NONCE_BYTES:
        raise CryptoError("nonce must be 24 bytes")
    ct = _b.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, ad, nonce, _key(key))
    return nonce, ct


def aead_open(key: bytes, nonce: bytes, ct: bytes, ad: bytes) -> bytes:
    if len(nonce) != NONCE_BYTES or len(ct) < TAG_BYTES:
        raise CryptoError("sealed data is too short")
    try:
        return _b.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ad, nonce, _key(key))
    except nacl.exceptions.CryptoError as exc:
        raise CryptoError("sealed data failed authentication") from exc


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _parse_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CryptoError("sealed data is not JSON") from exc
    if not isinstance(value, dict):
        raise CryptoError("sealed data is not a JSON object")
    return value


# -- sealed bodies (FORMAT.md 6) -------------------------------------------------------


def pad_block(length: int) -> int:
    """The padded size of ``length`` deflated bytes: one bucket below 16 KiB, then powers of
    two; PAD adds at least one byte, hence ``length + 1``."""
    return max(BODY_MIN, 1 << length.bit_length()) if length >= 0 else BODY_MIN


def seal_body(key: bytes, value: dict[str, Any], ad: bytes, nonce: bytes | None = None) -> bytes:
    return seal_body_text(key, [canonical_json(value)], ad, nonce)


def seal_body_text(key: bytes, pieces: Iterable[str | bytes], ad: bytes,
                   nonce: bytes | None = None, level: int = 6) -> bytes:
    """A body from its JSON text given piece by piece, compressed as it comes: a large
    index is never held in memory as one text. Any zlib ``level`` gives a valid body."""
    deflate = zlib.compressobj(level)
    out = [deflate.compress(piece if isinstance(piece, bytes) else piece.encode()) for piece in pieces]
    out.append(deflate.flush())
    packed = b"".join(out)
    del out
    plain = _b.sodium_pad(packed, pad_block(len(packed)))
    nonce, ct = aead_seal(key, plain, ad, nonce)
    return nonce + ct


def open_body(key: bytes, body: bytes, ad: bytes) -> dict[str, Any]:
    if len(body) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError("sealed body is too short")
    plain = aead_open(key, body[:NONCE_BYTES], body[NONCE_BYTES:], ad)
    try:
        # The block size is not stored: unpadding with the whole length as one block is
        # valid for every block size (FORMAT.md 6).
        packed = _b.sodium_unpad(plain, len(plain))
        data = zlib.decompress(packed)
    except (ValueError, zlib.error, nacl.exceptions.CryptoError) as exc:
        raise CryptoError("sealed body has bad padding or compression") from exc
    value = _parse_object(data)
    if not _is_version(value.get("v")):
        raise CryptoError(f"unknown sealed body version {value.get('v')!r}")
    return value


def _is_version(v: Any) -> bool:
    return type(v) is int and v == VERSION  # not 2.0, not True


# -- doors and entries (FORMAT.md 5.2, 5.3) ---------------------------------------------


def door_ad(clinic: str, door_id: str, params: KdfParams, note_pk: bytes) -> bytes:
    return label("chartseal/v1/door", clinic, door_id, params.ops, params.mem, b64e(note_pk))


def entry_ad(clinic: str, entry: str, params: KdfParams, note_pk: bytes) -> bytes:
    return label("chartseal/v1/entry", clinic, entry, params.ops, params.mem, b64e(note_pk))


def seal_door(
    door_key: bytes, clinic: str, door_id: str, params: KdfParams, note_pk: bytes,
    payload: dict[str, Any], nonce: bytes | None = None, entry: bool = False,
) -> bytes:
    """A door, or with ``entry`` a general entry, as JSON bytes of the one door length."""
    ad = (entry_ad if entry else door_ad)(clinic, door_id, params, note_pk)
    text = canonical_json(payload)
    if len(text) >= DOOR_PLAIN:
        raise CryptoError(f"door payload of {len(text)} bytes is over the {DOOR_PLAIN - 1}-byte limit")
    n, ct = aead_seal(door_key, _b.sodium_pad(text, DOOR_PLAIN), ad, nonce)
    return canonical_json({"v": VERSION, "kdf": params.to_json(), "note_pk": b64e(note_pk),
                           "n": b64e(n), "ct": b64e(ct)})


DOOR_KEYS = frozenset({"v", "kdf", "note_pk", "n", "ct"})
ENTRY_KEYS = DOOR_KEYS  # an entry carries kdf too, so every file under door/ has one length
DOOR_KDF_KEYS = frozenset({"alg", "ops", "mem"})


def check_door_object(obj: dict[str, Any], entry: bool, site: KdfParams | None = None) -> KdfParams:
    """FORMAT.md 10.1-10.2: a door's outer keys are exactly the listed ones (they are not
    all authenticated, so nothing else may ride along), its ``kdf`` is exactly
    ``{alg, ops, mem}``, and equal to site.json's (``site``) when the reader gives it."""
    if set(obj) != (ENTRY_KEYS if entry else DOOR_KEYS):
        raise CryptoError("door has missing or unknown keys")
    kdf = obj["kdf"]
    if not isinstance(kdf, dict) or set(kdf) != DOOR_KDF_KEYS:
        raise CryptoError("door kdf must hold exactly alg, ops and mem")
    params = KdfParams.from_json(kdf)
    if site is not None and (params.ops, params.mem) != (site.ops, site.mem):
        raise CryptoError("door kdf differs from site.json's")
    return params


def open_door(door_key: bytes, clinic: str, door_id: str, data: bytes, entry: bool = False,
              site: KdfParams | None = None) -> dict[str, Any]:
    """Open a door (``site``: site.json's parameters, which derived ``door_key``) or an entry."""
    obj = _parse_object(data)
    if not _is_version(obj.get("v")):
        raise CryptoError(f"unknown door version {obj.get('v')!r}")
    params = check_door_object(obj, entry, site)
    note_pk = b64d(obj.get("note_pk"), 32)
    ad = (entry_ad if entry else door_ad)(clinic, door_id, params, note_pk)
    ct = b64d(obj.get("ct"))
    if len(ct) != DOOR_PLAIN + TAG_BYTES:
        raise CryptoError("door has the wrong length")
    plain = aead_open(door_key, b64d(obj.get("n"), NONCE_BYTES), ct, ad)
    try:
        plain = _b.sodium_unpad(plain, DOOR_PLAIN)
    except (ValueError, nacl.exceptions.CryptoError) as exc:
        raise CryptoError("door has bad padding") from exc
    payload = _parse_object(plain)
    kinds = ("record",) if entry else ("record", "general", "account")
    if payload.get("kind") not in kinds:
        raise CryptoError(f"unknown door kind {payload.get('kind')!r}")
    return payload


# -- site.json and freshness (FORMAT.md 4, 5.4) -----------------------------------------


def check_seq(value: Any, what: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_SEQ:
        raise CryptoError(f"{what} must be an integer from 1 to 2^53-1")
    return value


def check_at(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _AT_RE.match(value):
        raise CryptoError(f"{what} must be a UTC time like 2026-11-26T10:00:00Z")
    return value


def site_signed_bytes(site: dict[str, Any]) -> bytes:
    return label("chartseal/v2/site") + canonical_json({k: v for k, v in site.items() if k != "sig"})


def sign_site(site_sk: bytes, site: dict[str, Any]) -> dict[str, Any]:
    """``site`` with its ``sig`` (FORMAT.md 4)."""
    return {**site, "sig": b64e(sign(site_sk, site_signed_bytes(site)))}


def check_site(site: dict[str, Any], payload: dict[str, Any]) -> None:
    """The checks a reader makes once a door or entry is open (FORMAT.md 5.4, steps 1-2).

    The site.json signature is verified with the key the door holds; then the door must
    not be older than the floor. Session counters (step 3) are the browser's.
    """
    site_pk = b64d(payload.get("site_pk"), 32)
    if not verify(site_pk, site_signed_bytes(site), b64d(site.get("sig"), 64)):
        raise CryptoError("site.json signature does not verify")
    seq, floor = check_seq(site.get("seq"), "site seq"), check_seq(site.get("floor"), "site floor")
    check_at(site.get("at"), "site time")
    if floor > seq:
        raise CryptoError("site floor above its seq")
    door_seq = check_seq(payload.get("seq"), "door seq")
    check_at(payload.get("at"), "door time")
    if door_seq < floor:
        raise StaleError(f"door of publish {door_seq} is below the floor {floor}")


# -- signatures and notes (FORMAT.md 9) ------------------------------------------------


def sign_keypair() -> tuple[bytes, bytes]:
    """Return ``(public, secret)`` with the 64-byte libsodium secret key."""
    key = nacl.signing.SigningKey.generate()
    return bytes(key.verify_key), bytes(key._signing_key)  # noqa: SLF001 - libsodium's 64-byte form


def sign(secret: bytes, msg: bytes) -> bytes:
    if len(secret) != 64:
        raise CryptoError("signing key must be 64 bytes")
    return _b.crypto_sign(msg, secret)[:64]


def verify(public: bytes, msg: bytes, sig: bytes) -> bool:
    if len(public) != 32 or len(sig) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public).verify(msg, sig)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def note_signed_bytes(clinic: str, door: str, ts: int, sealed: bytes) -> bytes:
    return label("chartseal/v1/note", clinic, door, ts) + sealed


def box_keypair() -> tuple[bytes, bytes]:
    key = nacl.public.PrivateKey.generate()
    return bytes(key.public_key), bytes(key)


def seal_to(public: bytes, msg: bytes) -> bytes:
    return _b.crypto_box_seal(msg, public)


def open_sealed(public: bytes, secret: bytes, sealed: bytes) -> bytes:
    try:
        return _b.crypto_box_seal_open(sealed, public, secret)
    except nacl.exceptions.CryptoError as exc:
        raise CryptoError("note could not be opened") from exc
