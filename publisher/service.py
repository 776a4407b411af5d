"""The background service: publish every change to a clinic database within seconds.

One process per clinic home (``service.lock``). A watcher thread sees each clinic database
and its WAL change (and the home's config and keystore, so access changes publish too); the
main loop waits for a burst to go quiet, exports (only changed patients are re-sealed, expired
shares end with key rotation), queues what changed and runs the durable queue. Offline, jobs
stay queued with backoff and the loop waits outside the home lock, so the CLI is never
blocked by a retry. SIGTERM/Ctrl-C stop the queue between rounds; nothing queued is lost.
"""
from __future__ import annotations

import gc
import logging
import logging.handlers
import signal
import sqlite3
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

from exporter.errors import ChartsealError
from exporter.home import Home, load_home

from . import deletes, jobs
from .policy import Policy
from .service_status import (Heartbeat, ServiceLock, ServiceSettings, write_heartbeat)
from .service_memory import give_back_memory, tune_allocator
from .service_watch import Watcher, fingerprint, watched_files

log = logging.getLogger("chartseal.service")


class _Yield(Exception):
    """Leave run_queue now: the service is stopping, or every job left is backing off."""


class Service:
    def __init__(self, root: Path, stop: threading.Event | None = None,
                 settings: ServiceSettings | None = None, policy: Policy | None = None,
                 today: Callable[[], date] = date.today) -> None:
        self.root = root
        self.stop = stop or threading.Event()
        self.settings = settings or ServiceSettings.from_env()
        self.policy = policy or Policy.from_env()
        self.today = today
        self.wake = threading.Event()       # set by the watcher and by stop requests
        self.lock = ServiceLock(root)
        self.beat = Heartbeat(pid=0, started=0.0)
        self.beat_guard = threading.Lock()
        self.watcher = Watcher(self.stop, self._changed, self.settings)
        self.last_fp: object = None
        self.export_day: date | None = None
        self.export_due = 0.0               # when to export next (inf: nothing changed)
        self.queue_due: float | None = 0.0  # None: queue empty
        self.notes_due = 0.0
        self.failures = 0                   # consecutive failed cycles, for the backoff
        self.interval = 0.0                 # publish_interval: least time between exports
        self.last_export = 0.0              # when the last export ran
        self.memo: Any = None               # exporter.memo.ExportMemo, once exporting
        self.backup_due = 0.0               # when to check for a keystore backup (inf: done)

    # -- lifecycle --------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the single-instance lock (raises AlreadyRunning) and start the heartbeat."""
        import os

        self.lock.acquire()
        self.beat = Heartbeat(pid=os.getpid(), started=time.time())
        self._write_beat()

    def run(self) -> None:
        """Work until stopped. The lock must be held (see :meth:`acquire`)."""
        log.info("service started for %s (PID %s); log: %s", self.root, self.beat.pid,
                 self.root / "logs" / "service.log")
        beat_thread = threading.Thread(target=self._beat_loop, name="service-beat", daemon=True)
        beat_thread.start()
        self.watcher.start()
        try:
            while not self.stop.is_set():
                self._step()
                self._wait()
        finally:
            self.stop.set()
            self.wake.set()
            self.watcher.join()
            beat_thread.join(timeout=5)
            with self.beat_guard:
                self.beat.activity, self.beat.stopped = "stopped", time.time()
            self._write_beat()
            self.lock.release()
            log.info("service stopped; %d job(s) stay queued for the next start", self.beat.queue)

    def request_stop(self, *_args: Any) -> None:
        self.stop.set()
        self.wake.set()

    # -- the loop ---------------------------------------------------------------------
    def _changed(self) -> None:
        # With publish_interval, edits wait for the batch: an observer of the bucket then
        # sees one publish per interval, not one per edit (docs/SERVICE.md).
        self.export_due = min(self.export_due, max(time.time(), self.last_export + self.interval))
        self.wake.set()

    def _wait(self) -> None:
        now = time.time()
        # Wake at least once a minute: a share may end at midnight with no change at all.
        due = min(self.notes_due, self.export_due, self.queue_due or float("inf"), now + 60.0)
        end = now + max(0.0, due - now)
        self._warm_up(end)
        # Short slices, so a stop event set by another thread (the demo) is seen quickly.
        while not self.stop.is_set() and not self.wake.is_set() and time.time() < end:
            self.wake.wait(min(1.0, max(0.0, end - time.time())))
        if self.wake.is_set() and not self.stop.is_set():
            self.watcher.settle(self.stop)  # let a burst of writes end before exporting
        self.wake.clear()

    def _warm_up(self, end: float) -> None:
        """Idle: render the diary days the first export kept from the cache, a step of
        ~0.1 s at a time, so the first edit in a month renders its own day only."""
        from exporter.live_views import warm_up

        try:
            while (self.memo is not None and not self.stop.is_set() and not self.wake.is_set()
                   and time.time() < end and warm_up(self.memo)):
                pass
        except Exception:  # only a cache: the next export renders what it needs
            log.exception("unexpected error while rendering diary days ahead")
            self.memo.views = {}

    def _step(self) -> None:
        try:
            home = load_home(self.root)
            self.watcher.follow(home)
        except (ChartsealError, OSError) as exc:
            self._failed(exc)
            return
        with self.beat_guard:
            self.beat.watching, self.beat.paused = self.watcher.names, self.watcher.paused
        self.interval = float(home.config.get("publish_interval") or 0)
        self._guarded(self._cycle, home)
        if time.time() >= self.notes_due and not self.stop.is_set():
            self._guarded(self._notes, home)
        if time.time() >= self.backup_due and not self.stop.is_set():
            self._backup(home)

    def _guarded(self, fn: Callable[[Home], None], home: Home) -> None:
        try:
            fn(home)
        except (ChartsealError, sqlite3.Error, OSError) as exc:
            self._failed(exc)
        except Exception as exc:  # never let one bad cycle end the service
            log.exception("unexpected error")
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        delay = jobs.backoff(self.failures, Policy(backoff_base=self.settings.retry_base_seconds,
                                                   backoff_cap=self.settings.retry_cap_seconds))
        now = time.time()
        self.export_due = now + delay if self.export_due <= now else self.export_due
        self.queue_due = now + delay
        hint = getattr(exc, "hint", "")
        text = f"{exc}" + (f" (hint: {hint})" if hint else "")
        log.warning("%s; retrying in %.0f s", text, delay)
        with self.beat_guard:
            self.beat.last_error, self.beat.last_error_at = text, now
            self.beat.activity, self.beat.next_retry = "waiting to retry", now + delay
        self._write_beat()

    def _cycle(self, home: Home) -> None:
        from exporter.clinic_db import gc_paused

        from .publish import connect, make_target

        now = time.time()
        if self.today() != self.export_day:
            self.export_due = min(self.export_due, now)  # shares ending today end now
        fp = fingerprint(watched_files(home))
        export = self.export_due <= now
        if export and fp == self.last_fp and self.today() == self.export_day:
            export, self.export_due = False, float("inf")  # an event, but nothing changed
        if not export and (self.queue_due is None or self.queue_due > now):
            return
        target = make_target(home, None, None, None, self.policy)
        conn = connect(home)
        # The cyclic collector is kept off an edit's path; what the cycle left behind is
        # collected after the upload, and what survives (mostly the export memo) is frozen,
        # so later collections do not walk it again.
        try:
            with gc_paused():
                self._export_and_drain(home, conn, target, export, fp)
        finally:
            conn.close()
        if export:
            gc.collect()
            gc.freeze()
            give_back_memory()

    def _export_and_drain(self, home: Home, conn: sqlite3.Connection, target: Any, export: bool,
                          fp: object) -> None:
        from exporter.site import home_lock

        from .publish import queue_changes

        if export:
            # Export and queue under the home lock, as publish does; upload outside it,
            # so a long drain or an offline target never blocks the CLI.
            with home_lock(home):
                self._export(home)
                queue_changes(conn, target.state_key, False, time.time())
            self.last_fp, self.export_day, self.export_due = fp, self.today(), float("inf")
            self.backup_due = 0.0  # new patients or changed keys: a backup may be due
        self._drain(home, conn, target)

    def _export(self, home: Home) -> None:
        from exporter.memo import ExportMemo
        from exporter.progress_lines import ProgressLines
        from exporter.site import export_site

        self._activity("exporting")
        started = time.monotonic()
        self.last_export = time.time()
        self.memo = self.memo or ExportMemo()
        # Databases with automatic update off are read as of their last manual export; the
        # memo keeps what this export computed, so the next one redoes only what changed.
        # A first export can take minutes: its progress goes to the log, a line per 10 %.
        result = export_site(home, auto=True, memo=self.memo, progress=ProgressLines(log.info))
        if result.sealed or result.rotated or result.removed:
            log.info("exported %d patients: %d objects sealed, %d records given new keys, in %.2f s",
                     result.patients, result.sealed, result.rotated, time.monotonic() - started)
        for p in result.problems[:20]:
            log.warning("database problem: %s %s: %s", p.patient, p.field, p.message)
        # What kept records off the site shows in `service status` too, not only in the log.
        for p in result.problems:
            if p.field == "database":
                self._note_error(f"database {p.db!r}: {p.message}")
        off = sum(1 for p in result.problems if p.outcome == "skipped" and p.field != "database")
        if off:
            self._note_error(f"{off} records could not be published from their current rows; "
                             "see: chartseal log --failed")

    def _drain(self, home: Home, conn: sqlite3.Connection, target: Any) -> None:
        from exporter.site import home_lock

        from .publish import delete_superseded, run_queue

        key = target.state_key
        if jobs.list_jobs(conn, key):
            self._activity("uploading")

            def sleep(_seconds: float) -> None:
                raise _Yield()  # wait in the service loop, where changes and stops are seen

            def clock() -> float:
                # Stop only between rounds: never inside the recorder's open transaction.
                if self.stop.is_set() and not conn.in_transaction:
                    raise _Yield()
                return time.time()

            started, before = time.monotonic(), self.beat.uploaded
            try:
                report = run_queue(conn, target, home.site_dir, self.policy, self._sent, clock, sleep)
                if report.site_damaged and self.memo is not None:
                    self.memo.relist()  # dropped files: the next export lists the folder
                for grp, error in list(report.failed.items())[:1]:
                    self._note_error(f"upload of {grp} failed: {error}")
            except _Yield:
                pass
            if self.beat.uploaded > before:
                log.info("uploaded %d objects to %s in %.2f s", self.beat.uploaded - before,
                         target.url, time.monotonic() - started)
        left = jobs.list_jobs(conn, key)
        now = time.time()
        if left:
            if deletes.leftovers(conn, key):
                # Retired doors whose replacements are up go now; the rest waits for the queue.
                with home_lock(home):
                    deleted, _waiting = delete_superseded(conn, target, self.policy)
                if deleted:
                    log.info("deleted %d retired doors while other uploads wait", deleted)
            self.queue_due = min(j.next_at for j in left)
            errors = [j.last_error for j in left if j.last_error]
            if errors:
                self._note_error(errors[0])
            self._activity("waiting to retry", len(left), self.queue_due)
            return
        self.queue_due, self.failures = None, 0
        if deletes.leftovers(conn, key):
            with home_lock(home):  # an export must not change the plan while we delete
                # A change that arrives meanwhile goes first: the rest waits for the next round.
                deleted, waiting = delete_superseded(conn, target, self.policy, stop=self.wake.is_set)
            if deleted:
                log.info("deleted %d superseded objects", deleted)
            if waiting:  # come back when their grace period may have ended
                self.queue_due = now + max(1.0, min(self.policy.grace_seconds, 60.0))
        with self.beat_guard:
            self.beat.last_publish = now
        self._activity("idle", 0, None)

    def _sent(self, objects: int, size: int) -> None:
        with self.beat_guard:
            self.beat.uploaded += objects
            self.beat.last_success = time.time()

    def _note_error(self, text: str) -> None:
        with self.beat_guard:
            if self.beat.last_error != text:
                log.warning("%s", text)
            self.beat.last_error, self.beat.last_error_at = text, time.time()

    def _backup(self, home: Home) -> None:
        """A sealed keystore backup into backup_dir when keys changed since the last one.

        A missing folder (an unplugged disk) is an error shown by `service status` and
        tried again every minute; it never stops publishing.
        """
        from exporter.backup import backup_if_changed

        try:
            path = backup_if_changed(home)
        except (ChartsealError, sqlite3.Error, OSError) as exc:
            hint = getattr(exc, "hint", "")
            self._note_error(f"keystore backup: {exc}" + (f" (hint: {hint})" if hint else ""))
            self.backup_due = time.time() + 60.0
            return
        self.backup_due = float("inf")
        if path is not None:
            log.info("wrote the keystore backup %s", path)

    def _notes(self, home: Home) -> None:
        self.notes_due = time.time() + self.settings.notes_seconds
        if not home.config.get("notes_url"):
            return
        try:
            from exporter.notes import fetch_notes
        except ImportError:
            log.info("notes fetch is not available in this version; skipped")
            return
        try:
            result = fetch_notes(home)
        except ChartsealError as exc:
            self._note_error(f"notes fetch: {exc}")
            return
        if result.stored or result.rejected:
            log.info("notes: %d stored, %d rejected", result.stored, len(result.rejected))

    # -- the heartbeat ----------------------------------------------------------------
    def _activity(self, what: str, queue: int | None = None, retry: float | None = -1.0) -> None:
        with self.beat_guard:
            self.beat.activity = what
            if queue is not None:
                self.beat.queue = queue
            if retry != -1.0:
                self.beat.next_retry = retry
        self._write_beat()

    def _write_beat(self) -> None:
        with self.beat_guard:
            self.beat.beat = time.time()
            try:
                write_heartbeat(self.root, self.beat)
            except OSError as exc:
                log.warning("cannot write the heartbeat: %s", exc)

    def _beat_loop(self) -> None:
        conn = None
        while not self.stop.wait(self.settings.beat_seconds):
            try:
                if conn is None:
                    conn = sqlite3.connect(self.root / "state.sqlite", timeout=5)
                queue = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
                with self.beat_guard:
                    self.beat.queue = int(queue)
            except sqlite3.Error:
                pass  # no jobs table before the first publish
            self._write_beat()
        if conn is not None:
            conn.close()


# -- entry points -----------------------------------------------------------------------
def setup_logging(home: Home, settings: ServiceSettings, stderr: bool) -> list[logging.Handler]:
    """A rotating log file in the home's log folder (and stderr for journald, launchd)."""
    home.log_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.handlers.RotatingFileHandler(
        home.log_dir / "service.log", maxBytes=settings.log_bytes,
        backupCount=settings.log_files, encoding="utf-8")]
    if stderr:
        handlers.append(logging.StreamHandler())
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    return handlers


def run_service(root: Path, settings: ServiceSettings | None = None) -> None:
    """``chartseal service run``: in the foreground until SIGTERM or Ctrl-C."""
    # Before any thread starts, or the threads keep heaps of their own (see why in
    # publisher.service_memory).
    tune_allocator()
    settings = settings or ServiceSettings.from_env()
    home = load_home(root)
    from exporter import keystore

    # Never start on a lost keystore: every export would fail, and nothing may make a new one.
    keystore.check(home.keys_path).close()
    service = Service(home.root, settings=settings)
    service.acquire()
    handlers = setup_logging(home, settings, stderr=True)
    old = {s: signal.signal(s, service.request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.run()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for h in handlers:
            log.removeHandler(h)
            h.close()


def run_in_thread(root: Path, stop: threading.Event) -> threading.Thread:
    """Run the service in a daemon thread until ``stop`` is set (for ``chartseal demo``).

    Raises AlreadyRunning at once if another service holds this home. Join the thread after
    setting ``stop``: it finishes the current upload round first.
    """
    home = load_home(root)
    settings = ServiceSettings.from_env()
    service = Service(home.root, stop=stop, settings=settings)
    service.acquire()
    handlers = setup_logging(home, settings, stderr=False)

    def main() -> None:
        try:
            service.run()
        finally:
            for h in handlers:
                log.removeHandler(h)
                h.close()

    thread = threading.Thread(target=main, name="chartseal-service", daemon=True)
    thread.start()
    return thread
