"""`chartseal demo-data`: write a made-up clinic database to try chartseal on."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import click


def _parse_today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}") from None


@click.command("demo-data")
@click.option("--patients", "-n", type=click.IntRange(min=1), default=200, show_default=True,
              help="How many patients to make up.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed; the same seed and date give the same clinic.")
@click.option("--today", "today", metavar="YYYY-MM-DD", default=None,
              help="Reference date for visits and appointments (default: today).")
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def demo_data(patients: int, seed: int, today: str | None, force: bool, path: Path) -> None:
    """Write a demo clinic database of made-up patients to PATH.

    Half the patients have Arabic names, half English; a few carry hostile text
    (script tags, quotes) that the published site must show as plain text.
    Appointments and visits include today, so the diary is never empty.
    """
    from .demo_data import write_demo_clinic  # Faker is slow to import; only load when used

    when = _parse_today(today)
    if path.exists() and not force:
        raise click.ClickException(
            f"{path} already exists\nhint: pass --force to replace it, or choose another path")
    if not path.parent.is_dir():
        raise click.ClickException(
            f"folder {path.parent} does not exist\nhint: create it first, or choose another path")
    summary = write_demo_clinic(path, patients=patients, seed=seed, start=when, overwrite=force)
    for line in summary.lines():
        click.echo(line)
