"""Keystore backups: write one, keep the last ones, put one back (docs/FORMAT.md 11).

The keystore is the one file whose loss gives every patient a new password, so the clinic
keeps sealed copies of it (with config.toml and the database list) wherever it chooses
(``backup_dir``: a USB disk, a synced folder). The recovery key that seals them is kept in
the keystore, so it can be shown again and the service can seal without asking, and is
printed at ``chartseal init`` to be kept apart from the computer: a copy only inside the
keystore would be lost with it.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import crypto, keystore
from .backup_format import RECOVERY_BYTES, BackupError, Contents, open_backup, seal
from .home import CONFIG, KEYS, Home, atomic_write, home_lock

RECORD = "backup.json"  # when and where the last backup went (read by service status)
SUFFIX = ".backup"
MAX_FILE = 2 << 30


# -- the recovery key in the keystore -----------------------------------------------------


def recovery_key(conn: sqlite3.Connection) -> bytes | None:
    try:
        rk = keystore.get_secret(conn, "recovery_key")
    except KeyError:
        return None
    return rk if len(rk) == RECOVERY_BYTES else None


def ensure_recovery_key(conn: sqlite3.Connection) -> tuple[bytes, bool]:
    """The keystore's recovery key, made now (``True``) for a home of an older version."""
    rk = recovery_key(conn)
    if rk is not None:
        return rk, False
    rk = crypto.random_key()
    with conn:
        keystore.put_secret(conn, "recovery_key", rk)
    return rk, True


# -- writing ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def snapshot(home: Home, conn: sqlite3.Connection, created: str) -> Contents:
    """A consistent copy of the keystore (SQLite's backup API) with config.toml and the list."""
    mem = sqlite3.connect(":memory:")
    try:
        conn.backup(mem)
        keys = mem.serialize()
    finally:
        mem.close()
    manifest = {
        "v": 1, "clinic": home.clinic_id, "created": created,
        "keys_changes": changes(conn),
        "databases": [{"name": d.name, "path": str(d.path), "auto_update": d.auto_update}
                      for d in sorted(home.databases.values(), key=lambda d: d.name)],
    }
    return Contents(home.clinic_id, created, {
        "manifest.json": crypto.canonical_json(manifest),
        "config.toml": (home.root / CONFIG).read_bytes(),
        "keys.sqlite": keys,
    })


def changes(conn: sqlite3.Connection) -> int:
    """How many changes of key material the keystore's triggers have counted."""
    # The triggers store the count as text, which get_secret (bytes) does not take.
    row = conn.execute("SELECT CAST(value AS TEXT) FROM secrets WHERE name = 'keys_changes'").fetchone()
    return int(row[0]) if row and str(row[0]).isdigit() else 0


def backup_dir(home: Home) -> Path:
    chosen = str(home.config.get("backup_dir") or "")
    return Path(chosen).expanduser() if chosen else home.root / "backups"


def create_backup(home: Home, out: Path | None = None) -> Path:
    """Seal a backup to ``out`` (a file or folder; default: backup_dir, rotated)."""
    conn = keystore.connect(home.keys_path)
    try:
        rk = recovery_key(conn)
        if rk is None:
            raise BackupError("this home has no recovery key yet",
                              hint="make one with: chartseal backup key (and write it down)")
        return _write(home, conn, rk, out)
    finally:
        conn.close()


def _write(home: Home, conn: sqlite3.Connection, rk: bytes, out: Path | None) -> Path:
    when = _now()
    contents = snapshot(home, conn, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    folder = out if out is not None and out.is_dir() else (out.parent if out else backup_dir(home))
    if out is None and not home.config.get("backup_dir"):
        folder.mkdir(mode=0o700, exist_ok=True)
    if not folder.is_dir():
        # Never made here: an unplugged USB disk's mount point would fill the system disk.
        raise BackupError(f"the backup folder {folder} does not exist",
                          hint="plug in the disk or create the folder, or change it with: "
                               "chartseal config set backup_dir PATH")
    name = f"chartseal-{home.clinic_id}-{when.strftime('%Y%m%dT%H%M%S.%fZ')}{SUFFIX}"
    path = folder / name if out is None or out.is_dir() else out
    try:
        atomic_write(path, seal(rk, contents), mode=0o600)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {path}: {exc.strerror}",
                          hint="check the disk is plugged in, writable and not full") from exc
    _record(home, {"at": when.timestamp(), "file": str(path), "changes": changes(conn),
                   "error": "", "error_at": None})
    return path


def prune(folder: Path, clinic: str, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest rotated backups of this clinic in ``folder``."""
    mine = sorted(folder.glob(f"chartseal-{clinic}-*{SUFFIX}"))
    gone = mine[:-keep] if keep > 0 else []
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def backup_if_changed(home: Home) -> Path | None:
    """The service's backup: only when key material changed since the last one.

    Returns None when nothing changed or the home has no recovery key (a home of an older
    version until ``chartseal backup key``); raises BackupError when the folder is missing.
    """
    conn = keystore.connect(home.keys_path)
    try:
        rk = recovery_key(conn)
        last = read_record(home.root)
        folder = backup_dir(home)
        if rk is None or (last.get("changes") == changes(conn) and last.get("file")
                          and Path(last["file"]).parent == folder and Path(last["file"]).exists()):
            return None
        path = _write(home, conn, rk, None)
    except BackupError as exc:
        record_error(home, f"{exc}")
        raise
    finally:
        conn.close()
    prune(folder, home.clinic_id, int(home.config.get("backup_keep") or 10))
    return path


# -- the record service status reads -----------------------------------------------------


def read_record(root: Path) -> dict[str, Any]:
    try:
        value = json.loads((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _record(home: Home, value: dict[str, Any]) -> None:
    atomic_write(home.root / RECORD, (json.dumps(value, sort_keys=True) + "\n").encode(), 0o600)


def record_error(home: Home, text: str) -> None:
    value = read_record(home.root)
    value.update(error=text, error_at=_now().timestamp())
    try:
        _record(home, value)
    except OSError:
        pass  # the error is logged by the caller either way


# -- restoring ----------------------------------------------------------------------------


@dataclass
class Restored:
    clinic: str
    created: str
    config_kept: bool                 # the home's own readable config.toml was left in place
    moved: list[Path] = field(default_factory=list)  # files set aside, never deleted
    databases: list[dict[str, Any]] = field(default_factory=list)


def read_backup(path: Path, rk: bytes) -> Contents:
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise BackupError(f"{path} is too large to be a chartseal backup")
        data = path.read_bytes()
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}",
                          hint="check the path (and that the disk is plugged in)") from exc
    return open_backup(rk, data)


def restore(root: Path, contents: Contents, force: bool = False) -> Restored:
    """Put the backup's keystore (and config.toml, if the home has no readable one) in place.

    Refuses a home of another clinic, and a working keystore unless ``force``. Whatever it
    replaces is renamed aside, never deleted; the keystore itself is swapped in one rename.
    """
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    config_kept = _check_config(root, contents.clinic)
    keys = root / KEYS
    state = _keystore_state(keys)
    if state == "ok" and not force:
        raise BackupError(f"{root} already has a working keystore",
                          hint="nothing to restore; to replace it anyway add --force "
                               "(the present one is kept as keys.sqlite.replaced-<time>)")
    home = Home(root=root, clinic_id=contents.clinic, config={})
    result = Restored(contents.clinic, contents.created, config_kept,
                      databases=list(contents.manifest.get("databases") or []))
    stamp = _now().strftime("%Y%m%dT%H%M%SZ")
    with home_lock(home):
        fresh = _stage(root, contents.files["keys.sqlite"])
        try:
            why = "replaced" if state == "ok" else "damaged"
            for suffix in ("", "-wal", "-shm"):
                old = root / f"{KEYS}{suffix}"
                if old.exists():  # a stale WAL must never be applied to the restored file
                    aside = root / f"{KEYS}{suffix}.{why}-{stamp}"
                    os.replace(old, aside)
                    result.moved.append(aside)
            os.replace(fresh, keys)
        finally:
            fresh.unlink(missing_ok=True)
        if not config_kept:
            cfg = root / CONFIG
            if cfg.exists():
                aside = root / f"{CONFIG}.damaged-{stamp}"
                os.replace(cfg, aside)
                result.moved.append(aside)
            atomic_write(cfg, contents.files["config.toml"], mode=0o600)
        _sync_dir(root)
    return result


def _check_config(root: Path, clinic: str) -> bool:
    """True when the home has a readable config.toml of this clinic (kept as it is)."""
    path = root / CONFIG
    if not path.exists():
        return False
    try:
        have = str(tomllib.loads(path.read_text(encoding="utf-8")).get("clinic_id", ""))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    if have != clinic:
        raise BackupError(f"{root} is the home of clinic {have}, the backup is of clinic {clinic}",
                          hint="restore into its own home, or an empty folder: --home DIR")
    return True


def _keystore_state(keys: Path) -> str:
    try:
        keystore.check(keys).close()
    except keystore.KeystoreMissing:
        return "missing"
    except keystore.KeystoreError:
        return "damaged"
    return "ok"


def _stage(root: Path, data: bytes) -> Path:
    """The backup's keystore written beside the real one and proven whole before the swap."""
    fresh = root / f".{KEYS}.{crypto.random_id()[:8]}.restore"
    atomic_write(fresh, data, mode=0o600)
    try:
        keystore.check(fresh).close()
    except keystore.KeystoreError as exc:
        fresh.unlink(missing_ok=True)
        raise BackupError("the backup holds a damaged keystore",
                          hint="use another backup (the service keeps the last ones in backup_dir)") from exc
    return fresh


def _sync_dir(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def catch_up(conn: sqlite3.Connection, site_json: bytes) -> int | None:
    """Raise the restored publish counter to the published ``site.json``'s (FORMAT.md 11).

    The backup may predate the last publishes; counting on from its number would publish
    a site older-looking than the one browsers saw. Only a ``site.json`` signed with this
    keystore's site key counts. Returns the new ``seq``, or None when nothing changed.
    """
    try:
        site = json.loads(site_json)
        pk = keystore.get_secret(conn, "site_pk")
        ok = isinstance(site, dict) and crypto.verify(
            pk, crypto.site_signed_bytes(site), crypto.b64d(site.get("sig"), 64))
        seq, floor = crypto.check_seq(site["seq"], "seq"), crypto.check_seq(site["floor"], "floor")
        at = crypto.check_at(site["at"], "at")
    except (ValueError, KeyError, TypeError, crypto.CryptoError):
        return None
    was = keystore.publish_state(conn)
    if not ok or seq <= was.seq:
        return None
    keystore.record_publish(conn, was._replace(seq=seq, at=at, floor=max(floor, was.floor)))
    return seq
