"""Every command has help text and appears in the README (so users can find it)."""
from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import COMMANDS, main

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _walk(group: click.Group, ctx: click.Context, prefix: str):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        yield f"{prefix}{name}".strip(), cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, click.Context(cmd, parent=ctx), f"{prefix}{name} ")


ALL = list(_walk(main, click.Context(main), ""))


@pytest.mark.parametrize("path, cmd", ALL, ids=[p for p, _ in ALL])
def test_command_has_help_and_is_in_the_readme(path, cmd):
    assert (cmd.help or "").strip(), f"chartseal {path} has no help text"
    top, *rest = path.split()
    assert f"chartseal {top}" in README, f"README does not mention chartseal {top}"
    if rest:
        assert rest[-1] in README, f"README does not mention chartseal {path}"
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output


def test_registry_matches_the_commands():
    assert len(ALL) >= len(COMMANDS)


def test_readme_starts_with_the_two_commands():
    head = README.split("\n## ")[0]
    assert "make demo" in head and "make test" in head
