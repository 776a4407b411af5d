"""The note envelope of docs/FORMAT.md 9: parsing, limits and the note id.

Shared by the endpoint and the clinic's `notes fetch`, so both refuse exactly the same
objects. Standard library only: the endpoint must deploy without the rest of chartseal.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

MAX_BODY = 8192            # bytes of the whole request
MAX_PAYLOAD = 5120         # bytes of the sealed payload JSON
SEAL_OVERHEAD = 48         # crypto_box_SEALBYTES: ephemeral public key + MAC
MAX_SEALED = MAX_PAYLOAD + SEAL_OVERHEAD
MAX_TEXT = 4000            # characters of a note's text
WINDOW = 600               # seconds a note's ts may differ from the endpoint's clock
SIG_BYTES = 64
KEYS = frozenset({"v", "clinic", "door", "ts", "sealed", "sig"})
WHO = ("patient", "general", "account")

CLINIC_RE = re.compile(r"[0-9]{10}")
DOOR_RE = re.compile(r"[0-9a-f]{32}")
NOTE_ID_RE = DOOR_RE
_NOTE_LABEL = b"chartseal/v1/note\x00"


class Refused(Exception):
    """A note was refused: ``status`` is the HTTP answer, ``reason`` the short JSON reason."""

    def __init__(self, status: int, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.extra = extra


@dataclass(frozen=True)
class Note:
    clinic: str
    door: str
    ts: int
    sealed: bytes
    sig: bytes

    @property
    def signed(self) -> bytes:
        """``L("chartseal/v1/note", clinic, door, ts) || sealed`` (FORMAT.md 1.1, 9)."""
        return _NOTE_LABEL + b"\x00".join(
            p.encode("ascii") for p in (self.clinic, self.door, str(self.ts))) + b"\x00" + self.sealed

    @property
    def note_id(self) -> str:
        return note_id(self.sig)


def note_id(sig: bytes) -> str:
    """``hex(H(16, L("chartseal/v1/note", "id") || sig))``: BLAKE2b, as libsodium's generichash."""
    return hashlib.blake2b(_NOTE_LABEL + b"id\x00" + sig, digest_size=16).hexdigest()


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise Refused(400, "malformed")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, "bad base64") from None


def parse_note(body: bytes) -> Note:
    """Parse and shape-check a request body; raise :class:`Refused` for anything else."""
    if len(body) > MAX_BODY:
        raise Refused(413, "too large")
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting fits in MAX_BODY
        raise Refused(400, "malformed") from None
    # Exactly the integer 1: 1.0 and true compare equal to 1 in Python but are not a version.
    if not isinstance(obj, dict) or set(obj) != KEYS or type(obj["v"]) is not int or obj["v"] != 1:
        raise Refused(400, "malformed")
    clinic, door, ts = obj["clinic"], obj["door"], obj["ts"]
    if not isinstance(clinic, str) or not CLINIC_RE.fullmatch(clinic):
        raise Refused(400, "malformed")
    if not isinstance(door, str) or not DOOR_RE.fullmatch(door):
        raise Refused(400, "malformed")
    # bool is an int in Python; a JSON true is not a time.
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 1 << 53:
        raise Refused(400, "malformed")
    sealed, sig = _b64(obj["sealed"]), _b64(obj["sig"])
    if len(sig) != SIG_BYTES or not SEAL_OVERHEAD <= len(sealed) <= MAX_SEALED:
        raise Refused(400, "malformed")
    return Note(clinic, door, ts, sealed, sig)


def note_json(note: Note, received: int) -> bytes:
    """The inbox object: the request object as received, plus the endpoint's clock."""
    value = {"v": 1, "clinic": note.clinic, "door": note.door, "ts": note.ts,
             "sealed": base64.b64encode(note.sealed).decode("ascii"),
             "sig": base64.b64encode(note.sig).decode("ascii"), "received": received}
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def parse_stored(data: bytes) -> tuple[Note, int]:
    """An inbox object back into a note and its received time (the same checks apply)."""
    try:
        obj = json.loads(data.decode("utf-8"))
        received = obj.pop("received")
    except (UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError, RecursionError):
        raise Refused(400, "malformed") from None
    if not isinstance(received, int) or isinstance(received, bool):
        raise Refused(400, "malformed")
    return parse_note(json.dumps(obj).encode("utf-8")), received
