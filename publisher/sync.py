"""Synchronization: list the target, compare it with the plan, and optionally repair it.

Only this clinic's ``c/<id>/`` and the app's files are looked at. The app files at the root
are shared by every clinic in a bucket, so an unknown app file is reported but never deleted.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from exporter import plan

from . import state
from .errors import PublishError, SiteObjectError
from .jobs import immediate
from .policy import Policy
from .targets import Listed, Target, is_md5, md5_hex
from .uploader import read_checked, upload_ordered


@dataclass
class SyncReport:
    target: str
    planned: int = 0
    listed: int = 0
    missing: list[str] = field(default_factory=list)    # planned, not on the target
    damaged: list[str] = field(default_factory=list)    # on the target with other bytes
    stale: list[str] = field(default_factory=list)      # an older version we published
    orphaned: list[str] = field(default_factory=list)   # under c/<id>/, known to nobody
    foreign: list[str] = field(default_factory=list)    # unknown app files (left alone)
    superseded: int = 0                                  # deleted after the grace period
    repaired: int = 0
    deleted: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.damaged) + len(self.stale) + len(self.orphaned)


def list_scope(target: Target, clinic_prefix: str, app_names: list[str]) -> dict[str, Listed]:
    """This clinic's objects and the app's files, as the target lists them."""
    found = {x.name: x for x in target.list(clinic_prefix + "/")}
    files, dirs = target.list_root()
    app_dirs = {n.split("/", 1)[0] + "/" for n in app_names if "/" in n} | {"assets/"}
    for f in files:
        if f.name in app_names or f.name.endswith(".html"):
            found[f.name] = f
    for d in sorted(set(dirs) & app_dirs):
        found.update({x.name: x for x in target.list(d)})
    return found


def scan(conn: sqlite3.Connection, target: Target, site_dir: Path, clinic_prefix: str) -> SyncReport:
    planned = {o.name: o for o in plan.read_plan(conn)}
    published = {row[0]: row[1:] for row in conn.execute(
        "SELECT name, digest, etag FROM published WHERE target = ?", (target.state_key,))}
    known = set(published) | {n for (n,) in conn.execute(
        "SELECT name FROM sending WHERE target = ?", (target.state_key,))}
    found = list_scope(target, clinic_prefix, [n for n, o in planned.items() if o.group == "app"])
    report = SyncReport(target.url, planned=len(planned), listed=len(found))
    for name, obj in planned.items():
        have = found.get(name)
        if have is None:
            report.missing.append(name)
            continue
        pub = published.get(name)
        if _matches(have, obj, site_dir):
            continue
        if pub and pub[0] != obj.digest and pub[1] and have.etag == pub[1]:
            report.stale.append(name)
        else:
            report.damaged.append(name)
    for name in sorted(set(found) - set(planned)):
        if name in known:
            report.superseded += 1
        elif name.startswith(clinic_prefix + "/"):
            report.orphaned.append(name)
        else:
            report.foreign.append(name)
    return report


def _matches(have: Listed, obj: plan.PlanObject, site_dir: Path) -> bool:
    """Compared with the MD5 of the planned bytes, computed here, never with a recorded tag:
    a tag recorded from a damaged upload would hide exactly the damage sync looks for."""
    if have.size != obj.size:
        return False
    if not is_md5(have.etag.lower()):
        return True  # a multipart or KMS tag is not an MD5; the size already matched
    return have.etag.lower() == md5_hex(read_checked(site_dir, obj))


Phase = Callable[[str, int, int], None]  # (phase, done, total), as publish.Phase


def repair(conn: sqlite3.Connection, target: Target, site_dir: Path, report: SyncReport,
           policy: Policy, phase: Phase | None = None) -> None:
    """Send what is missing, damaged or stale (in order), then delete this clinic's orphans."""
    planned = {o.name: o for o in plan.read_plan(conn)}
    if not planned:
        raise PublishError("the plan is empty, so every object would look orphaned",
                           hint="run chartseal export (or chartseal publish) first")
    key = target.state_key
    todo = report.missing + report.damaged + report.stale
    with immediate(conn):
        # Forget what we believed about them: if a repair fails, publish sends them again.
        conn.executemany("DELETE FROM published WHERE target = ? AND name = ?",
                         [(key, n) for n in todo])
    bad = set(todo)
    target.check()
    sent = [0]

    def on_done(obj: plan.PlanObject, etag: str, size: int) -> None:
        with immediate(conn):
            state.record_published(conn, key, obj, etag, time.time())
        sent[0] += 1
        if phase:
            phase("repairing", sent[0], len(todo))

    if phase:
        phase("repairing", 0, len(todo))

    outcome = upload_ordered(target, site_dir, [planned[n] for n in todo],
                             lambda r: r in planned and r not in bad, policy.workers, on_done)
    report.repaired = len(outcome.done)
    report.failed = dict(outcome.failed) | {n: "waits for " + ", ".join(r) for n, r in outcome.deferred.items()}
    if outcome.fatal:
        raise outcome.fatal
    # Pointers before the objects they may name.
    if phase and report.orphaned:
        phase("deleting orphans", 0, len(report.orphaned))
    doors = [n for n in report.orphaned if "/obj/" not in n]
    objs = [n for n in report.orphaned if "/obj/" in n]
    for layer in (doors, objs):
        if layer:
            target.delete(layer)
            report.deleted += len(layer)


def clinic_prefix_of(conn: sqlite3.Connection) -> str | None:
    """``c/<clinic id>`` as the plan names it (None for an empty plan)."""
    row = conn.execute("SELECT name FROM plan WHERE name GLOB 'c/*/*' LIMIT 1").fetchone()
    return "/".join(row[0].split("/")[:2]) if row else None


def reconcile(conn: sqlite3.Connection, target: Target, site_dir: Path, now: float) -> tuple[int, int] | None:
    """List a target we know nothing of once, and rebuild ``published`` from the listing.

    Planned objects found with the planned bytes are adopted (not sent again); this clinic's
    objects the plan no longer holds are recorded as superseded, so the usual delete rules
    remove them (retired doors at once, the rest after the grace period, capped). After the
    publish that follows, the target is what ``sync --repair`` would leave. Returns
    (adopted, orphans), or None when the plan is empty (then everything would look orphaned).
    """
    prefix = clinic_prefix_of(conn)
    if prefix is None:
        return None
    key = target.state_key
    planned = {o.name: o for o in plan.read_plan(conn)}
    found = list_scope(target, prefix, [n for n, o in planned.items() if o.group == "app"])
    adopted = orphans = 0
    with immediate(conn):
        for name, have in sorted(found.items()):
            obj = planned.get(name)
            if obj is None:
                if name.startswith(prefix + "/"):
                    state.adopt_orphan(conn, key, name, have.size, have.etag, now)
                    orphans += 1
                continue
            try:
                same = _matches(have, obj, site_dir)
            except SiteObjectError:
                same = False  # the site folder is damaged: send it again after the export
            if same:
                state.adopt(conn, key, obj, have.etag.lower() if is_md5(have.etag.lower()) else "", now)
                adopted += 1
        state.mark_reconciled(conn, key, now)
    return adopted, orphans


def sync(conn: sqlite3.Connection, target: Target, site_dir: Path, clinic_prefix: str,
         do_repair: bool, policy: Policy, phase: Phase | None = None) -> SyncReport:
    if phase:
        phase("listing", 0, 0)
    try:
        report = scan(conn, target, site_dir, clinic_prefix)
    except SiteObjectError as exc:
        raise PublishError(f"cannot compare: {exc}", hint=exc.hint) from exc
    if do_repair and report.problems:
        repair(conn, target, site_dir, report, policy, phase)
    return report
