"""Commands for the clinic home: init, db, config."""
from __future__ import annotations

import click

from . import access, databases, keystore, settings
from .cli_util import home_option, open_home, reports_errors
from .home import create_home, kdf_params, resolve_home


@click.command()
@home_option
@click.option("--kdf-ops", type=int, default=None, hidden=True)
@click.option("--kdf-mem", type=int, default=None, hidden=True)
@reports_errors
def init(home_dir: str | None, kdf_ops: int | None, kdf_mem: int | None) -> None:
    """Create a clinic home: clinic ID, passwords, keys and the admin account.

    The passwords are printed; `chartseal passwords show` prints them again from the keystore
    and `chartseal passwords set` changes them.
    """
    from . import backup
    from .cli_backup import show_key

    root = resolve_home(home_dir)
    home = create_home(root, kdf_params(kdf_ops, kdf_mem))
    conn = keystore.create(home.keys_path)
    try:
        pwds = access.init_keys(conn)
        rk, _ = backup.ensure_recovery_key(conn)
    finally:
        conn.close()
    click.echo(f"created clinic home {root}")
    click.echo(f"clinic ID:         {home.clinic_id}")
    click.echo(f"login password:    {pwds['login']}")
    click.echo(f"admin password:    {pwds['admin']}  (user name: admin)")
    click.echo(f"general password:  {pwds['general']}  (opens any patient page)")
    click.echo("show them again with `chartseal passwords show`; keep them somewhere safe")
    show_key(rk, True)
    click.echo("next: chartseal db add NAME PATH, then chartseal export")


@click.group()
def db() -> None:
    """Clinic databases exported by this home."""


@db.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--no-auto-update", is_flag=True, help="Do not publish this database on every change.")
@click.option("--replace", is_flag=True, help="Change the path of an existing database.")
@home_option
@reports_errors
def db_add(name: str, path: str, no_auto_update: bool, replace: bool, home_dir: str | None) -> None:
    """Add a clinic database file under NAME (it must open as a clinic database)."""
    home = open_home(home_dir)
    added = databases.add_database(home.root, name, path, not no_auto_update, replace)
    click.echo(f"database {name}: {added.path}")


@db.command("remove")
@click.argument("name")
@home_option
@reports_errors
def db_remove(name: str, home_dir: str | None) -> None:
    """Stop exporting database NAME (its pages leave the site on the next publish)."""
    databases.remove_database(open_home(home_dir).root, name)
    click.echo(f"removed database {name}")


@db.command("list")
@home_option
@reports_errors
def db_list(home_dir: str | None) -> None:
    """List the clinic databases."""
    home = open_home(home_dir)
    if not home.databases:
        click.echo("no databases yet: chartseal db add NAME PATH")
    for d in home.databases.values():
        click.echo(f"{d.name}\t{d.path}\tauto-update {'on' if d.auto_update else 'off'}")


@db.command("auto-update")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
@home_option
@reports_errors
def db_auto(name: str, state: str, home_dir: str | None) -> None:
    """Turn publishing on every change on or off for database NAME."""
    databases.set_auto_update(open_home(home_dir).root, name, state == "on")
    click.echo(f"automatic update for {name}: {state}")


@click.group()
def config() -> None:
    """Show or change clinic settings (config.toml)."""


@config.command("show")
@home_option
@reports_errors
def config_show(home_dir: str | None) -> None:
    """Show every setting with its value."""
    home = open_home(home_dir)
    click.echo(f"clinic_id = {home.clinic_id}")
    for name, s in settings.SETTINGS.items():
        click.echo(f"{name} = {home.config[name]!r}    # {s.help}")


# ignore_unknown_options: a value such as "-5" is the value (then refused by the setting's
# check), not an unknown option.
@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("value")
@home_option
@reports_errors
def config_set(name: str, value: str, home_dir: str | None) -> None:
    """Set a setting, e.g. `chartseal config set target s3://bucket/prefix`."""
    stored = databases.set_setting(open_home(home_dir).root, name, value)
    click.echo(f"{name} = {stored!r}")
