"""One publishing job at a time per clinic home: an ``flock`` on ``publish-job.lock``.

Held by a publish or sync for its whole run, from the command line or in the background.
The kernel drops it when the process ends, even by kill -9, so a lock is never stale; the
file holds the PID only so a refusal can say who has it. The service does not take it: its
uploads share the queue's leases with a running job, which is safe, and it has its own lock.
"""
from __future__ import annotations

from pathlib import Path

from .errors import PublishError
from .service_status import PidLock, flock_holder

LOCK_FILE = "publish-job.lock"


class JobRunning(PublishError):
    """Another publish or sync holds this clinic home's job lock."""


class JobLock(PidLock):
    def __init__(self, root: Path) -> None:
        super().__init__(root / LOCK_FILE)

    def acquire(self, wait: float = 0.5) -> None:
        """Take the lock, trying for ``wait`` seconds (a reader may hold it for an instant)."""
        if self._take(wait, step=0.05) is not None:
            raise self._refusal()

    def __enter__(self) -> "JobLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _refusal(self) -> JobRunning:
        from .progress import read_status  # progress imports this module

        root = self.path.parent
        st = read_status(root)
        return refusal(st.describe() if st is not None and st.active else f"PID {lock_holder(root) or '?'}")


def refusal(what: str) -> JobRunning:
    return JobRunning(f"another publish or sync is running for this clinic: {what}",
                      hint="watch it with: chartseal jobs; start this one when it has finished")


def lock_holder(root: Path) -> int | None:
    """The PID holding the job lock, 0 if held but unreadable, None if free."""
    return flock_holder(root / LOCK_FILE)
