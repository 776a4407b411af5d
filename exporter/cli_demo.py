"""`chartseal demo`: a demo clinic, exported, published to a folder and served on 127.0.0.1."""
from __future__ import annotations

import json
import sys
import threading
import urllib.parse
from pathlib import Path

import click

from .cli_export import report, run_export
from .cli_util import UserError, reports_errors
from .crypto import KdfParams
from .demo import DemoInfo, demo_info, setup_demo
from .home import WEAK_KDF_ENV, kdf_params


def _print_info(info: DemoInfo) -> None:
    click.echo("")
    click.echo(f"clinic ID:         {info.clinic_id}")
    click.echo(f"doctor portal:     {info.url}/doctor/?c={info.clinic_id}")
    click.echo(f"patient page:      {info.url}/patient/?c={info.clinic_id}")
    click.echo(f"login password:    {info.login_password}")
    click.echo(f"admin password:    {info.admin_password}  (user name: admin)")
    for acc in info.accounts:
        if acc["name"] != "admin":
            click.echo(f"account:           {acc['name']}  password {acc['password']}")
    click.echo(f"general password:  {info.general_password}  (opens any patient page)")
    click.echo("sample patients (card, password, name):")
    for p in info.patients:
        click.echo(f"  {p['card']}  {p['password']}  {p['name']}")
    click.echo(f"clinic home:       {info.home}")
    click.echo(f"published site:    {info.site_dir}")
    # After `make demo` the command is inside .venv, not on PATH: name it the way it was run.
    exe = sys.argv[0] if Path(sys.argv[0]).name == "chartseal" else "chartseal"
    click.echo(f"clinic commands:   {exe} --help; e.g. {exe} notes list --home {info.home}")
    click.echo(f"clinic console:    {exe} console --home {info.home}")
    click.echo(f"access cards:      {exe} patient-page card --all --out cards.pdf --home {info.home}")


def _folder(url: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))


@click.command()
@click.option("--patients", default=150, show_default=True, type=click.IntRange(1, 100000),
              help="Patients in the main demo database (used when it is first created).")
@click.option("--home", "home_dir", type=click.Path(file_okay=False), default="demo-clinic",
              show_default=True, help="Folder of the demo clinic home.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-serve", is_flag=True, help="Export, publish, print, and exit.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the printed details to this JSON file.")
@click.option("--fast-kdf", is_flag=True, hidden=True,
              help=f"Weak Argon2id for the test suite (needs {WEAK_KDF_ENV}=1).")
@reports_errors
def demo(patients: int, home_dir: str, port: int, no_serve: bool, json_file: str | None,
         fast_kdf: bool) -> None:
    """Run a demo clinic: create, export, publish to a folder, serve on 127.0.0.1.

    Prints the clinic ID, the portal URLs, the logins and sample patient cards. While it
    serves, the background service publishes every change to the demo databases.
    """
    from notes_endpoint.app import make_app as notes_app
    from publisher.preview import PreviewServer, make_app
    from publisher.publish import publish

    kdf = kdf_params(1, 8192) if fast_kdf else KdfParams()
    root = Path(home_dir).expanduser().resolve()
    click.echo(f"preparing the demo clinic in {root} ...")
    home = setup_demo(root, patients, kdf)
    public = _folder(home.target)
    public.mkdir(parents=True, exist_ok=True)
    server = None
    if no_serve:
        url = f"http://127.0.0.1:{port}"
    else:
        try:
            server = PreviewServer(make_app(public, {"/v1/": notes_app(str(public), home.notes_inbox)}),
                                   port=port)
        except OSError as exc:
            raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                            hint="pick another port: `chartseal demo --port 8123` (or `make demo "
                                 "PORT=8123`), or --port 0 for any free one") from exc
        url = server.url
    # Relative: the site then reaches the endpoint on whatever port serves it.
    home.config["notes_url"] = "/v1/notes"
    # The address access cards print, and a name for the login pages and the cards.
    home.config["site_url"] = url
    home.config["clinic_name"] = home.config.get("clinic_name") or "Demo Clinic — عيادة تجريبية"
    home.save()
    report(run_export(str(root)))
    sent = publish(home, export=False)
    click.echo(f"published {sent.uploaded} objects to {public}")
    info = demo_info(home, public, url)
    _print_info(info)
    if json_file:
        Path(json_file).write_text(json.dumps(info.to_json(), indent=2, ensure_ascii=False) + "\n")
    if server is not None:
        _serve(server, root)


def _serve(server: object, root: Path) -> None:
    from publisher.service import run_in_thread

    stop = threading.Event()
    thread = run_in_thread(root, stop)
    server.start()  # type: ignore[attr-defined]
    click.echo("serving on 127.0.0.1 with the notes endpoint; the background service publishes")
    click.echo("every change to the demo databases. Press Ctrl+C to stop.")
    try:
        while thread.is_alive():
            thread.join(timeout=1.0)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=30)
        server.stop()  # type: ignore[attr-defined]
