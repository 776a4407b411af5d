"""Publishing jobs: publish and sync with their progress recorded, in the foreground or detached.

``start_job`` is what the console's buttons and ``--background`` call: it takes the job lock
for an instant (so a second start is refused with what is running), records the job as
starting and spawns the same CLI command with ``--job ID``. That process runs
``run_publish`` or ``run_sync``, which hold the lock for the whole run and feed a
:class:`~publisher.progress.Tracker`; a foreground CLI run goes through them too, so the
console shows a publish started from a terminal as well.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from exporter.errors import ChartsealError
from exporter.home import Home

from . import detached
from .joblock import JobLock, refusal
from .policy import Policy
from .progress import JobStatus, Tracker, new_job_id, read_status, resume_hint, write_status

T = TypeVar("T")
LOG_NAME = "jobs.log"
# The command line each kind of job runs (``--job ID`` and ``--home`` are added).
JOB_ARGS = {
    "publish": ["publish"],
    "publish-all": ["publish", "--all"],
    "sync": ["sync"],
    "sync-repair": ["sync", "--repair"],
}
# A detached job waits this long for the starter to let go of the lock.
CHILD_LOCK_WAIT = 10.0


def start_job(home: Home, kind: str) -> JobStatus:
    """Start a publishing job in the background; return its status (state "starting")."""
    if kind not in JOB_ARGS:
        raise ValueError(f"unknown job kind {kind!r}, expected one of {sorted(JOB_ARGS)}")
    # A job just spawned has not taken the lock yet: its "starting" status counts as running.
    # (Read before taking the lock: while we hold it, every recorded job would look alive.)
    prev = read_status(home.root)
    if prev is not None and prev.active:
        raise refusal(prev.describe())
    lock = JobLock(home.root)
    lock.acquire()  # raises JobRunning, naming the job that runs
    try:
        st = JobStatus(id=new_job_id(), kind=kind, started=time.time(), updated=time.time(),
                       log=str(home.log_dir / LOG_NAME))
        write_status(home.root, st)
        try:
            st.pid = detached.spawn(home, JOB_ARGS[kind] + ["--job", st.id], LOG_NAME)
        except ChartsealError as exc:
            st.state, st.error, st.hint, st.finished = "failed", str(exc), exc.hint, time.time()
            write_status(home.root, st)
            raise
        write_status(home.root, st)
        return st
    finally:
        lock.release()


def current(home: Home | Path) -> JobStatus | None:
    """The running or last publishing job (a vanished process reads as "stopped")."""
    return read_status(home.root if isinstance(home, Home) else Path(home))


def run_publish(home: Home, job_id: str | None = None, resend_all: bool = False,
                export: bool = True, target_url: str | None = None, endpoint_url: str | None = None,
                region: str | None = None, policy: Policy | None = None,
                on_start: Callable[[Any], None] | None = None,
                progress: Callable[[int, int], None] | None = None) -> Any:
    """``publish.publish`` as a job: one at a time per home, its progress in the home."""
    from . import publish as core

    kind = "publish-all" if resend_all else "publish"

    def body(tracker: Tracker) -> Any:
        def sent(n: int, size: int) -> None:
            tracker.sent(n, size)
            if progress:
                progress(n, size)

        report = core.publish(home, target_url, endpoint_url, region, resend_all, export, policy,
                              sent, on_start, tracker.phase)
        error = hint = ""
        if report.left:
            first = next(iter(report.failed.values()), "")
            error = f"{report.left} upload jobs are still queued" + (f": {first}" if first else "")
            hint = "they are kept and retried by the next publish; see the upload list and the failed uploads"
        tracker.finish(publish_summary(report), error, hint)
        return report

    return _as_job(home, job_id, kind, body)


def run_sync(home: Home, job_id: str | None = None, repair: bool = False,
             target_url: str | None = None, endpoint_url: str | None = None,
             region: str | None = None, policy: Policy | None = None,
             phase: Callable[[str, int, int], None] | None = None) -> Any:
    """``sync.sync`` as a job; ``phase`` hears the steps too (the CLI's progress bar)."""
    from . import publish as core
    from . import sync as core_sync

    def body(tracker: Tracker) -> Any:
        pol = policy or Policy.from_env()
        target = core.make_target(home, target_url, endpoint_url, region, pol)
        conn = core.connect(home)
        try:
            def both(name: str, done: int, total: int) -> None:
                tracker.phase(name, done, total)
                if phase:
                    phase(name, done, total)

            r = core_sync.sync(conn, target, home.site_dir, home.clinic_prefix, repair, pol, both)
        finally:
            conn.close()
        summary = sync_summary(r)
        error = hint = ""
        if r.failed:
            error = f"{len(r.failed)} objects could not be repaired, e.g. {next(iter(r.failed.values()))}"
            hint = "run the synchronization again"
        tracker.finish(summary, error, hint)
        return r

    return _as_job(home, job_id, "sync-repair" if repair else "sync", body)


def _as_job(home: Home, job_id: str | None, kind: str, body: Callable[[Tracker], T]) -> T:
    lock = JobLock(home.root)
    lock.acquire(CHILD_LOCK_WAIT if job_id else 0.5)
    try:
        tracker = Tracker(home.root, job_id or new_job_id(), kind,
                          "background" if job_id else "terminal")
        try:
            return body(tracker)
        except ChartsealError as exc:
            tracker.fail(str(exc), exc.hint)
            raise
        except KeyboardInterrupt:
            tracker.fail("stopped by an interrupt (Ctrl+C)", resume_hint(tracker.st), state="stopped")
            raise
        except Exception as exc:
            tracker.fail(f"unexpected error: {type(exc).__name__}: {exc}",
                         f"see the log {home.log_dir / LOG_NAME}; nothing queued is lost")
            raise
    finally:
        lock.release()


def publish_summary(r: Any) -> dict[str, Any]:
    return {"target": r.target, "uploaded": r.uploaded, "sent_bytes": r.sent_bytes,
            "seconds": round(r.seconds, 2), "queued_groups": r.queued, "left": r.left,
            "failed": len(r.failed), "deleted": r.deleted, "deletes_waiting": r.deletes_waiting}


def sync_summary(r: Any) -> dict[str, Any]:
    names = {k: getattr(r, k)[:5] for k in ("missing", "damaged", "stale", "orphaned")}
    return {"target": r.target, "planned": r.planned, "listed": r.listed,
            "missing": len(r.missing), "damaged": len(r.damaged), "stale": len(r.stale),
            "orphaned": len(r.orphaned), "foreign_app_files": len(r.foreign),
            "superseded": r.superseded, "repaired": r.repaired, "deleted": r.deleted,
            "failed": len(r.failed), "problems": r.problems, "examples": names}


__all__ = ["JOB_ARGS", "start_job", "current", "run_publish", "run_sync"]
