"""`chartseal demo`: a demo clinic, exported, published to a folder and served on 127.0.0.1."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .cli_export import report, run_export
from .cli_util import reports_errors
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

    Prints the clinic ID, the portal URLs, the logins and sample patient cards.
    """
    from publisher.preview import PreviewServer, make_app

    kdf = kdf_params(1, 8192) if fast_kdf else KdfParams()
    root = Path(home_dir).expanduser().resolve()
    click.echo(f"preparing the demo clinic in {root} ...")
    home = setup_demo(root, patients, kdf)
    server = None
    if not no_serve:
        public = Path(home.target.removeprefix("file://"))
        public.mkdir(parents=True, exist_ok=True)
        server = PreviewServer(make_app(public, _mounts(home)), port=port)
        url = server.url
    else:
        url = f"http://127.0.0.1:{port}"
    home.config["notes_url"] = f"{url}/v1/notes"
    home.save()
    report(run_export(str(root)))
    published = _publish(str(root))
    info = demo_info(home, published, url)
    _print_info(info)
    if json_file:
        Path(json_file).write_text(json.dumps(info.to_json(), indent=2, ensure_ascii=False) + "\n")
    if server is None:
        return
    server.start()
    click.echo("serving on 127.0.0.1; press Ctrl+C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _mounts(home: object) -> dict:
    return {}


def _publish(home_dir: str) -> Path:
    from exporter.cli_util import open_home

    return open_home(home_dir).site_dir
