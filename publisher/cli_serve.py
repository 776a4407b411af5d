"""`chartseal serve`: preview the exported site on 127.0.0.1."""
from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import click

from exporter.cli_util import UserError, home_option, open_home, reports_errors
from exporter.home import Home

from .preview import make_app


def site_folder(home_dir: str | None, site: str | None) -> tuple[Path, Home | None]:
    """The folder to serve and, when it comes from a clinic home, that home.

    With a folder target, what is served is the published folder (what viewers get);
    otherwise the exported site folder.
    """
    home = None
    if site:
        path = Path(site).expanduser().resolve()
    else:
        home = open_home(home_dir)
        path = home.site_dir
        if home.target.startswith("file://"):
            published = Path(urllib.parse.unquote(urllib.parse.urlparse(home.target).path))
            if (published / "index.html").is_file():
                path = published
    if not (path / "index.html").is_file():
        raise UserError(f"no exported site in {path}",
                        hint="run `chartseal publish` (or `chartseal export`) first, or pass --site DIR")
    return path, home


def _mounts(path: Path, home: Home | None) -> dict[str, Any]:
    """The notes endpoint at /v1/, with the clinic home's private inbox."""
    if home is None:
        return {}
    from notes_endpoint.app import make_app as notes_app

    return {"/v1/": notes_app(str(path), home.notes_inbox)}


def _warn_notes_url(notes_url: str, port: int) -> None:
    """A site that names this machine's endpoint on another port sends every note nowhere."""
    parts = urllib.parse.urlsplit(notes_url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return
    named = parts.port or (443 if parts.scheme == "https" else 80)
    if named != port:
        click.echo(f"warning: the site sends notes to {notes_url}, not to this server's port {port}",
                   err=True)
        click.echo("hint: chartseal config set notes_url /v1/notes, then chartseal publish: the site "
                   "then uses the endpoint of whatever port serves it", err=True)


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@home_option
@click.option("--site", "site", type=click.Path(file_okay=False, exists=True), default=None,
              help="Serve this site folder instead of the clinic home's.")
@reports_errors
def serve(port: int, home_dir: str | None, site: str | None) -> None:
    """Serve the site on 127.0.0.1 with the notes endpoint (content types, cache headers, CSP)."""
    import waitress.server

    path, home = site_folder(home_dir, site)
    clinic = home.clinic_id if home else None
    try:
        server = waitress.server.create_server(make_app(path, _mounts(path, home)),
                                               host="127.0.0.1", port=port, threads=8)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                        hint="pick another port with --port, or --port 0 for any free one") from exc
    url = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    suffix = f"?c={clinic}" if clinic else ""
    click.echo(f"serving {path}")
    click.echo(f"  doctor portal: {url}/doctor/{suffix}")
    click.echo(f"  patient page:  {url}/patient/{suffix}")
    if home is not None:
        click.echo(f"  notes endpoint: {url}/v1/notes (inbox {home.notes_inbox})")
        _warn_notes_url(home.config.get("notes_url", ""), server.effective_port)  # type: ignore[union-attr]
    click.echo("press Ctrl+C to stop")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
