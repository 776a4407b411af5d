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
background_option = click.option("--background", is_flag=True,
                                 help="run as a background job and return at once; follow it with: chartseal jobs")
# Set by a background start: the detached process records its progress under this job id.
job_option = click.option("--job", "job_id", hidden=True, metavar="ID")


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
@background_option
@job_option
@home_option
def publish(resend_all: bool, dry_run: bool, no_export: bool, target_url: str | None,
            endpoint_url: str | None, region: str | None, background: bool, job_id: str | None,
            home: str | None) -> None:
    """Export what changed, then upload only the objects the target does not hold yet."""
    from . import background as jobs_core
    from . import publish as core

    with reported(home):
        h = open_home(home)
        if dry_run:
            _show_dry_run(core.dry_run(h, target_url, endpoint_url, region, resend_all, not no_export))
            return
        if background:
            _refuse_overrides(target_url, endpoint_url, region, no_export)
            _started(jobs_core.start_job(h, "publish-all" if resend_all else "publish"), home)
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
            report = jobs_core.run_publish(h, job_id, resend_all, not no_export, target_url,
                                           endpoint_url, region, Policy.from_env(), start, progress)
        finally:
            if bar.get("bar") is not None:
                bar["bar"].close()
        if not no_export:
            _warn_export_problems(h)
        _show_report(report)


def _refuse_overrides(*given: object) -> None:
    # A background job runs with the home's settings only, the ones the console shows.
    if any(given):
        raise CliError("--background runs with the clinic's saved settings only",
                       "drop --target/--endpoint-url/--region/--no-export, or set them with "
                       "chartseal config set; or run without --background")


def _started(st: Any, home: str | None) -> None:
    where = f" --home {home}" if home else ""
    click.echo(f"started in the background: {st.label} (PID {st.pid}); log: {st.log}")
    click.echo(f"follow it with: chartseal jobs --follow{where}")


def _warn_export_problems(h: Home) -> None:
    """One line for what the export could not publish; `chartseal log --failed` lists it."""
    from exporter import failures

    from .publish import connect

    conn = connect(h)
    try:
        found = failures.read(conn)
    finally:
        conn.close()
    off = [f for f in found if f.outcome != "warning"]
    if off:
        kept = sum(1 for f in off if f.outcome == "kept")
        click.echo(f"warning: some records could not be published from their current rows "
                   f"({len(off) - kept} not published, {kept} kept as last published); "
                   "the rest is published", err=True)
        click.echo("hint: see which and why with: chartseal log --failed", err=True)
    elif found:
        click.echo(f"warning: {len(found)} values were left out of published records; "
                   "see: chartseal log --failed", err=True)


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
def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _export_problems(h: Home, card: str | None, as_json: bool) -> int:
    """The last export's problems: patients not published or kept at their last version,
    and values left out of published ones. Returns how many were shown."""
    from exporter import failures

    from .uploads import export_problems

    found = export_problems(h, card)
    for f in found:
        status = failures.STATUS[f.outcome]
        if as_json:
            # The upload rows' keys too (empty), so every line has one shape.
            click.echo(json.dumps({"time": _when(f.since), "stage": "export", "database": f.db,
                                   "patient": f.patient, "status": status, "field": f.field,
                                   "error": f.message, "group": "", "target": "", "objects": 0,
                                   "bytes": 0}, sort_keys=True))
        else:
            who = f"{f.db}/{f.patient}" if f.patient else f"{f.db} (database)"
            click.echo(f"{_when(f.since)}  {who:<34} {status:<13} {f.field}: {f.message}")
    return len(found)


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
    from .uploads import upload_list

    with reported(home):
        waiting = upload_list(open_home(home))
    if not waiting and not as_json:
        click.echo("the upload list is empty")
        return
    for w in waiting:
        if as_json:
            click.echo(json.dumps(w.to_json(), sort_keys=True))
        else:
            err = f"  last error: {w.error}" if w.error else ""
            click.echo(f"{w.patient:<34} {w.target:<32} {w.reason:<28} tries {w.attempts:<3} "
                       f"next {w.next}{err}")
    if not as_json:
        click.echo(f"{len(waiting)} waiting")


@click.command()
@click.option("--failed", "only", flag_value="failed",
              help="only patients the last export could not publish, or whose last upload failed")
@click.option("--ok", "only", flag_value="ok", help="only groups whose last upload succeeded")
@click.option("--patient", "card", metavar="CARD", help="only this patient (card number)")
@click.option("--json", "as_json", is_flag=True, help="print JSON lines instead of a table")
@home_option
def log(only: str | None, card: str | None, as_json: bool, home: str | None) -> None:
    """Show what the last export could not publish, then the upload status of each patient
    (the latest attempt), with the error text."""
    from .uploads import upload_status

    with reported(home):
        h = open_home(home)
        rows = upload_status(h, only or "all", card)
        shown = 0 if only == "ok" else _export_problems(h, card, as_json)
    for u in rows:
        if as_json:
            # The export rows' keys too (empty), so every line has one shape.
            click.echo(json.dumps({"stage": "upload", "database": "", "field": "", **u.to_json()},
                                  sort_keys=True))
        else:
            tail = f"  {u.error}" if u.error else ""
            status = "ok" if u.ok else "failed"
            click.echo(f"{u.time}  {u.patient:<34} {status:<6} {u.objects:>5} objects{tail}")
    if not rows and not shown and not as_json:
        click.echo("no uploads match" if (only or card) else "nothing published yet")


@click.command()
@click.option("--repair", is_flag=True, help="upload what is missing, damaged or stale and delete orphans")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@target_option
@endpoint_option
@region_option
@background_option
@job_option
@home_option
def sync(repair: bool, as_json: bool, target_url: str | None, endpoint_url: str | None,
         region: str | None, background: bool, job_id: str | None, home: str | None) -> None:
    """List the target and compare it with what it must hold; --repair fixes it."""
    from . import background as jobs_core

    with reported(home):
        h = open_home(home)
        if background:
            _refuse_overrides(target_url, endpoint_url, region)
            _started(jobs_core.start_job(h, "sync-repair" if repair else "sync"), home)
            return
        bar = _PhaseBar()
        try:
            r = jobs_core.run_sync(h, job_id, repair, target_url, endpoint_url, region,
                                   Policy.from_env(), bar)
        finally:
            bar.close()
    _show_sync(r, repair, as_json)


class _PhaseBar:
    """A terminal progress bar for the counted phases of a job (repairing, deleting)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.name = ""

    def __call__(self, name: str, done: int, total: int) -> None:
        if name != self.name:
            self.close()
            self.name = name
            if total:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="obj", desc=name, disable=None, file=sys.stderr,
                                dynamic_ncols=True)
        if self.bar is not None:
            self.bar.n = done
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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
