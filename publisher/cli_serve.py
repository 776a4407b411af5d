"""`chartseal serve`: preview the exported site on 127.0.0.1."""
from __future__ import annotations

from pathlib import Path

import click

from exporter.cli_util import UserError, home_option, open_home, reports_errors

from .preview import make_app


def site_folder(home_dir: str | None, site: str | None) -> tuple[Path, str | None]:
    """The folder to serve and, when it comes from a clinic home, that clinic's id."""
    if site:
        path, clinic = Path(site).expanduser().resolve(), None
    else:
        home = open_home(home_dir)
        path, clinic = home.site_dir, home.clinic_id
    if not (path / "index.html").is_file():
        raise UserError(f"no exported site in {path}",
                        hint="run `chartseal export` first, or pass --site DIR")
    return path, clinic


@click.command()
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@home_option
@click.option("--site", "site", type=click.Path(file_okay=False, exists=True), default=None,
              help="Serve this site folder instead of the clinic home's.")
@reports_errors
def serve(port: int, home_dir: str | None, site: str | None) -> None:
    """Serve the exported site on 127.0.0.1 for preview (content types, cache headers, CSP)."""
    import waitress.server

    path, clinic = site_folder(home_dir, site)
    try:
        server = waitress.server.create_server(make_app(path), host="127.0.0.1", port=port, threads=8)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                        hint="pick another port with --port, or --port 0 for any free one") from exc
    url = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    suffix = f"?c={clinic}" if clinic else ""
    click.echo(f"serving {path}")
    click.echo(f"  doctor portal: {url}/doctor/{suffix}")
    click.echo(f"  patient page:  {url}/patient/{suffix}")
    click.echo("press Ctrl+C to stop")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
