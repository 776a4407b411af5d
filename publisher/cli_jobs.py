"""``chartseal jobs`` (the publishing job in the background) and ``chartseal test-target``."""
from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from .cli_publish import endpoint_option, home_option, human_bytes, open_home, region_option, reported
from .progress import resume_command

FAILED = 1


def _clock(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def show_status(st: Any) -> None:
    click.echo(f"job:       {st.label} ({st.origin}, PID {st.pid or '?'})")
    click.echo(f"state:     {st.state}" + (f", {st.phase}" if st.state == "running" else "")
               + (f" (during {st.phase})" if st.state in ("failed", "stopped") else ""))
    keys = st.phase == "deriving keys"
    unit = "keys derived" if keys else "objects"
    if st.total:
        pct = 100 * st.done / st.total
        click.echo(f"progress:  {st.done} of {st.total} {unit} ({pct:.0f}%)"
                   + ("" if keys else f", {human_bytes(st.sent_bytes)}"))
    if st.active and st.rate:
        click.echo(f"rate:      {st.rate:.1f} {'keys' if keys else 'objects'}/s, "
                   f"about {_duration(st.eta)} left" + (" in this phase" if keys else ""))
    elif st.active and keys:
        click.echo("rate:      measuring (the time left shows after the first keys)")
    click.echo(f"started:   {_clock(st.started)}")
    if st.finished:
        click.echo(f"finished:  {_clock(st.finished)} (took {_duration(st.finished - st.started)})")
    for key, value in st.summary.items():
        if key != "examples":
            click.echo(f"  {key.replace('_', ' ')}: {value}")
    click.echo(f"log:       {st.log}")
    if st.error:
        click.echo(f"error: {st.error}")
        if st.hint:
            click.echo(f"hint: {st.hint}")
    if st.state in ("failed", "stopped"):
        click.echo(f"resume:    {resume_command(st)}")


def follow(root: Any) -> Any:
    """Show a progress bar until the job ends; return its last status."""
    from tqdm import tqdm

    from .progress import read_status

    bar = None
    phase = None
    try:
        while True:
            st = read_status(root)
            if st is None or not st.active:
                return st
            if st.phase != phase or bar is None or (st.total and bar.total != st.total):
                if bar is not None:
                    bar.close()
                phase = st.phase
                bar = tqdm(total=st.total or None, desc=st.phase, unit="obj", file=sys.stderr,
                           dynamic_ncols=True, disable=None)
            bar.n = st.done
            bar.refresh()
            time.sleep(0.5)
    finally:
        if bar is not None:
            bar.close()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print the job's status as one JSON object")
@click.option("--follow", "keep_following", is_flag=True, help="show a progress bar until the job ends")
@home_option
def jobs(as_json: bool, keep_following: bool, home: str | None) -> None:
    """Show the running or last publishing job (publish, update all, sync) and its progress.

    Exits with status 1 when the job failed or stopped before it finished.
    """
    from .progress import read_status

    with reported():
        h = open_home(home)
        st = follow(h.root) if keep_following else read_status(h.root)
    if st is None:
        if as_json:
            click.echo("null")
        else:
            click.echo("no publishing job has run yet; start one with: chartseal publish --background")
        return
    if as_json:
        click.echo(json.dumps(st.to_json(), sort_keys=True))
    else:
        show_status(st)
    if st.state in ("failed", "stopped"):
        sys.exit(FAILED)


@click.command("test-target")
@click.argument("url", required=False)
@endpoint_option
@region_option
@home_option
def test_target(url: str | None, endpoint_url: str | None, region: str | None, home: str | None) -> None:
    """Check that a target (default: the configured one) can be reached, listed and written."""
    from .probe import probe_target

    with reported():
        r = probe_target(open_home(home), url, endpoint_url, region)
    click.echo(f"{r.target}: reachable, listed {r.listed} objects of this clinic, "
               f"wrote and deleted a test file in {r.seconds:.1f} s")
