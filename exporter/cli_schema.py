"""`chartseal schema`: the clinic database schema, from the installed package itself."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from .cli_util import reports_errors
from .clinic_db import schema_sql
from .errors import ChartsealError

# A built package carries the document beside this module (setup.py copies it there); a
# source checkout reads it from docs/.
SOURCE_DOC = Path(__file__).resolve().parent.parent / "docs" / "CLINIC_DB.md"


def schema_doc() -> str:
    packaged = resources.files("exporter").joinpath("CLINIC_DB.md")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    if SOURCE_DOC.is_file():
        return SOURCE_DOC.read_text(encoding="utf-8")
    raise ChartsealError("the clinic database schema document is not installed",
                         hint="reinstall chartseal, or run `chartseal schema --sql` for the tables")


@click.command()
@click.option("--sql", is_flag=True,
              help="Print CREATE TABLE statements of an empty clinic database instead.")
@reports_errors
def schema(sql: bool) -> None:
    """Print the clinic database schema chartseal reads (tables, columns, what is required)."""
    click.echo(schema_sql() if sql else schema_doc(), nl=False)
