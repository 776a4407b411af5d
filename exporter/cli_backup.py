"""``chartseal backup create|key|restore``: sealed copies of the keystore, and the way back."""
from __future__ import annotations

from pathlib import Path

import click

from . import backup, keystore
from .backup_format import BackupError, key_id, key_text, parse_key
from .cli_util import home_option, open_home, reports_errors
from .home import load_home, resolve_home


@click.group("backup")
def backup_group() -> None:
    """Encrypted backups of the keystore and config.toml, sealed with the recovery key."""


def show_key(rk: bytes, new: bool) -> None:
    """The recovery key, with what to do with it (init prints it the same way)."""
    click.echo(f"recovery key:      {key_text(rk)}")
    if new:
        click.echo("write the recovery key down and keep it away from this computer: it opens "
                   "the keystore backups (chartseal backup key shows it again)")


@backup_group.command("create")
@click.option("--out", type=click.Path(), default=None,
              help="file or folder to write to (default: the backup_dir setting)")
@home_option
@reports_errors
def create(out: str | None, home_dir: str | None) -> None:
    """Write an encrypted backup of the keystore, config.toml and the database list."""
    home = open_home(home_dir)
    conn = keystore.connect(home.keys_path)
    try:
        rk, new = backup.ensure_recovery_key(conn)
    finally:
        conn.close()
    if new:
        click.echo("this home had no recovery key yet; one was made now")
        show_key(rk, True)
    path = backup.create_backup(home, Path(out).expanduser().resolve() if out else None)
    click.echo(f"wrote {path} ({path.stat().st_size:,} bytes), sealed with recovery key "
               f"{key_text(rk)[:9]}...")


@backup_group.command("key")
@home_option
@reports_errors
def key(home_dir: str | None) -> None:
    """Show the recovery key that seals this home's backups (made now if there is none)."""
    home = open_home(home_dir)
    conn = keystore.connect(home.keys_path)
    try:
        rk, new = backup.ensure_recovery_key(conn)
    finally:
        conn.close()
    show_key(rk, new)
    click.echo(f"key id:            {key_id(rk)}")


@backup_group.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key", "key_", default=None, help="the recovery key (asked for when left out)")
@click.option("--force", is_flag=True, help="replace a working keystore (it is kept aside)")
@home_option
@reports_errors
def restore(file: str, key_: str | None, force: bool, home_dir: str | None) -> None:
    """Put a backup's keystore (and config.toml, if missing) back into the clinic home."""
    root = resolve_home(home_dir)
    path = Path(file).expanduser()
    if not path.is_file():
        raise BackupError(f"no backup file at {path}", hint="name a file made by chartseal backup create")
    text = key_ if key_ is not None else click.prompt("recovery key")
    contents = backup.read_backup(path, parse_key(text))
    done = backup.restore(root, contents, force=force)
    click.echo(f"restored the keystore of clinic {done.clinic} from the backup of {done.created}")
    for aside in done.moved:
        click.echo(f"kept the old file as {aside}")
    if done.config_kept:
        click.echo("kept the home's own config.toml (the backup's settings were not applied)")
    for db in done.databases:
        found = "" if Path(str(db.get("path"))).is_file() else "  (not found: chartseal db add "
        found += f"{db.get('name')} PATH --replace)" if found else ""
        click.echo(f"database {db.get('name')}: {db.get('path')}{found}")
    _catch_up(root)
    click.echo("next: chartseal publish (the old patient, account and clinic passwords open again)")


def _catch_up(root: Path) -> None:
    """Count on from the published site.json, not from the backup's older number."""
    from publisher.targets import open_target

    try:
        home = load_home(root)
        target = open_target(home.target, home.config["endpoint_url"], home.config["region"])
        data = target.get(f"{home.clinic_prefix}/site.json")
    except Exception as exc:  # any home, target or network trouble: warn, the restore is done
        click.echo(f"warning: could not read the published site.json ({exc}); publishes "
                   "count on from the backup's number", err=True)
        return
    if data is None:
        return
    conn = keystore.connect(home.keys_path)
    try:
        seq = backup.catch_up(conn, data)
    finally:
        conn.close()
    if seq:
        click.echo(f"the publish counter follows the published site (publish {seq})")
