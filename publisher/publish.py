"""Publish: queue what changed, run the queue against a target, then delete what is superseded.

Core of ``chartseal publish``; the service calls :func:`run_queue` too. Retired doors are
deleted by the same publish that uploaded their replacements, even when other groups' uploads
failed (see publisher/deletes.py): a revocation never waits for an unrelated patient.
"""
from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from exporter import plan
from exporter.home import Home, home_lock

from . import deletes, jobs, state
from .errors import PublishError, TargetError
from .policy import Policy
from .sync import reconcile
from .targets import Target, open_target
from .uploader import Outcome, upload_ordered

Progress = Callable[[int, int], None]  # (objects, bytes) just sent
Phase = Callable[[str, int, int], None]  # (phase, done, total): "exporting", "uploading", ...


@dataclass
class Report:
    target: str
    queued: int = 0            # groups with work at the start
    total: int = 0             # objects to send at the start
    uploaded: int = 0
    sent_bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # group -> last error
    left: int = 0              # groups still queued at the end
    deleted: int = 0
    deletes_waiting: int = 0   # superseded objects kept for the grace period
    doors_held: int = 0        # retired doors still on the target: their group's uploads failed
    seconds: float = 0.0
    fatal: TargetError | None = None
    reconciled: tuple[int, int] | None = None  # (adopted, orphans) of a first listing
    site_damaged: int = 0      # objects whose site-folder file was damaged (dropped, to re-seal)
    dropped: int = 0           # jobs not kept: a --target run for a target not configured


def connect(home: Home) -> sqlite3.Connection:
    try:
        conn = home.connect_state()
        conn.isolation_level = None  # explicit transactions only (see jobs.immediate)
        state.ensure_schema(conn)
    except sqlite3.OperationalError as exc:
        raise state_error(exc, home.state_path) from exc
    return conn


def state_error(exc: sqlite3.OperationalError, path: Path) -> PublishError:
    text = str(exc)
    if "full" in text or ("disk I/O error" in text and _nearly_full(path.parent)):
        return PublishError(f"the disk holding {path.parent} is full",
                            hint="free some space, then run the command again; the queue is intact")
    if "locked" in text:
        return PublishError(f"{path} is busy: {text}", hint="wait a moment and run it again")
    return PublishError(f"cannot use {path}: {text}", hint="check the clinic home's disk and permissions")


def _nearly_full(folder: Path) -> bool:
    """SQLite reports a WAL it cannot grow on a full disk as a plain I/O error."""
    import shutil

    try:
        return shutil.disk_usage(folder).free < 1024 * 1024
    except OSError:
        return False


def make_target(home: Home, url: str | None, endpoint_url: str | None, region: str | None,
                policy: Policy) -> Target:
    return open_target(url or home.target, endpoint_url or home.config.get("endpoint_url") or "",
                       region or home.config.get("region") or "", policy)


def queue_changes(conn: sqlite3.Connection, key: str, resend_all: bool, now: float) -> dict[str, int]:
    """Queue one job per group whose objects differ from what the target holds."""
    with jobs.immediate(conn):
        if resend_all:
            state.mark_resend(conn, key)
        groups = state.pending_groups(conn, key)
        reason = "update all" if resend_all else "changed"
        jobs.enqueue(conn, key, {g: reason for g in groups}, now)
    return groups


class _Recorder:
    """Records confirmed uploads in batches: one short transaction (and fsync) per 256
    objects or per second, not per object.

    Confirmations wait in memory until then, so the write lock is held only for the
    moment of the batch's statements, never while uploads run. A kill -9 loses at most
    the unwritten batch: those objects are sent again, never counted as sent unsent.
    """

    BATCH = 256
    EVERY = 1.0  # seconds

    def __init__(self, conn: sqlite3.Connection, key: str, policy: Policy, owner: str,
                 clock: Callable[[], float], progress: Progress | None) -> None:
        self.conn, self.key, self.policy, self.owner = conn, key, policy, owner
        self.clock, self.progress = clock, progress
        self.waiting: list[tuple[plan.PlanObject, str, float]] = []
        self.group_bytes: dict[str, int] = defaultdict(int)
        self.last_flush = self.last_renew = clock()

    def __call__(self, obj: plan.PlanObject, etag: str, size: int) -> None:
        now = self.clock()
        self.waiting.append((obj, etag, now))
        self.group_bytes[obj.group] += size
        if self.progress:
            self.progress(1, size)
        if len(self.waiting) >= self.BATCH or now - self.last_flush > self.EVERY:
            self.flush()
        if now - self.last_renew > self.policy.lease_seconds / 3:
            jobs.renew(self.conn, self.key, self.owner, now, self.policy)
            self.last_renew = now

    def flush(self) -> None:
        if self.waiting:
            with jobs.immediate(self.conn):
                state.record_many(self.conn, self.key, self.waiting)
            self.waiting = []
        self.last_flush = self.clock()


def run_queue(conn: sqlite3.Connection, target: Target, site_dir: Path, policy: Policy,
              progress: Progress | None = None, clock: Callable[[], float] = time.time,
              sleep: Callable[[float], None] = time.sleep) -> Report:
    """Work the target's queue until it is empty or every job left has failed too often."""
    key = target.state_key
    started = clock()
    report = Report(target=target.url)
    queued = jobs.list_jobs(conn, key)
    report.queued = len(queued)
    report.total = len(state.pending(conn, key, [j.grp for j in queued])) if queued else 0
    owner = jobs.new_owner()
    skip: set[str] = set()
    tries: dict[str, int] = defaultdict(int)
    checked = False
    try:
        while True:
            now = clock()
            groups = jobs.claim(conn, key, owner, now, policy.batch_groups, skip, policy)
            if not groups:
                due = jobs.next_due(conn, key, owner, skip, now)
                if due is None:
                    break
                sleep(max(0.0, min(due - now, policy.backoff_cap)))
                continue
            if not checked:
                _preflight(conn, target, key, clock())
                checked = True
                if state.needs_reconcile(conn, key):  # the service's way in
                    report.reconciled = reconcile(conn, target, site_dir, clock())
            _round(conn, target, site_dir, policy, owner, groups, report, skip, tries, clock, progress)
            if report.fatal:
                raise report.fatal
    finally:
        jobs.release(conn, key, owner)
    report.left = len(jobs.list_jobs(conn, key))
    report.failed = {g: e for g, e in report.failed.items() if g in skip}
    report.seconds = clock() - started
    return report


def _preflight(conn: sqlite3.Connection, target: Target, key: str, now: float) -> None:
    """One cheap request before the first upload, so a wrong bucket or key fails clearly."""
    try:
        target.check()
    except TargetError as exc:
        _note_error(conn, key, exc, now)
        raise


def _note_error(conn: sqlite3.Connection, key: str, exc: TargetError, now: float) -> None:
    """Show why every queued job waits (chartseal queue)."""
    with jobs.immediate(conn):
        conn.execute("UPDATE jobs SET last_error = ?, updated_at = ? WHERE target = ?",
                     (str(exc), now, key))


def _round(conn: sqlite3.Connection, target: Target, site_dir: Path, policy: Policy, owner: str,
           groups: list[str], report: Report, skip: set[str], tries: dict[str, int],
           clock: Callable[[], float], progress: Progress | None) -> None:
    key = target.state_key
    items = state.pending(conn, key, groups)
    names = {o.name for o in items}
    outside = {r for o in items for r in o.refs if r not in names}
    status = state.ref_status(conn, key, outside)
    with jobs.immediate(conn):
        state.note_sending(conn, key, items, clock())
    recorder = _Recorder(conn, key, policy, owner, clock, progress)
    try:
        outcome = upload_ordered(target, site_dir, items, lambda r: status.get(r, ("", False))[1],
                                 policy.workers, recorder)
    finally:
        recorder.flush()
    report.uploaded += len(outcome.done)
    report.sent_bytes += outcome.sent_bytes
    if outcome.site_damaged:
        # Retrying cannot help until an export seals the object again: stop this run's
        # tries of those groups (publish exports and runs once more, see publish()).
        report.site_damaged += len(outcome.site_damaged)
        skip.update(o.group for o in items if o.name in outcome.site_damaged)
    if outcome.fatal:
        report.fatal = outcome.fatal
    by_group: dict[str, list[str]] = defaultdict(list)
    for o in items:
        by_group[o.group].append(o.name)
    group_of = {o.name: o.group for o in items} | {n: g for n, (g, _ok) in status.items()}
    now = clock()
    with jobs.immediate(conn):
        for grp in groups:
            _settle(conn, key, grp, by_group.get(grp, []), outcome, group_of, recorder, policy,
                    report, skip, tries, now)


def _settle(conn: sqlite3.Connection, key: str, grp: str, names: list[str], outcome: Outcome,
            group_of: dict[str, str], recorder: _Recorder, policy: Policy, report: Report,
            skip: set[str], tries: dict[str, int], now: float) -> None:
    """Finish, fail or park one group's job after a round."""
    sent = sum(1 for n in names if n in outcome.done)
    size = recorder.group_bytes.get(grp, 0)
    failed = [n for n in names if n in outcome.failed]
    deferred = [n for n in names if n in outcome.deferred]
    if not failed and not deferred:
        jobs.complete(conn, key, grp, sent, size, now)
        return
    if failed:
        error = outcome.failed[failed[0]]
        if len(failed) > 1:
            error = f"{len(failed)} of {len(names)} objects failed; first: {error}"
        _fail(conn, key, grp, error, policy, report, skip, tries, now, sent, size)
        return
    if outcome.fatal:
        jobs.wait(conn, key, grp, "stopped by an error", now, now)
        return
    blocking = {r for n in deferred for r in outcome.deferred[n]}
    unknown = sorted(r for r in blocking if r not in group_of)
    others = {group_of[r] for r in blocking if r in group_of} - {grp}
    if unknown or not others:
        what = f"refers to {unknown[0]}, which is not in the plan" if unknown else \
            "its objects refer to each other in a circle"
        _fail(conn, key, grp, f"{deferred[0]} {what}", policy, report, skip, tries, now, sent, size)
        return
    # Make sure every group we wait for has a job, then wait until the earliest may run.
    jobs.enqueue(conn, key, {g: "needed by another group" for g in others}, now)
    due_at = jobs.job_next_at(conn, key, others)
    jobs.wait(conn, key, grp, f"waiting for {len(others)} other group(s)",
              max(now, min(due_at.values(), default=now)), now)
    if others <= skip:
        skip.add(grp)
        report.failed[grp] = f"waiting for uploads that failed ({sorted(others)[0]}, ...)"


def _fail(conn: sqlite3.Connection, key: str, grp: str, error: str, policy: Policy,
          report: Report, skip: set[str], tries: dict[str, int], now: float, sent: int,
          size: int) -> None:
    jobs.fail(conn, key, grp, error, now, policy, sent, size)
    tries[grp] += 1
    report.failed[grp] = error
    if tries[grp] >= policy.attempts_per_run:
        skip.add(grp)


@dataclass
class DryRun:
    target: str
    uploads: list[plan.PlanObject]
    deletes_due: list[str]
    deletes_waiting: int


def publish(home: Home, target_url: str | None = None, endpoint_url: str | None = None,
            region: str | None = None, resend_all: bool = False, export: bool = True,
            policy: Policy | None = None, progress: Progress | None = None,
            on_start: Callable[[Report], None] | None = None, phase: Phase | None = None) -> Report:
    """Export (unless told not to), queue what changed, send it, delete what is superseded.

    ``phase`` hears each step as it starts (and the export's key derivation as it counts),
    for the job status that the console and ``chartseal jobs`` show.
    """
    policy = policy or Policy.from_env()
    phase = phase or (lambda name, done, total: None)
    target = make_target(home, target_url, endpoint_url, region, policy)
    if export:
        phase("exporting", 0, 0)
        run_export(home, phase)
    phase("queueing", 0, 0)
    conn = connect(home)
    other = bool(target_url) and target.state_key != make_target(home, None, endpoint_url, region,
                                                                  policy).state_key
    try:
        report = _publish(home, conn, target, resend_all, export, policy, progress, on_start, phase)
        if other:
            report.dropped = drop_jobs(conn, target.state_key)
        return report
    except sqlite3.OperationalError as exc:
        raise state_error(exc, home.state_path) from exc
    finally:
        if other and not conn.in_transaction:
            # Nothing runs the queue of a target that is not configured (the service uses
            # the configured one): leave no job waiting forever. What is missing there is
            # queued again by the next run for it, from what the state database knows.
            try:
                drop_jobs(conn, target.state_key)
            except sqlite3.Error:
                pass
        conn.close()


def drop_jobs(conn: sqlite3.Connection, key: str) -> int:
    """Remove every queued job of the target ``key``; returns how many."""
    with jobs.immediate(conn):
        return conn.execute("DELETE FROM jobs WHERE target = ?", (key,)).rowcount


def _publish(home: Home, conn: sqlite3.Connection, target: Target, resend_all: bool,
             export: bool, policy: Policy, progress: Progress | None,
             on_start: Callable[[Report], None] | None, phase: Phase) -> Report:
    # The service exports and queues under the home lock; take it only when there is
    # something to queue (importing the exporter is the no-op's largest cost).
    if resend_all or state.pending_groups(conn, target.state_key):
        with home_lock(home):
            queue_changes(conn, target.state_key, resend_all, time.time())
    healed = _reconcile_first(home, conn, target)
    # Nothing queued: nothing will be sent, and counting the plan's pending rows would cost
    # a second pass over the plan (most of a no-op at 150,000 objects).
    queued = bool(jobs.list_jobs(conn, target.state_key))
    total = len(state.pending(conn, target.state_key)) if queued else 0
    if on_start:
        on_start(Report(target.url, total=total))
    phase("uploading", 0, total)
    report = run_queue(conn, target, home.site_dir, policy, progress)
    if report.site_damaged and export:
        # Damaged files in the site folder were dropped: seal them again, send once more.
        run_export(home, phase)
        with home_lock(home):
            queue_changes(conn, target.state_key, False, time.time())
        again = run_queue(conn, target, home.site_dir, policy, progress)
        again.uploaded += report.uploaded
        again.sent_bytes += report.sent_bytes
        report = again
    report.reconciled = healed or report.reconciled
    if deletes.leftovers(conn, target.state_key):
        phase("deleting", 0, 0)
        with home_lock(home):
            dplan = plan_due_deletes(conn, target, policy, time.time())
            report.deletes_waiting, report.doors_held = dplan.waiting, dplan.doors_held
            report.deleted = deletes.run_deletes(conn, target, dplan)
    return report


def _reconcile_first(home: Home, conn: sqlite3.Connection, target: Target) -> tuple[int, int] | None:
    """A target the state database knows nothing of is listed before anything is sent.

    Runs after queueing, so a listing that fails (offline, no bucket) loses nothing; jobs
    whose objects all turned out to be on the target already are dropped.
    """
    if not state.needs_reconcile(conn, target.state_key):
        return None
    with home_lock(home):
        try:
            healed = reconcile(conn, target, home.site_dir, time.time())
        except TargetError as exc:
            _note_error(conn, target.state_key, exc, time.time())
            raise
        with jobs.immediate(conn):
            state.drop_satisfied_jobs(conn, target.state_key)
    return healed


def delete_superseded(conn: sqlite3.Connection, target: Target, policy: Policy,
                      now: float | None = None,
                      stop: Callable[[], bool] | None = None) -> tuple[int, int]:
    """Delete what is due; return (deleted, still waiting: retired doors held back included).

    Callable with jobs left: then only retired doors whose group has nothing waiting go.
    The caller holds the home lock, so no export changes the plan meanwhile. With ``stop``
    (the service: a change arrived) the round ends early, 200 names at a time, and what it
    left counts as waiting.
    """
    dplan = plan_due_deletes(conn, target, policy, time.time() if now is None else now)
    if stop is None:
        return deletes.run_deletes(conn, target, dplan), dplan.waiting + dplan.doors_held
    done = deletes.run_deletes(conn, target, dplan, stop, chunk_size=200)
    due = sum(len(layer) for layer in dplan.layers)
    return done, dplan.waiting + dplan.doors_held + due - done


def plan_due_deletes(conn: sqlite3.Connection, target: Target, policy: Policy,
                     now: float) -> deletes.DeletePlan:
    key = target.state_key
    deletes.mark_superseded(conn, key, now)
    return deletes.plan_deletes(conn, key, policy, now, busy_groups(conn, key))


def busy_groups(conn: sqlite3.Connection, key: str) -> set[str]:
    """Groups whose planned objects are not all on the target, or that have a job queued."""
    return set(state.pending_groups(conn, key)) | {j.grp for j in jobs.list_jobs(conn, key)}


def count_superseded(conn: sqlite3.Connection, key: str) -> int:
    return len(deletes.leftovers(conn, key))


def dry_run(home: Home, target_url: str | None = None, endpoint_url: str | None = None,
            region: str | None = None, resend_all: bool = False, export: bool = True,
            policy: Policy | None = None) -> DryRun:
    """What a publish would send and delete; the target and the queue are left untouched."""
    policy = policy or Policy.from_env()
    target = make_target(home, target_url, endpoint_url, region, policy)
    if export:
        run_export(home)
    conn = connect(home)
    try:
        key = target.state_key
        uploads = list(plan.read_plan(conn)) if resend_all else state.pending(conn, key)
        now = time.time()
        rows = deletes.leftovers(conn, key)
        # As after a publish whose uploads all succeed: every retired door, then what is due.
        doors = sorted(n for n in rows if deletes.is_door(n))
        due = sorted(n for n, sup in rows.items() if not deletes.is_door(n) and sup is not None
                     and sup <= now - policy.grace_seconds)[: policy.delete_cap]
        return DryRun(target.url, uploads, doors + due, len(rows) - len(doors) - len(due))
    finally:
        conn.close()


def run_export(home: Home, phase: Phase | None = None) -> None:
    """Bring the site folder and the plan up to date first (only changed patients re-sealed)."""
    from exporter.site import export_site

    export_site(home, progress=phase)
