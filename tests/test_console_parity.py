"""Every CLI command has a console counterpart, unless it is on the short list below."""
from __future__ import annotations

import importlib
import pkgutil

import click

import cli
import console

# Commands with no place in the console, and why.
EXCEPTIONS = {
    "init",              # the console opens an existing home; creating one prints its passwords once
    "demo",              # a whole demo clinic with its own server: a developer's tool
    "demo-data",         # writes a synthetic clinic database for tests and demos
    "serve",             # a preview server for the site, not a clinic task
    "notes-endpoint serve",  # runs on the hosting side, not on the clinic's computer
    "console",           # itself
    "service run",       # what the Status section's Start button runs, detached
    "config show",       # settings live where they act: target in Publishing, patient
    "config set",        # pages in Patient pages; the rest (lang, notes_url...) stay CLI-only
    "export",            # part of every publish; Publishing runs it
    "backup restore",    # for a lost keystore, which the console's pages refuse to work without
    "schema",            # prints the clinic database schema for whoever writes the clinic program
    "queue drop",        # clears jobs of a target given with publish --target, which only the CLI can name
}


def cli_commands() -> set[str]:
    names: set[str] = set()
    group = cli.main
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            names |= {f"{name} {sub}" for sub in cmd.list_commands(click.Context(cmd))}
            if cmd.invoke_without_command:  # `queue` alone is a command too
                names.add(name)
        else:
            names.add(name)
    return names


def console_commands() -> dict[str, str]:
    covered: dict[str, str] = {}
    for info in pkgutil.iter_modules(console.__path__):
        module = importlib.import_module(f"console.{info.name}")
        for command in getattr(module, "CLI_COMMANDS", ()):
            covered[command] = info.name
    return covered


def test_every_cli_command_has_a_console_counterpart():
    missing = sorted(cli_commands() - set(console_commands()) - EXCEPTIONS)
    assert not missing, f"CLI commands with no console section: {missing} (add to a section's CLI_COMMANDS)"


def test_sections_name_only_real_commands_and_exceptions_are_real():
    real = cli_commands()
    assert not set(console_commands()) - real, "a section names a command the CLI does not have"
    assert not EXCEPTIONS - real, "an exception names a command the CLI does not have"
    assert not EXCEPTIONS & set(console_commands()), "a command is both covered and an exception"
