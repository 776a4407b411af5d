"""Changes to a home's config.toml: databases (add, remove, automatic update) and settings.

Used by the CLI (`db`, `config set`) and the console alike.

Each change re-reads config.toml under a lock and writes it back atomically, so two consoles
and the command line changing the home at once never lose each other's change.
"""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import settings
from .clinic_db import check_clinic_file
from .errors import HomeError
from .home import Database, Home, load_home

CONFIG_LOCK = ".config.lock"


@contextmanager
def editing(root: Path) -> Iterator[Home]:
    """The home as it is now, saved when the block ends without an error."""
    with open(root / CONFIG_LOCK, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            home = load_home(root)
            yield home
            home.save()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_name(name: str) -> str:
    if not name or not name.replace("-", "").replace("_", "").isalnum() or not name.isascii():
        raise HomeError(f"database name {name!r} is not allowed", hint="use letters, digits, - and _")
    return name


def add_database(root: Path, name: str, path: str | Path, auto_update: bool = True,
                 replace: bool = False) -> Database:
    """Add (or with ``replace`` re-point) a database after checking it is a readable clinic one."""
    check_name(name)
    if not str(path).strip():
        raise HomeError("no path given", hint="the path of the clinic program's database file")
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise HomeError(f"no database file at {file}",
                        hint="create a demo one with: chartseal demo-data PATH")
    check_clinic_file(file)
    with editing(root) as home:
        if name in home.databases and not replace:
            raise HomeError(f"a database named {name!r} already exists",
                            hint="pass --replace to change its path")
        db = Database(name, file, auto_update=auto_update)
        home.databases[name] = db
    return db


def remove_database(root: Path, name: str) -> None:
    """Stop exporting ``name``; its pages leave the site on the next publish."""
    with editing(root) as home:
        home.database(name)
        del home.databases[name]


def set_auto_update(root: Path, name: str, on: bool) -> None:
    with editing(root) as home:
        home.database(name).auto_update = on


def set_setting(root: Path, name: str, text: str) -> object:
    """Parse and store one setting (``config set``); returns the stored value."""
    value = settings.parse_setting(name, text)
    with editing(root) as home:
        home.config[name] = value
    return value
