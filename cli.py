"""The chartseal command line: parse, call one core function, report errors plainly.

Each command lives in the module of the part it drives and is imported only when used, so
`chartseal --help` stays fast.
"""
from __future__ import annotations

import importlib
import sqlite3

import click

# command name -> "module:attribute"
COMMANDS = {
    "init": "exporter.cli_home:init",
    "db": "exporter.cli_home:db",
    "config": "exporter.cli_home:config",
    "accounts": "exporter.cli_access:accounts",
    "backup": "exporter.cli_backup:backup_group",
    "share": "exporter.cli_access:share",
    "unshare": "exporter.cli_access:unshare",
    "shares": "exporter.cli_access:shares",
    "patient-page": "exporter.cli_access:patient_page",
    "passwords": "exporter.cli_access:passwords",
    "demo-data": "exporter.cli_data:demo_data",
    "schema": "exporter.cli_schema:schema",
    "export": "exporter.cli_export:export",
    "demo": "exporter.cli_demo:demo",
    "serve": "publisher.cli_serve:serve",
    "publish": "publisher.cli_publish:publish",
    "queue": "publisher.cli_publish:queue",
    "log": "publisher.cli_publish:log",
    "sync": "publisher.cli_publish:sync",
    "jobs": "publisher.cli_jobs:jobs",
    "test-target": "publisher.cli_jobs:test_target",
    "notes": "exporter.cli_notes:notes",
    "notes-endpoint": "exporter.cli_notes:notes_endpoint",
    "service": "publisher.cli_service:service",
    "console": "console.cli:console",
}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        # The last net under every command: a full or read-only disk is an `error:` with a
        # hint, never a traceback (commands handle their own errors first).
        try:
            return super().invoke(ctx)
        except (OSError, sqlite3.Error) as exc:
            from exporter.cli_util import damaged_error, disk_error

            args = list(ctx.protected_args) + list(ctx.args)
            home = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--home"), None)
            err = disk_error(exc, home) or damaged_error(exc)
            if err is None:
                raise
            raise err from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chartseal")
def main() -> None:
    """Publish a clinic's patient records as an end-to-end encrypted static site."""


if __name__ == "__main__":
    main()
