"""The publishing job's progress, kept durably in the clinic home (``publish-job.json``).

A publish or sync run by the CLI, in the foreground or as a background job, writes here what
it is doing: the phase, objects sent of the total, the rate, the time left, and at the end a
summary or the error with its hint. The CLI (``chartseal jobs``) and the console read the same
file, so a console reload, a closed console or another terminal all see the same job.

The file is replaced atomically (temporary file, fsync, rename), so a reader never sees half
a status, and a kill -9 leaves the last complete one. That one still says "running"; the
reader turns it into "stopped" when no process holds the job lock (see ``joblock``) and the
recorded PID is gone.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from exporter.home import atomic_write

from .detached import pid_alive
from .joblock import lock_holder

STATUS_FILE = "publish-job.json"
# The last finished job of each family, kept when a job of the other family runs after it
# (the console shows the last sync's findings beside a later publish).
LAST_FILES = {"publish": "last-publish.json", "sync": "last-sync.json"}
ACTIVE = ("starting", "running")
# What each kind of job is called, in the manual's words where it has them.
KINDS = {
    "publish": "Publish changes",
    "publish-all": "Update all patient data",
    "sync": "Check the server",
    "sync-repair": "Synchronize the server",
}
STARTING_GRACE = 60.0  # a spawned job has this long to take the lock before it counts as lost
WRITE_EVERY = 0.5      # seconds between progress writes while objects are sent
RATE_WINDOW = 15.0     # seconds of history the rate is measured over


@dataclass
class JobStatus:
    id: str
    kind: str
    pid: int = 0
    origin: str = "background"        # or "terminal": run in the foreground of a command line
    state: str = "starting"           # starting, running, done, failed, stopped
    phase: str = "starting"           # exporting, deriving keys, queueing, uploading, deleting, listing, repairing
    done: int = 0                     # objects sent (or keys derived) in this phase
    total: int = 0
    sent_bytes: int = 0
    rate: float = 0.0                 # objects per second, over the last RATE_WINDOW seconds
    eta: float | None = None          # seconds left, when a rate is known
    started: float = 0.0
    updated: float = 0.0
    finished: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    hint: str = ""
    log: str = ""

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"label": self.label, "active": self.active}

    def describe(self) -> str:
        """One line for messages: what runs, since when, how far."""
        text = f"{self.label} (PID {self.pid or '?'}, {self.phase}"
        if self.total:
            text += f" {self.done}/{self.total}"
        return text + f", started {time.strftime('%H:%M:%S', time.localtime(self.started))})"


def status_path(root: Path) -> Path:
    return root / STATUS_FILE


def new_job_id() -> str:
    return secrets.token_hex(8)


def family(kind: str) -> str:
    return "sync" if kind.startswith("sync") else "publish"


def write_status(root: Path, st: JobStatus, name: str = STATUS_FILE) -> None:
    atomic_write(root / name, json.dumps(asdict(st), sort_keys=True).encode(), 0o600)


def _load(root: Path, name: str = STATUS_FILE) -> JobStatus | None:
    try:
        data = json.loads((root / name).read_text(encoding="utf-8"))
        known = JobStatus.__dataclass_fields__
        return JobStatus(**{k: v for k, v in data.items() if k in known})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        # A damaged status file must not stop anyone from publishing: report it as unknown.
        return JobStatus(id="", kind="publish", state="failed", phase="unknown",
                         error=f"the job status {root / name} is unreadable",
                         hint="it is rewritten by the next publish")


def read_last(root: Path, fam: str) -> JobStatus | None:
    """The last finished job of a family ("publish" or "sync"), whatever ran after it."""
    return _load(root, LAST_FILES[fam])


def read_status(root: Path, now: float | None = None) -> JobStatus | None:
    """The current or last job, with a job whose process is gone reported as stopped."""
    st = _load(root)
    if st is None or not st.active:
        return st
    now = time.time() if now is None else now
    if lock_holder(root) is not None:
        return st
    if st.state == "starting" and pid_alive(st.pid) and now - st.started < STARTING_GRACE:
        return st
    st.state, st.finished = "stopped", st.updated or now
    st.rate, st.eta = 0.0, None
    st.error = (f"the job stopped before it finished (process {st.pid or '?'} is gone), "
                f"during {st.phase}")
    st.hint = resume_hint(st) + (f"; its output is in {st.log}" if st.log else "")
    return st


# Before these phases end, a publish --all has not marked anything to send again yet.
BEFORE_QUEUEING = ("starting", "exporting", "deriving keys")


def resume_command(st: JobStatus) -> str:
    """The command that continues an interrupted job where it stopped.

    An update-all stopped before queueing must be started as an update-all again; once
    queued, every object is marked to be sent again and a plain publish continues (another
    --all would mark the objects already sent again, and send them twice).
    """
    if st.kind == "publish-all" and st.phase in BEFORE_QUEUEING:
        return "chartseal publish --all --background"
    if st.kind.startswith("sync"):
        return "chartseal sync --repair --background" if st.kind == "sync-repair" else \
            "chartseal sync --background"
    return "chartseal publish --background"


def resume_hint(st: JobStatus) -> str:
    """What to run to continue, and what is kept."""
    kept = ("the keys derived so far are kept and not derived again" if st.phase == "deriving keys"
            else "nothing queued is lost")
    return (f"{kept}: to continue where it stopped run {resume_command(st)} (or start it "
            f"again from the console; the background service continues it too)")


class Tracker:
    """Writes one job's progress; the callbacks plug into publish and sync."""

    def __init__(self, root: Path, job_id: str, kind: str, origin: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.root, self.clock = root, clock
        now = clock()
        self.st = JobStatus(id=job_id, kind=kind, pid=os.getpid(), origin=origin, state="running",
                            started=now, updated=now, log=str(root / "logs" / "jobs.log"))
        self.samples: deque[tuple[float, int]] = deque()
        self.last_write = 0.0
        self.write()

    def write(self) -> None:
        self.st.updated = self.clock()
        self.last_write = self.st.updated
        write_status(self.root, self.st)

    def phase(self, name: str, done: int = 0, total: int = 0) -> None:
        """Enter a phase (or report a step inside one that counts, like deriving keys)."""
        changed = name != self.st.phase
        self.st.phase, self.st.done, self.st.total = name, done, total
        if changed:
            self.samples.clear()
            self.st.rate, self.st.eta = 0.0, None
        self._measure()
        if changed or self.clock() - self.last_write >= WRITE_EVERY or (total and done >= total):
            self.write()

    def sent(self, n: int, size: int) -> None:
        """Objects confirmed by the target (publish's progress callback)."""
        self.st.done += n
        self.st.sent_bytes += size
        self._measure()
        if self.clock() - self.last_write >= WRITE_EVERY:
            self.write()

    def _measure(self) -> None:
        now = self.clock()
        self.samples.append((now, self.st.done))
        while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW:
            self.samples.popleft()
        t0, d0 = self.samples[0]
        if now - t0 >= 1.0 and self.st.done > d0:
            self.st.rate = (self.st.done - d0) / (now - t0)
            left = max(0, self.st.total - self.st.done)
            self.st.eta = left / self.st.rate if self.st.total else None

    def finish(self, summary: dict[str, Any], error: str = "", hint: str = "") -> None:
        self.st.summary = summary
        self.st.state = "failed" if error else "done"
        if not error:
            self.st.phase = "finished"
        self._end(error, hint)

    def fail(self, error: str, hint: str = "", state: str = "failed") -> None:
        self.st.state = state
        self._end(error, hint)

    def _end(self, error: str, hint: str) -> None:
        self.st.error, self.st.hint = error, hint
        self.st.finished = self.clock()
        self.st.rate, self.st.eta = 0.0, None
        self.write()
        write_status(self.root, self.st, LAST_FILES[family(self.st.kind)])
