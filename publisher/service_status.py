"""The service's single-instance lock, its heartbeat file and what `service status` reads.

The lock (``<home>/service.lock``) is an ``flock`` held for the whole life of the service;
the kernel drops it when the process ends, even on kill -9, so "running" is never a guess
from a stale file. It is a different file from the export/publish lock (``<home>/.lock``),
which the service takes only around each export and upload. The heartbeat
(``<home>/service.json``) says what the service is doing and is rewritten every few seconds.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from exporter.errors import ChartsealError

from .policy import env_numbers

LOCK_FILE = "service.lock"
HEARTBEAT_FILE = "service.json"
ENV_PREFIX = "CHARTSEAL_SERVICE_"


class ServiceError(ChartsealError):
    """The background service cannot start or be installed."""


class AlreadyRunning(ServiceError):
    """Another service process holds this home's service lock."""


@dataclass(frozen=True)
class ServiceSettings:
    """Service tunables, each overridable by CHARTSEAL_SERVICE_<FIELD> (tests, operators)."""

    # Changes closer together than this are published together (a save writes several times).
    debounce_seconds: float = 0.3
    # A burst that never goes quiet is still published after this long.
    debounce_max_seconds: float = 2.0
    # How often the heartbeat file is rewritten.
    beat_seconds: float = 3.0
    # How often notes are fetched from the inbox (when notes_url is set).
    notes_seconds: float = 60.0
    # Wait after a failed export (database locked, missing): doubles up to the cap.
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 300.0
    # Log file rotation.
    log_bytes: int = 1_000_000
    log_files: int = 5

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "ServiceSettings":
        try:
            return cls(**env_numbers(cls, ENV_PREFIX, environ))
        except ValueError as exc:
            raise ServiceError(str(exc), hint="unset it or give a number") from None

    @property
    def stale_after(self) -> float:
        """A heartbeat older than this means the service is stuck, not just busy."""
        return max(30.0, 5 * self.beat_seconds)


# -- the lock -------------------------------------------------------------------------
class PidLock:
    """An flock on a file that holds its holder's PID, so a refusal can say who has it. The
    kernel drops it when the process ends, even by kill -9: it is never stale."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh: Any = None

    def _take(self, wait: float, step: float) -> str | None:
        """Take it within ``wait`` seconds (a reader may hold it shared for an instant);
        the holder's PID text when it cannot."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    fh.close()
                    return holder
                time.sleep(step)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self.fh = fh
        return None

    def release(self) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


class ServiceLock(PidLock):
    """Held from start to exit; a second service for the same home is refused."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / LOCK_FILE)

    def acquire(self) -> None:
        # `service status` takes the lock shared for an instant to test it: try a while.
        pid = self._take(wait=0.4, step=0.1)
        if pid is not None:
            raise AlreadyRunning(
                f"the service is already running for {self.path.parent} (PID {pid})",
                hint="see it with: chartseal service status; stop that process first "
                     "to start another")


def lock_holder(root: Path) -> int | None:
    """The PID holding the service lock, 0 if held but unreadable, None if free."""
    return flock_holder(root / LOCK_FILE)


def flock_holder(path: Path) -> int | None:
    """The PID written in a lock file someone holds with flock, 0 if unreadable, None if free."""
    if not path.exists():
        return None
    with open(path, "r") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = fh.read().strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


# -- the heartbeat --------------------------------------------------------------------
@dataclass
class Heartbeat:
    pid: int
    started: float
    beat: float = 0.0
    activity: str = "starting"          # idle, exporting, uploading, waiting to retry, stopping
    last_success: float | None = None   # last time an object reached the target
    last_publish: float | None = None   # last time the target was up to date
    uploaded: int = 0                   # objects sent since start
    last_error: str = ""
    last_error_at: float | None = None
    queue: int = 0
    next_retry: float | None = None
    watching: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)  # databases with automatic update off
    stopped: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def write_heartbeat(root: Path, beat: Heartbeat) -> None:
    """Replace the file atomically; no fsync, since a lost beat after a power cut is harmless."""
    path = root / HEARTBEAT_FILE
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(beat.to_json(), sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_heartbeat(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / HEARTBEAT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def backup_info(root: Path) -> dict[str, Any]:
    """The last keystore backup (exporter/backup.py writes ``backup.json``): when, where, error."""
    from exporter.backup import read_record

    rec = read_record(root)
    return {"last_backup": rec.get("at"), "last_backup_file": rec.get("file", ""),
            "backup_error": rec.get("error", ""), "backup_error_at": rec.get("error_at")}


@dataclass
class Status:
    running: bool
    pid: int | None
    responding: bool            # running and the heartbeat is fresh
    since: float | None         # start time of the running (or last) service
    beat_age: float | None
    heartbeat: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        hb = self.heartbeat or {}
        return {
            "running": self.running, "responding": self.responding, "pid": self.pid,
            "since": self.since, "heartbeat_age": self.beat_age,
            "activity": hb.get("activity") if self.running else "stopped",
            "queue": hb.get("queue"), "last_success": hb.get("last_success"),
            "last_publish": hb.get("last_publish"), "last_error": hb.get("last_error", ""),
            "last_error_at": hb.get("last_error_at"), "next_retry": hb.get("next_retry"),
            "watching": hb.get("watching", []), "paused": hb.get("paused", []),
            "stopped": hb.get("stopped"),
        }


def read_status(root: Path, settings: ServiceSettings | None = None,
                now: float | None = None) -> Status:
    """Running or not from the lock; responding or stuck from the heartbeat's age."""
    settings = settings or ServiceSettings.from_env()
    now = time.time() if now is None else now
    holder = lock_holder(root)
    hb = read_heartbeat(root)
    running = holder is not None
    age = now - float(hb["beat"]) if hb and hb.get("beat") else None
    # A heartbeat from an earlier process says nothing about the one holding the lock now.
    same = bool(hb) and running and (holder == 0 or hb.get("pid") == holder)
    responding = running and same and age is not None and age <= settings.stale_after
    since = hb.get("started") if hb and (same or not running) else None
    return Status(running, holder or (hb or {}).get("pid") if running else None, responding,
                  since, age, hb)
