"""The keystore backup file and the recovery key that seals it (docs/FORMAT.md 11).

A backup is a magic line, a JSON header line and one XChaCha20-Poly1305 ciphertext of a
gzipped tar holding ``manifest.json``, ``config.toml`` and ``keys.sqlite``. The key comes
from the clinic's 32-byte recovery key; the header (with the clinic id) is associated data,
so a backup cannot be passed off as another clinic's or re-dated. libsodium is reached
through exporter/crypto.py only.
"""
from __future__ import annotations

import base64
import gzip
import io
import json
import re
import tarfile
from dataclasses import dataclass
from typing import Any

from . import crypto
from .errors import ChartsealError

MAGIC = b"chartseal-backup/1\n"
VERSION = 1
HEADER_KEYS = frozenset({"v", "clinic", "created", "key_id", "n"})
MEMBERS = ("manifest.json", "config.toml", "keys.sqlite")
MAX_HEADER = 1024
MAX_MEMBER = 1 << 30  # a keystore of a million patients is well under this
RECOVERY_BYTES = 32
CHECK_BYTES = 3  # 32 + 3 bytes = 280 bits = 56 base32 letters, 14 groups of 4
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: read aloud and typed safely
_TO_CROCKFORD = str.maketrans(_B32, _CROCKFORD)
_FROM_CROCKFORD = str.maketrans(_CROCKFORD, _B32)
_CREATED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DAMAGED_HINT = "use another backup (the service keeps the last ones in backup_dir)"


class BackupError(ChartsealError):
    """A backup cannot be written, read, opened or restored."""


# -- the recovery key ------------------------------------------------------------------


def _check(rk: bytes) -> bytes:
    return crypto.hash_(16, crypto.label("chartseal/v1/recovery-check"), key=rk)[:CHECK_BYTES]


def key_text(rk: bytes) -> str:
    """The recovery key as 14 groups of 4 Crockford base32 letters, the last ones a check."""
    if len(rk) != RECOVERY_BYTES:
        raise BackupError("a recovery key is 32 bytes")
    letters = base64.b32encode(rk + _check(rk)).decode("ascii").translate(_TO_CROCKFORD)
    return "-".join(letters[i:i + 4] for i in range(0, len(letters), 4))


def parse_key(text: str) -> bytes:
    """A recovery key as typed: any case, any spaces or dashes, O for 0 and I or L for 1."""
    letters = re.sub(r"[\s\-]", "", text.upper()).translate(str.maketrans("OIL", "011"))
    if len(letters) != 56 or any(c not in _CROCKFORD for c in letters):
        raise BackupError("that is not a recovery key (expected 14 groups of 4 letters and digits)",
                          hint="type it as printed, e.g. 7K2Q-...; spaces and dashes do not matter")
    raw = base64.b32decode(letters.translate(_FROM_CROCKFORD))
    rk, check = raw[:RECOVERY_BYTES], raw[RECOVERY_BYTES:]
    if _check(rk) != check:
        raise BackupError("the recovery key has a typo (its check letters do not match)",
                          hint="compare it group by group with the printed recovery key")
    return rk


def key_id(rk: bytes) -> str:
    return crypto.hash_(16, crypto.label("chartseal/v1/backup-key-id"), key=rk).hex()


def _sealing_key(rk: bytes) -> bytes:
    return crypto.hash_(crypto.KEY_BYTES, crypto.label("chartseal/v1/backup-key"), key=rk)


def _ad(clinic: str, head: bytes) -> bytes:
    return crypto.label("chartseal/v1/backup", clinic) + head


# -- sealing and opening ----------------------------------------------------------------


@dataclass(frozen=True)
class Contents:
    clinic: str
    created: str
    files: dict[str, bytes]  # the MEMBERS, by name

    @property
    def manifest(self) -> dict[str, Any]:
        value = json.loads(self.files["manifest.json"])
        return value if isinstance(value, dict) else {}


def seal(rk: bytes, contents: Contents, nonce: bytes | None = None) -> bytes:
    """The backup file's bytes."""
    # The nonce is in the header, which is associated data, so it is chosen first.
    nonce = nonce if nonce is not None else crypto.random_key()[:crypto.NONCE_BYTES]
    header = {"v": VERSION, "clinic": contents.clinic, "created": contents.created,
              "key_id": key_id(rk), "n": crypto.b64e(nonce)}
    head = MAGIC + crypto.canonical_json(header) + b"\n"
    _, ct = crypto.aead_seal(_sealing_key(rk), _pack(contents.files), _ad(contents.clinic, head), nonce)
    return head + ct


def read_header(data: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """``(header, the two header lines, ciphertext)``; a parse error for anything else."""
    if not data.startswith(MAGIC):
        if data.startswith(b"chartseal-backup/"):
            raise BackupError("this backup was written by a newer chartseal",
                              hint="restore it with the version that wrote it, or a newer one")
        raise BackupError("this is not a chartseal backup", hint="name a file made by chartseal backup create")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        raise BackupError("the backup is damaged (no header)", hint=_DAMAGED_HINT)
    line = data[len(MAGIC):end]
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if (not isinstance(header, dict) or set(header) != HEADER_KEYS
            or crypto.canonical_json(header) != line):
        raise BackupError("the backup is damaged (bad header)", hint=_DAMAGED_HINT)
    if type(header["v"]) is not int or header["v"] != VERSION:
        raise BackupError(f"unknown backup version {header['v']!r}",
                          hint="restore it with the version that wrote it, or a newer one")
    clinic, created, kid = header["clinic"], header["created"], header["key_id"]
    if not (isinstance(clinic, str) and len(clinic) == 10 and clinic.isdigit()
            and isinstance(created, str) and _CREATED_RE.match(created)
            and isinstance(kid, str) and re.fullmatch(r"[0-9a-f]{32}", kid)):
        raise BackupError("the backup is damaged (bad header)", hint=_DAMAGED_HINT)
    try:
        crypto.b64d(header["n"], crypto.NONCE_BYTES)
    except crypto.CryptoError as exc:
        raise BackupError("the backup is damaged (bad header)", hint=_DAMAGED_HINT) from exc
    return header, data[:end + 1], data[end + 1:]


def open_backup(rk: bytes, data: bytes) -> Contents:
    """Check the key and open the backup; every failure is a BackupError with a hint."""
    header, head, ct = read_header(data)
    if header["key_id"] != key_id(rk):
        raise BackupError("wrong recovery key: this backup was sealed with another one",
                          hint="use the recovery key printed for this clinic "
                               f"({header['clinic']}) at chartseal init or by chartseal backup key")
    nonce = crypto.b64d(header["n"], crypto.NONCE_BYTES)
    try:
        plain = crypto.aead_open(_sealing_key(rk), nonce, ct, _ad(header["clinic"], head))
    except crypto.CryptoError as exc:
        raise BackupError("the backup is damaged or was altered (it fails authentication)",
                          hint=_DAMAGED_HINT) from exc
    files = _unpack(plain)
    contents = Contents(header["clinic"], header["created"], files)
    if contents.manifest.get("clinic") != header["clinic"]:
        raise BackupError("the backup's manifest names another clinic", hint=_DAMAGED_HINT)
    return contents


def _pack(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    # mtime 0 and fixed owners: the tar says nothing about the computer it was made on.
    # Level 1: keys do not compress, and the service writes one after every change of keys
    # (50,000 patients: 0.6 s and 15.5 MB, against 3.6 s and 15.4 MB at level 9).
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=1) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name in MEMBERS:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(files[name]), 0o600
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def _unpack(plain: bytes) -> dict[str, bytes]:
    """The members, each a regular file named in MEMBERS, each once, and nothing else."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz") as tar:
            for info in tar:
                if info.name not in MEMBERS or not info.isreg() or info.name in files \
                        or info.size > MAX_MEMBER:
                    raise BackupError(f"the backup holds an unexpected entry {info.name!r}",
                                      hint=_DAMAGED_HINT)
                fh = tar.extractfile(info)
                files[info.name] = fh.read() if fh else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError("the backup's contents are damaged", hint=_DAMAGED_HINT) from exc
    if set(files) != set(MEMBERS):
        raise BackupError("the backup lacks " + ", ".join(sorted(set(MEMBERS) - set(files))),
                          hint=_DAMAGED_HINT)
    return files
