"""`chartseal export`: refresh the sealed site folder from the clinic databases."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TextIO

import click
from tqdm import tqdm

from .cli_util import home_option, open_home, reports_errors
from .errors import ExportError
from .progress_lines import ProgressLines
from .site import ExportResult, export_site


class Progress:
    """A tqdm bar on a terminal; elsewhere (a log file, a pipe) one line per 10 %."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar: tqdm | None = None
        self.lines = ProgressLines(lambda line: print(line, file=self.stream, flush=True))

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.stream.isatty():
            self.lines(stage, done, total)
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=stage, unit="key", leave=False, file=self.stream)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_export(home_dir: str | None, quiet: bool = False) -> ExportResult:
    home = open_home(home_dir)
    progress = Progress()
    try:
        return export_site(home, progress=None if quiet else progress)
    except KeyboardInterrupt:
        raise ExportError("export interrupted",
                          hint="the keys derived so far are kept; run the command again to go on") from None
    finally:
        progress.close()


def report(result: ExportResult) -> None:
    click.echo(f"exported {result.patients} patients: {result.sealed} objects sealed, "
               f"{result.kept} unchanged, {result.derived} keys derived, {result.removed} removed")
    if result.rotated:
        click.echo(f"{result.rotated} records re-keyed after shares expired")
    for problem in result.problems[:50]:
        click.echo(f"warning: {problem}", err=True)
    if len(result.problems) > 50:
        click.echo(f"warning: ... and {len(result.problems) - 50} more problems", err=True)


def mirror(src: Path, dest: Path) -> int:
    """Copy the site folder to ``dest``, only files whose bytes differ.

    Files in ``dest`` that the site does not hold are left alone: ``--out`` may point at a
    folder that holds other things, and an export never deletes what it did not write.
    """
    copied = 0
    for path in src.rglob("*"):
        if not path.is_file():
            continue
        rel = path.relative_to(src)
        out = dest / rel
        if out.exists() and out.stat().st_size == path.stat().st_size and out.read_bytes() == path.read_bytes():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
        copied += 1
    return copied


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Also write the complete site tree to this folder.")
@home_option
@reports_errors
def export(out: str | None, home_dir: str | None) -> None:
    """Seal the clinic databases into the site folder (only what changed).

    `chartseal publish` runs this first; use export alone to look at the tree.
    """
    result = run_export(home_dir)
    report(result)
    home = open_home(home_dir)
    if out:
        n = mirror(home.site_dir, Path(out))
        click.echo(f"wrote {n} changed files to {out}")
    else:
        click.echo(f"site folder: {home.site_dir}")
