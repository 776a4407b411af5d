"""The upload list (``chartseal queue``) and the upload status per patient (``chartseal log``)
as rows, so the CLI and the console show the same thing from one reading of the state."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from exporter.home import Home
from exporter.normalize import normalize_card

from . import jobs

LOG_FILTERS = ("all", "ok", "failed")


class Cards:
    """Shows a patient's card number for a group id when the keystore knows it."""

    def __init__(self, home: Home) -> None:
        self.conn = None
        self.cache: dict[str, str] = {"clinic": "(clinic)", "app": "(app)"}
        if home.keys_path.exists():
            from exporter import keystore

            self.conn = keystore.connect(home.keys_path)
            self.lookup = keystore.card_for_rid

    def __call__(self, grp: str) -> str:
        if grp not in self.cache:
            card = self.lookup(self.conn, grp) if self.conn is not None else None
            self.cache[grp] = card or grp
        return self.cache[grp]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass(frozen=True)
class Waiting:
    """One group of the upload list."""

    patient: str       # card number, "(clinic)", "(app)" or the group id
    group: str
    target: str
    reason: str        # changed, update all, retry after error, waiting for ...
    attempts: int
    next: str          # "uploading", "now" or "in N s"
    next_at: float
    error: str

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "next_at"}


@dataclass(frozen=True)
class Upload:
    """A group's latest upload attempt."""

    ts: float
    patient: str
    group: str
    target: str
    ok: bool
    objects: int
    bytes: int
    error: str

    @property
    def time(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.ts))

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "patient": self.patient, "group": self.group,
                "target": self.target, "status": "ok" if self.ok else "failed",
                "objects": self.objects, "bytes": self.bytes, "error": self.error}


def upload_list(home: Home, now: float | None = None) -> list[Waiting]:
    """Every group waiting to be published, first to go first."""
    from .publish import connect

    conn = connect(home)
    try:
        waiting = jobs.list_jobs(conn)
    finally:
        conn.close()
    now = time.time() if now is None else now
    cards = Cards(home)
    try:
        rows = []
        for j in waiting:
            running = j.lease_owner and (j.lease_until or 0) > now and jobs.owner_alive(j.lease_owner)
            when = "uploading" if running else ("now" if j.next_at <= now else f"in {j.next_at - now:.0f} s")
            rows.append(Waiting(cards(j.grp), j.grp, j.target, j.reason, j.attempts, when, j.next_at,
                                j.last_error or ""))
        return rows
    finally:
        cards.close()


def waiting_count(home: Home) -> int:
    """How many groups the upload list holds (cheap: polled while a job runs)."""
    from .publish import connect

    conn = connect(home)
    try:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()


def upload_status(home: Home, only: str = "all", card: str | None = None) -> list[Upload]:
    """Each group's latest upload, newest first; ``only`` is all, ok or failed."""
    from .publish import connect

    if only not in LOG_FILTERS:
        raise ValueError(f"only must be one of {LOG_FILTERS}, got {only!r}")
    conn = connect(home)
    try:
        rows = conn.execute(
            "SELECT ts, target, grp, ok, objects, bytes, error FROM upload_log WHERE id IN "
            "(SELECT max(id) FROM upload_log GROUP BY target, grp) ORDER BY ts DESC, grp").fetchall()
    finally:
        conn.close()
    want = normalize_card(card) if card else None
    cards = Cards(home)
    try:
        out = []
        for ts, target, grp, ok, objects, size, error in rows:
            if (only == "failed" and ok) or (only == "ok" and not ok):
                continue
            who = cards(grp)
            if want is not None and want != normalize_card(who) and card != grp:
                continue
            out.append(Upload(ts, who, grp, target, bool(ok), objects or 0, size or 0, error or ""))
        return out
    finally:
        cards.close()


def export_problems(home: Home, card: str | None = None) -> list[Any]:
    """What the last export could not publish from the current rows (exporter.failures):
    patients left off or kept at their last published version first, then values left out."""
    from exporter import failures

    from .publish import connect

    want = normalize_card(card) if card else None
    conn = connect(home)
    try:
        found = failures.read(conn)
    finally:
        conn.close()
    return [f for f in found if want is None or normalize_card(f.patient) == want]
