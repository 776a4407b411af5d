"""exporter/crypto.py: round trips, byte-flip tamper tests, length checks, caps, padding."""
from __future__ import annotations

import base64
import json
import os
import random
import zlib

import pytest

from exporter import crypto as c

CLINIC = "4821930571"
WEAK = c.KdfParams(ops=1, mem=8192)


@pytest.fixture(autouse=True)
def _weak_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTSEAL_TEST_WEAK_KDF", "1")


SITE_PK, SITE_SK = c.sign_keypair()
STAMP = {"site_pk": c.b64e(SITE_PK), "seq": 7, "at": "2026-11-26T10:00:00Z"}


def small_door(params: c.KdfParams | None = WEAK) -> tuple[bytes, str, bytes, dict]:
    """A general door (``params``), or a general entry (``None``) under the weak params."""
    key, door_id = c.random_key(), c.random_id()
    note_pk, note_sk = c.sign_keypair()
    if params is None:  # a general entry holds a record
        payload = {"kind": "record", "who": "general", "rid": c.random_id(), "card": "AB12",
                   "bundle": "obj/" + c.random_id() + ".bin", "ck": c.b64e(c.random_key()),
                   "note_sk": c.b64e(note_sk), **STAMP}
    else:
        payload = {"kind": "general", "gk": c.b64e(c.random_key()), "lk": c.b64e(c.random_key()), **STAMP}
    data = c.seal_door(key, CLINIC, door_id, params or WEAK, note_pk, payload, entry=params is None)
    return key, door_id, data, payload


# -- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("params", [WEAK, None], ids=["door", "entry"])
def test_door_round_trip(params: c.KdfParams | None) -> None:
    key, door_id, data, payload = small_door(params)
    obj = json.loads(data)
    assert obj["v"] == 2 and obj["kdf"] == WEAK.to_json()
    assert data == c.canonical_json(obj)  # writers emit sorted keys, no white space
    assert c.open_door(key, CLINIC, door_id, data, entry=params is None) == payload


def test_every_door_and_entry_has_one_length() -> None:
    """A general door, an entry, and a door with a long user name in a four-byte script."""
    key, door_id = c.random_key(), c.random_id()
    note_pk, note_sk = c.sign_keypair()
    account = {"kind": "account", "user": "\U0001d49c" * 64, "index": "obj/" + "a" * 32 + ".bin",
               "ik": c.b64e(key), "note_sk": c.b64e(note_sk), **STAMP, "seq": c.MAX_SEQ}
    sizes = {len(small_door(WEAK)[2]), len(small_door(None)[2]),
             len(c.seal_door(key, CLINIC, door_id, WEAK, note_pk, account))}
    assert len(sizes) == 1, sizes


def test_a_payload_over_the_door_size_is_refused() -> None:
    key, door_id = c.random_key(), c.random_id()
    with pytest.raises(c.CryptoError, match="limit"):
        c.seal_door(key, CLINIC, door_id, WEAK, c.sign_keypair()[0], {"kind": "general", "x": "y" * 1000})


def test_a_version_1_door_or_body_is_refused() -> None:
    key, door_id = c.random_key(), c.random_id()
    note_pk, _ = c.sign_keypair()
    ad = c.door_ad(CLINIC, door_id, WEAK, note_pk)
    n, ct = c.aead_seal(key, c.canonical_json({"kind": "general"}), ad)  # a version 1 door
    old = c.canonical_json({"v": 1, "kdf": WEAK.to_json(), "note_pk": c.b64e(note_pk), "n": c.b64e(n), "ct": c.b64e(ct)})
    with pytest.raises(c.CryptoError, match="version"):
        c.open_door(key, CLINIC, door_id, old)
    for v in (1, 2.0, True, "2"):
        with pytest.raises(c.CryptoError, match="version"):
            c.open_body(key, c.seal_body(key, {"v": v}, b"ad"), b"ad")


def test_door_is_bound_to_clinic_id_and_kind() -> None:
    key, door_id, data, _ = small_door()
    with pytest.raises(c.CryptoError):
        c.open_door(key, "0000000001", door_id, data)
    with pytest.raises(c.CryptoError):
        c.open_door(key, CLINIC, c.random_id(), data)
    with pytest.raises(c.CryptoError):
        c.open_door(c.random_key(), CLINIC, door_id, data)
    with pytest.raises(c.CryptoError):  # a door is not an entry: the ad differs
        c.open_door(key, CLINIC, door_id, data, entry=True)


def test_derive_door_round_trip_with_weak_kdf() -> None:
    salt = c.salt("patient", CLINIC, "AB12")
    key, door_id = c.derive_door(c.password_bytes("pw"), salt, WEAK)
    assert len(key) == 32 and len(door_id) == 32 and int(door_id, 16) >= 0
    assert c.derive_door(c.password_bytes("pw"), salt, WEAK) == (key, door_id)
    assert c.derive_door(c.password_bytes("pw2"), salt, WEAK)[1] != door_id
    assert c.derive_door(c.password_bytes("pw"), c.salt("patient", CLINIC, "AB13"), WEAK)[1] != door_id
    assert c.derive_door(c.password_bytes("pw"), salt, c.KdfParams(ops=2, mem=8192))[1] != door_id


def test_salts_and_passwords_separate_their_parts() -> None:
    # The 0x00 after every part keeps ("ab", "c") and ("a", "bc") apart.
    assert c.salt("account", CLINIC, "ab") != c.salt("account", CLINIC + "a", "b")
    assert c.salt("patient", CLINIC, "X") != c.salt("account", CLINIC, "X")
    assert c.password_bytes("a", "") != c.password_bytes("a")
    assert c.password_bytes("e\u0301") == c.password_bytes("\u00e9")


@pytest.mark.parametrize("kind, ad_parts", [
    ("bundle", [CLINIC, "5e" * 16]),
    ("index", [CLINIC, "ab" * 16]),
    ("diary", [CLINIC, "ab" * 16, "main", "2026-11"]),
])
def test_body_round_trip_each_kind(kind: str, ad_parts: list[str]) -> None:
    key, ad = c.random_key(), c.label(f"chartseal/v1/{kind}", *ad_parts)
    value = {"v": 2, "html": "<p>ٱلسَّلَام &amp;</p>", "n": [1, 2.5, None, True]}
    body = c.seal_body(key, value, ad)
    assert c.open_body(key, body, ad) == value
    assert c.seal_body(key, value, ad) != body  # random nonce every time
    for other in ("bundle", "index", "diary"):
        if other != kind:
            with pytest.raises(c.CryptoError):
                c.open_body(key, body, c.label(f"chartseal/v1/{other}", *ad_parts))


def test_note_sign_and_seal_round_trip() -> None:
    pk, sk = c.sign_keypair()
    box_pk, box_sk = c.box_keypair()
    sealed = c.seal_to(box_pk, b'{"text":"hi"}')
    msg = c.note_signed_bytes(CLINIC, c.random_id(), 1795000000, sealed)
    sig = c.sign(sk, msg)
    assert c.verify(pk, msg, sig)
    assert c.open_sealed(box_pk, box_sk, sealed) == b'{"text":"hi"}'
    other_pk, _ = c.sign_keypair()
    assert not c.verify(other_pk, msg, sig)


# -- byte-flip tamper tests -----------------------------------------------------------------


def test_every_byte_of_a_small_body_is_authenticated() -> None:
    key, ad = c.random_key(), c.label("chartseal/v1/bundle", CLINIC, "5e" * 16)
    body = c.seal_body(key, {"v": 2, "t": "x"}, ad)
    assert len(body) == 24 + 16384 + 16
    for i in range(len(body)):
        bad = bytearray(body)
        bad[i] ^= 0x01
        with pytest.raises(c.CryptoError):
            c.open_body(key, bytes(bad), ad)
    for cut in (1, 16, len(body) - 40, len(body) - 39, len(body)):
        with pytest.raises(c.CryptoError):
            c.open_body(key, body[:-cut], ad)
    with pytest.raises(c.CryptoError):
        c.open_body(key, body + b"\0", ad)


@pytest.mark.parametrize("params", [WEAK, None], ids=["door", "entry"])
def test_every_byte_of_a_small_door_is_authenticated(params: c.KdfParams | None) -> None:
    """Flip each byte of the sealed fields (nonce, ct, note_pk) after decoding them."""
    key, door_id, data, _ = small_door(params)
    obj = json.loads(data)
    for field in ("n", "ct", "note_pk"):
        raw = base64.b64decode(obj[field])
        for i in range(len(raw)):
            bad = bytearray(raw)
            bad[i] ^= 0x01
            forged = c.canonical_json({**obj, field: c.b64e(bytes(bad))})
            with pytest.raises(c.CryptoError):
                c.open_door(key, CLINIC, door_id, forged, entry=params is None)


@pytest.mark.parametrize("params", [WEAK, None], ids=["door", "entry"])
def test_every_byte_of_a_small_door_text(params: c.KdfParams | None) -> None:
    """Flip each byte of the door's JSON text: every change is refused.

    That includes non-canonical base64 (padding bits set), which decodes to the same bytes:
    b64d refuses it, as crypto.js does (negative.json).
    """
    key, door_id, data, payload = small_door(params)
    assert c.open_door(key, CLINIC, door_id, data, entry=params is None) == payload
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(c.CryptoError):
            c.open_door(key, CLINIC, door_id, bytes(bad), entry=params is None)


def test_every_byte_of_a_signature_and_sealed_note() -> None:
    pk, sk = c.sign_keypair()
    box_pk, box_sk = c.box_keypair()
    sealed = c.seal_to(box_pk, b"note")
    msg = c.note_signed_bytes(CLINIC, "ab" * 16, 1, sealed)
    sig = c.sign(sk, msg)
    for i in range(len(sig)):
        assert not c.verify(pk, msg, sig[:i] + bytes([sig[i] ^ 1]) + sig[i + 1:])
    for i in range(len(sealed)):
        with pytest.raises(c.CryptoError):
            c.open_sealed(box_pk, box_sk, sealed[:i] + bytes([sealed[i] ^ 1]) + sealed[i + 1:])
    assert not c.verify(pk, c.note_signed_bytes(CLINIC, "ab" * 16, 2, sealed), sig)


# -- lengths and caps ---------------------------------------------------------------------


def test_lengths_are_checked_up_front() -> None:
    key = c.random_key()
    for bad_key in (b"", key[:31], key + b"\0"):
        with pytest.raises(c.CryptoError):
            c.aead_seal(bad_key, b"m", b"ad")
        with pytest.raises(c.CryptoError):
            c.entry_id(bad_key, "AB12")
    with pytest.raises(c.CryptoError):
        c.aead_seal(key, b"m", b"ad", nonce=b"\0" * 23)
    with pytest.raises(c.CryptoError):
        c.aead_open(key, b"\0" * 24, b"\0" * 15, b"ad")
    with pytest.raises(c.CryptoError):
        c.derive_door(b"pw", b"\0" * 15, WEAK)
    with pytest.raises(c.CryptoError):
        c.sign(b"\0" * 32, b"m")
    assert not c.verify(b"\0" * 31, b"m", b"\0" * 64)
    assert not c.verify(b"\0" * 32, b"m", b"\0" * 63)
    with pytest.raises(c.CryptoError):
        c.b64d("AAAA", 4)
    with pytest.raises(c.CryptoError):
        c.b64d(None)
    with pytest.raises(c.CryptoError):
        c.open_body(key, b"\0" * 39, b"ad")


@pytest.mark.parametrize("ops, mem, ok", [
    (1, 8192, True), (10, 1 << 30, True), (3, 64 << 20, True),
    (0, 8192, False), (11, 8192, False), (1, 8191, False), (1, (1 << 30) + 1, False), (-1, -1, False),
])
def test_kdf_caps(ops: int, mem: int, ok: bool) -> None:
    doc = {"alg": "argon2id13", "ops": ops, "mem": mem}
    if ok:
        assert c.KdfParams.from_json(doc) == c.KdfParams(ops, mem)
        return
    with pytest.raises(c.CryptoError):
        c.KdfParams.from_json(doc)
    with pytest.raises(c.CryptoError):  # refused before any memory is spent
        c.derive_door(b"pw", b"\0" * 16, c.KdfParams(ops, mem))


def test_kdf_params_shape() -> None:
    for doc in (None, [], {"alg": "argon2i13", "ops": 3, "mem": 65536}, {"alg": "argon2id13", "ops": 3.5, "mem": 65536},
                {"alg": "argon2id13", "ops": "3", "mem": 65536}, {"alg": "argon2id13", "mem": 65536}):
        with pytest.raises(c.CryptoError):
            c.KdfParams.from_json(doc)
    # Numbers by value (FORMAT.md 1): a browser cannot tell 3.0 from 3, so neither does Python.
    assert c.KdfParams.from_json({"alg": "argon2id13", "ops": 3.0, "mem": 65536.0}) == c.KdfParams(3, 65536)
    assert c.KdfParams().weak is False and WEAK.weak is True
    assert c.KdfParams().to_json() == {"alg": "argon2id13", "mem": 67108864, "ops": 3}


def test_kdf_params_refuse_booleans() -> None:
    with pytest.raises(c.CryptoError):
        c.KdfParams.from_json({"alg": "argon2id13", "ops": True, "mem": 65536})


# -- padding ------------------------------------------------------------------------------


@pytest.mark.parametrize("length, block", [
    (0, 16384), (1, 16384), (4096, 16384), (16383, 16384), (16384, 32768), (20000, 32768),
    (32767, 32768), (32768, 65536), (1 << 20, 1 << 21), ((1 << 20) - 1, 1 << 20),
])
def test_pad_block(length: int, block: int) -> None:
    assert c.pad_block(length) == block


def incompressible(n: int, seed: int) -> dict:
    rnd = random.Random(seed)
    return {"v": 2, "x": base64.b64encode(rnd.randbytes(n)).decode()}


def test_size_classes_hide_exact_length() -> None:
    key, ad = c.random_key(), b"ad"
    # Everything under 16 KiB deflated has one size; above, powers of two.
    for n, m in ((10, 9000), (17000, 24000), (34000, 40000)):
        a, b = c.seal_body(key, incompressible(n, 1), ad), c.seal_body(key, incompressible(m, 2), ad)
        assert len(a) == len(b), (n, m)
    lengths, sizes = set(), set()
    for n in range(0, 60000, 211):
        value = incompressible(n, n)
        packed_len = len(zlib.compress(c.canonical_json(value), 6))
        body = c.seal_body(key, value, ad)
        assert len(body) == 40 + c.pad_block(packed_len)
        assert len(body) - 40 == 16384 or (len(body) - 40) & (len(body) - 41) == 0  # a power of two
        lengths.add(packed_len)
        sizes.add(len(body))
    assert sizes == {16424, 32808, 65576}, sizes


def test_unpad_uses_whole_length_for_every_block() -> None:
    """The reader does not know the block: sodium_unpad(plain, len(plain)) must still work."""
    key = c.random_key()
    for n in (0, 10, 6000, 40000):
        value = incompressible(n, 7)
        assert c.open_body(key, c.seal_body(key, value, b"ad"), b"ad") == value


def test_random_values_are_fresh() -> None:
    assert len({c.random_key() for _ in range(50)}) == 50
    assert all(len(c.random_id()) == 32 for _ in range(5))
    assert os.urandom(1) is not None


# -- site.json signature and the floor (FORMAT.md 4, 5.4) ----------------------------------


def signed_site(**over) -> dict:
    site = {"clinic": CLINIC, "format": c.FORMAT, "lang": "ar", "notes_url": "https://x/ملاحظات",
            "seq": 9, "at": "2026-11-26T10:00:00Z", "floor": 7}
    return c.sign_site(SITE_SK, {**site, **over})


def test_site_signature_round_trip_and_tamper() -> None:
    site = signed_site()
    c.check_site(site, STAMP)  # the door's seq 7 is at the floor: fine
    for key, value in (("lang", "en"), ("seq", 10), ("floor", 6), ("at", "2026-11-26T10:00:01Z"),
                       ("notes_url", "https://evil/"), ("extra", 1)):
        with pytest.raises(c.CryptoError, match="signature"):
            c.check_site({**site, key: value}, STAMP)
    sig = base64.b64decode(site["sig"])
    for i in range(64):
        bad = sig[:i] + bytes([sig[i] ^ 1]) + sig[i + 1:]
        with pytest.raises(c.CryptoError):
            c.check_site({**site, "sig": c.b64e(bad)}, STAMP)
    other_pk, _ = c.sign_keypair()  # a site.json signed by another clinic's key
    with pytest.raises(c.CryptoError, match="signature"):
        c.check_site(site, {**STAMP, "site_pk": c.b64e(other_pk)})
    with pytest.raises(c.CryptoError):
        c.check_site({k: v for k, v in site.items() if k != "sig"}, STAMP)


def test_a_door_below_the_floor_is_stale() -> None:
    with pytest.raises(c.StaleError):
        c.check_site(signed_site(floor=8), STAMP)
    c.check_site(signed_site(floor=1), STAMP)


@pytest.mark.parametrize("over", [{"seq": 9.0}, {"seq": True}, {"floor": 0}, {"floor": 10},
                                  {"seq": 1 << 53}, {"at": "2026-11-26 10:00:00"}, {"at": 5}])
def test_counters_must_be_well_formed(over: dict) -> None:
    with pytest.raises(c.CryptoError):
        c.check_site(signed_site(**over), STAMP)


@pytest.mark.parametrize("over", [{"seq": "7"}, {"seq": 7.0}, {"seq": 0}, {"at": "yesterday"}, {"at": None}])
def test_door_counters_must_be_well_formed(over: dict) -> None:
    with pytest.raises(c.CryptoError):
        c.check_site(signed_site(), {**STAMP, **over})
