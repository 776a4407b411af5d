"""``chartseal service run|start|stop|status|install|uninstall``: the background publisher."""
from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import click

from exporter.cli_util import UserError, home_option, open_home, reports_errors

NOT_RUNNING = 3  # exit status of `service status` when the service is not running (as LSB)
NOT_RESPONDING = 4  # running, but its heartbeat is stale (stuck): a monitor must see it


@click.group()
def service() -> None:
    """The background service: publishes every change to the clinic databases within seconds."""


@service.command("run")
@home_option
@reports_errors
def run(home_dir: str | None) -> None:
    """Run the service in the foreground until SIGTERM or Ctrl+C (one per clinic home).

    Watches each clinic database, exports and uploads what changed, retries while offline,
    fetches notes, writes a heartbeat and logs to logs/service.log in the clinic home.
    """
    from .service import run_service

    run_service(open_home(home_dir).root)


@service.command("start")
@home_option
@reports_errors
def start(home_dir: str | None) -> None:
    """Start the service in the background (it keeps running after this command ends)."""
    from . import service_control

    pid = service_control.start(open_home(home_dir))
    click.echo(f"service started (PID {pid}); check it with: chartseal service status")


@service.command("stop")
@home_option
@reports_errors
def stop(home_dir: str | None) -> None:
    """Stop the running service; what is queued stays queued for the next start."""
    from . import service_control

    pid = service_control.stop(open_home(home_dir))
    click.echo(f"service stopped (PID {pid})")


def _when(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(ts))} ({_ago(now - ts)} ago)"


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def _queue_length(state_path: Path) -> int | None:
    """Read from the state database itself: exact even when the service is not running."""
    if not state_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _last_upload(state_path: Path) -> float | None:
    """The last upload that sent objects, by the service or a manual publish (upload log)."""
    if not state_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT max(ts) FROM upload_log WHERE ok = 1 AND objects > 0").fetchone()
            return float(row[0]) if row and row[0] is not None else None
        finally:
            conn.close()
    except sqlite3.Error:
        return None


@service.command("status")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@home_option
@reports_errors
def status(as_json: bool, home_dir: str | None) -> None:
    """Say whether the service is running, since when, the queue, the last upload and error.

    Exits with status 0 when it is running, 3 when it is not and 4 when it runs but does
    not respond (its heartbeat is stale).
    """
    from .service_status import backup_info, read_status

    home = open_home(home_dir)
    now = time.time()
    st = read_status(home.root, now=now)
    data = st.to_json()
    data.update(backup_info(home.root))
    queue = _queue_length(home.state_path)
    if queue is not None:
        data["queue"] = queue
    logged = _last_upload(home.state_path)
    if logged is not None and logged > (data.get("last_success") or 0):
        data["last_success"] = logged  # a manual publish, or one before the last restart
    data["log"] = str(home.log_dir / "service.log")
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        _show(data, now)
    if not st.running:
        sys.exit(NOT_RUNNING)
    if not st.responding:
        click.echo("hint: the service does not respond; see its log, then restart it", err=True)
        sys.exit(NOT_RESPONDING)


def _show(d: dict, now: float) -> None:
    if d["running"]:
        state = f"running (PID {d['pid']}) since {_when(d['since'], now)}"
        if not d["responding"]:
            age = d["heartbeat_age"]
            state += ("; NOT RESPONDING: last heartbeat " + (f"{_ago(age)} ago" if age is not None
                                                              else "missing"))
    else:
        state = "not running" + (f" (stopped {_when(d['stopped'], now)})" if d.get("stopped") else "")
    click.echo(f"service:        {state}")
    if d["running"]:
        click.echo(f"doing:          {d['activity']}")
    queue = d.get("queue")
    click.echo(f"upload queue:   {'unknown' if queue is None else f'{queue} waiting'}")
    click.echo(f"last upload:    {_when(d.get('last_success'), now)}")
    click.echo(f"up to date at:  {_when(d.get('last_publish'), now)}")
    if d.get("last_error"):
        click.echo(f"last error:     {d['last_error']}  [{_when(d.get('last_error_at'), now)}]")
    else:
        click.echo("last error:     none")
    click.echo(f"last backup:    {_when(d.get('last_backup'), now)}"
               + (f"  {d['last_backup_file']}" if d.get("last_backup_file") else ""))
    if d.get("backup_error") and (d.get("backup_error_at") or 0) > (d.get("last_backup") or 0):
        click.echo(f"backup error:   {d['backup_error']}  [{_when(d.get('backup_error_at'), now)}]")
    if d["running"] and d.get("next_retry") and d["next_retry"] > now:
        click.echo(f"next retry:     in {_ago(d['next_retry'] - now)}")
    if d.get("watching") or d.get("paused"):
        click.echo(f"watching:       {', '.join(d.get('watching') or []) or 'no database'}"
                   + (f"; automatic update off: {', '.join(d['paused'])}" if d.get("paused") else ""))
    click.echo(f"log:            {d['log']}")
    if not d["running"]:
        click.echo("hint: start it with: chartseal service run (or install it: chartseal service install)")


_platform = click.option("--platform", type=click.Choice(["linux", "darwin", "win32"]), default=None,
                         hidden=True, help="write the file for another platform (with --dry-run)")


@service.command("install")
@click.option("--dry-run", is_flag=True, help="print the file that would be installed; change nothing")
@_platform
@home_option
@reports_errors
def install(dry_run: bool, platform: str | None, home_dir: str | None) -> None:
    """Start the service with your session: systemd user unit, launchd agent or scheduled task."""
    from . import service_install as core

    home = open_home(home_dir)
    plan = core.plan_install(home.root, home.clinic_id, platform)
    if dry_run:
        click.echo(f"# would write {plan.path}")
        click.echo(plan.text, nl=False)
        for cmd in plan.start:
            click.echo(f"# then run: {' '.join(cmd)}")
        return
    if platform and not sys.platform.startswith(platform):
        raise UserError(f"--platform {platform} installs only with --dry-run on this system")
    left = core.install(plan)
    click.echo(f"installed {plan.name}: {plan.path}")
    if left:
        click.echo("to start it, run:")
        for line in left:
            click.echo(f"  {line}")
    else:
        click.echo("started; check it with: chartseal service status")
    if plan.platform == "linux":
        click.echo("to keep it running while you are logged out: loginctl enable-linger")
    click.echo("to remove it: chartseal service uninstall" + (f" --home {home.root}" if home_dir else ""))


@service.command("uninstall")
@click.option("--dry-run", is_flag=True, help="print what would be removed; change nothing")
@_platform
@home_option
@reports_errors
def uninstall(dry_run: bool, platform: str | None, home_dir: str | None) -> None:
    """Stop the installed service and remove its file."""
    from . import service_install as core

    home = open_home(home_dir)
    plan = core.plan_install(home.root, home.clinic_id, platform)
    if dry_run:
        exists = "" if plan.path.exists() else " (not installed)"
        for cmd in plan.stop[:1]:
            click.echo(f"# would run: {' '.join(cmd)}")
        click.echo(f"# would remove {plan.path}{exists}")
        for cmd in plan.stop[1:]:
            click.echo(f"# would run: {' '.join(cmd)}")
        return
    if platform and not sys.platform.startswith(platform):
        raise UserError(f"--platform {platform} uninstalls only with --dry-run on this system")
    removed, left = core.uninstall(plan)
    if not removed:
        click.echo(f"not installed: {plan.path} does not exist")
        return
    click.echo(f"removed {plan.name}: {plan.path}")
    for line in left:
        click.echo(f"  still to run: {line}")
