"""``chartseal console``: the clinic console in the default browser."""
from __future__ import annotations

import errno
import threading
import webbrowser

import click

from exporter.cli_util import UserError, home_option, open_home, reports_errors


@click.command()
@home_option
@click.option("--port", default=0, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (default: a free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser (the address is printed either way).")
@reports_errors
def console(home_dir: str | None, port: int, no_browser: bool) -> None:
    """The clinic console: the manual's Server window as a page on 127.0.0.1.

    Status, passwords, patient pages, accounts, sharing, databases, publishing and notes,
    served only to this computer. The address carries a secret; keep it private.
    Stop it with Ctrl+C.
    """
    from .server import start

    home = open_home(home_dir)
    try:
        running = start(home, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on 127.0.0.1 is already in use",
                            "pick another with --port, or leave it out for a free one") from exc
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    click.echo(f"clinic console for {home.root}")
    click.echo(f"open: {running.url}")
    click.echo("this address opens every secret of the clinic: do not share it; Ctrl+C stops")
    if not no_browser:
        webbrowser.open(running.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("console stopped")
    finally:
        running.stop()
