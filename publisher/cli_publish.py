"""``chartseal publish``, ``queue``, ``log`` and ``sync``: thin wrappers over the publisher."""
from __future__ import annotations

import json
import sqlite3
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator

import click

from exporter.errors import ChartsealError
from exporter.home import Home, load_home, resolve_home

from . import jobs
from .policy import Policy

home_option = click.option("--home", type=click.Path(file_okay=False), default=None,
                           help="clinic home folder (default: $CHARTSEAL_HOME or the user data folder)")
target_option = click.option("--target", "target_url", metavar="URL",
                             help="publish to this target for this run only: file:///path or s3://bucket/prefix")
endpoint_option = click.option("--endpoint-url", metavar="URL",
                               help="S3 endpoint for S3-compatible stores (overrides the config and AWS_ENDPOINT_URL)")
region_option = click.option("--region", help="S3 region (overrides the config)")


class CliError(click.ClickException):
    """Printed as an ``error:`` line and a ``hint:`` line."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def show(self, file: Any = None) -> None:
        out = file or sys.stderr
        click.echo(f"error: {self.message}", file=out)
        if self.hint:
            click.echo(f"hint: {self.hint}", file=out)


@contextmanager
def reported(home: str | None = None) -> Iterator[None]:
    """Turn core errors into CLI errors, keeping the hint."""
    try:
        yield
    except ChartsealError as exc:
        raise CliError(str(exc), exc.hint) from exc
    except (OSError, sqlite3.OperationalError) as exc:
        from exporter.cli_util import disk_error

        disk = disk_error(exc, home)
        if disk is not None:
            raise disk from exc
        if isinstance(exc, OSError):
            raise
        raise CliError(f"the state database failed: {exc}",
                       "check the disk of the clinic home; the queue is kept in it") from exc


def open_home(home: str | None) -> Home:
    return load_home(resolve_home(home))


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


@click.command()
@click.option("--all", "resend_all", is_flag=True,
              help="send every object again (update all patient data now), in small resumable parts")
@click.option("--dry-run", is_flag=True, help="show what would be sent and deleted; change nothing on the target")
@click.option("--no-export", is_flag=True, help="send the site folder as last exported, without exporting first")
@target_option
@endpoint_option
@region_option
@home_option
def publish(resend_all: bool, dry_run: bool, no_export: bool, target_url: str | None,
            endpoint_url: str | None, region: str | None, home: str | None) -> None:
    """Export what changed, then upload only the objects the target does not hold yet."""
    from . import publish as core

    with reported(home):
        h = open_home(home)
        if dry_run:
            _show_dry_run(core.dry_run(h, target_url, endpoint_url, region, resend_all, not no_export))
            return
        bar: dict[str, Any] = {}

        def start(info: core.Report) -> None:
            if not info.total:
                return
            from tqdm import tqdm

            bar["bar"] = tqdm(total=info.total, unit="obj", desc="publishing", disable=None,
                              file=sys.stderr, dynamic_ncols=True)

        def progress(n: int, size: int) -> None:
            if bar.get("bar") is not None:
                bar["bar"].update(n)

        try:
            report = core.publish(h, target_url, endpoint_url, region, resend_all, not no_export,
                                  Policy.from_env(), progress, start)
        finally:
            if bar.get("bar") is not None:
                bar["bar"].close()
        _show_report(report)


def _show_report(r: Any) -> None:
    if getattr(r, "reconciled", None):
        click.echo(f"the state database knew nothing of {r.target}: listed it once, kept "
                   f"{r.reconciled[0]} objects already there, {r.reconciled[1]} no longer "
                   "published are deleted by the usual rules")
    rate = r.uploaded / r.seconds if r.seconds > 0 else 0.0
    if r.uploaded or r.queued:
        click.echo(f"published {r.uploaded} objects ({human_bytes(r.sent_bytes)}) to {r.target} "
                   f"in {r.seconds:.1f} s ({rate:.0f} objects/s)")
    else:
        click.echo(f"nothing to publish: {r.target} is up to date")
    if r.deleted or r.deletes_waiting:
        click.echo(f"deleted {r.deleted} superseded objects; {r.deletes_waiting} kept for the grace period")
    if r.doors_held:
        click.echo(f"warning: {r.doors_held} retired doors (old passwords) still open on the target: "
                   "their replacements failed to upload; the next publish deletes them", err=True)
    if r.left and r.dropped:
        first = next(iter(r.failed.values()), "")
        raise CliError(f"{r.left} upload jobs to {r.target} did not finish" + (f": {first}" if first else ""),
                       f"run chartseal publish --target {r.target} again; jobs for a target that is "
                       "not configured are not kept queued")
    if r.left:
        first = next(iter(r.failed.values()), "")
        raise CliError(f"{r.left} upload jobs are still queued" + (f": {first}" if first else ""),
                       "they are kept and retried by the next publish; see: chartseal queue, "
                       "chartseal log --failed")


def _show_dry_run(d: Any) -> None:
    groups = {o.group for o in d.uploads}
    size = sum(o.size for o in d.uploads)
    click.echo(f"dry run: would send {len(d.uploads)} objects ({human_bytes(size)}) of "
               f"{len(groups)} groups to {d.target}")
    for o in d.uploads[:50]:
        click.echo(f"  put     {o.name}")
    if len(d.uploads) > 50:
        click.echo(f"  ... and {len(d.uploads) - 50} more")
    for name in d.deletes_due:
        click.echo(f"  delete  {name}")
    click.echo(f"would delete {len(d.deletes_due)} superseded objects; "
               f"{d.deletes_waiting} more wait for the grace period")


# -- the upload list and the log --------------------------------------------------------
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


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@home_option
@click.pass_context
def queue(ctx: click.Context, as_json: bool, home: str | None) -> None:
    """Show the upload list: groups waiting to be published, for which target, and why."""
    if ctx.invoked_subcommand is None:
        _show_queue(as_json, home)


@queue.command("drop")
@click.option("--target", "target_url", metavar="URL", required=True,
              help="the target whose jobs to drop, as `chartseal queue` shows it")
@home_option
def queue_drop(target_url: str, home: str | None) -> None:
    """Drop every queued job of one target (e.g. one no longer used)."""
    from .publish import connect, drop_jobs
    from .targets import open_target

    with reported(home):
        h = open_home(home)
        key = open_target(target_url).state_key
        conn = connect(h)
        try:
            known = {j.target for j in jobs.list_jobs(conn)}
            if key not in known and target_url in known:
                key = target_url
            dropped = drop_jobs(conn, key)
        finally:
            conn.close()
    click.echo(f"dropped {dropped} queued jobs for {key}" if dropped else f"no jobs queued for {key}")


def _show_queue(as_json: bool, home: str | None) -> None:
    from .publish import connect

    with reported(home):
        h = open_home(home)
        conn = connect(h)
        try:
            waiting = jobs.list_jobs(conn)
        finally:
            conn.close()
        card, now = Cards(h), time.time()
        if not waiting and not as_json:
            click.echo("the upload list is empty")
            return
        for j in waiting:
            running = j.lease_owner and (j.lease_until or 0) > now and jobs.owner_alive(j.lease_owner)
            when = "uploading" if running else ("now" if j.next_at <= now else f"in {j.next_at - now:.0f} s")
            row = {"patient": card(j.grp), "group": j.grp, "target": j.target, "reason": j.reason,
                   "attempts": j.attempts, "next": when, "error": j.last_error}
            if as_json:
                click.echo(json.dumps(row, sort_keys=True))
            else:
                err = f"  last error: {j.last_error}" if j.last_error else ""
                click.echo(f"{row['patient']:<34} {j.target:<32} {j.reason:<28} tries {j.attempts:<3} "
                           f"next {when}{err}")
        if not as_json:
            click.echo(f"{len(waiting)} waiting")


@click.command()
@click.option("--failed", "only", flag_value="failed", help="only groups whose last upload failed")
@click.option("--ok", "only", flag_value="ok", help="only groups whose last upload succeeded")
@click.option("--patient", "card", metavar="CARD", help="only this patient (card number)")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@home_option
def log(only: str | None, card: str | None, as_json: bool, home: str | None) -> None:
    """Show the upload status of each patient (the latest attempt), with the error text."""
    from exporter.normalize import normalize_card

    from .publish import connect

    with reported(home):
        h = open_home(home)
        conn = connect(h)
        try:
            rows = conn.execute(
                "SELECT ts, target, grp, ok, objects, bytes, error FROM upload_log WHERE id IN "
                "(SELECT max(id) FROM upload_log GROUP BY target, grp) ORDER BY ts DESC").fetchall()
        finally:
            conn.close()
        cards = Cards(h)
        want = normalize_card(card) if card else None
        shown = 0
        for ts, target, grp, ok, objects, size, error in rows:
            if (only == "failed" and ok) or (only == "ok" and not ok):
                continue
            who = cards(grp)
            if want is not None and want != normalize_card(who) and card != grp:
                continue
            shown += 1
            row = {"time": _when(ts), "patient": who, "group": grp, "target": target,
                   "status": "ok" if ok else "failed", "objects": objects, "bytes": size, "error": error}
            if as_json:
                click.echo(json.dumps(row, sort_keys=True))
            else:
                tail = f"  {error}" if error else ""
                click.echo(f"{row['time']}  {who:<34} {row['status']:<6} {objects:>5} objects{tail}")
        if not shown and not as_json:
            click.echo("no uploads match" if (only or card) else "nothing published yet")


@click.command()
@click.option("--repair", is_flag=True, help="upload what is missing, damaged or stale and delete orphans")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@target_option
@endpoint_option
@region_option
@home_option
def sync(repair: bool, as_json: bool, target_url: str | None, endpoint_url: str | None,
         region: str | None, home: str | None) -> None:
    """List the target and compare it with what it must hold; --repair fixes it."""
    from . import publish as core
    from . import sync as core_sync

    with reported(home):
        h = open_home(home)
        policy = Policy.from_env()
        target = core.make_target(h, target_url, endpoint_url, region, policy)
        conn = core.connect(h)
        try:
            r = core_sync.sync(conn, target, h.site_dir, h.clinic_prefix, repair, policy)
        finally:
            conn.close()
    _show_sync(r, repair, as_json)


def _show_sync(r: Any, repair: bool, as_json: bool) -> None:
    counts = {"missing": len(r.missing), "damaged": len(r.damaged), "stale": len(r.stale),
              "orphaned": len(r.orphaned), "foreign_app_files": len(r.foreign),
              "superseded": r.superseded, "repaired": r.repaired, "deleted": r.deleted,
              "failed": len(r.failed)}
    if as_json:
        click.echo(json.dumps({"target": r.target, "planned": r.planned, "listed": r.listed,
                               **counts, "names": {k: getattr(r, k) for k in
                                                   ("missing", "damaged", "stale", "orphaned", "foreign")}},
                              sort_keys=True))
    else:
        click.echo(f"sync {r.target}: {r.planned} objects planned, {r.listed} found")
        for label in ("missing", "damaged", "stale", "orphaned"):
            names = getattr(r, label)
            click.echo(f"  {label:<9} {len(names)}" + (f"  e.g. {names[0]}" if names else ""))
        if r.foreign:
            click.echo(f"  {len(r.foreign)} unknown app files left alone (another clinic in this bucket may use them)")
        if r.superseded:
            click.echo(f"  {r.superseded} superseded objects are deleted after the grace period by publish")
        if repair:
            click.echo(f"repaired {r.repaired} objects, deleted {r.deleted} orphans")
    if r.failed:
        raise CliError(f"{len(r.failed)} objects could not be repaired, e.g. {next(iter(r.failed.values()))}",
                       "run chartseal sync --repair again")
    if r.problems and not repair:
        raise CliError(f"{r.problems} problems found on the target", "fix them with: chartseal sync --repair")
