"""What every command module shares: the --home option and turning errors into messages."""
from __future__ import annotations

import errno
import functools
import shutil
import sqlite3
from typing import Any, Callable, TypeVar

import click

from .errors import ChartsealError
from .home import Home, load_home, resolve_home

F = TypeVar("F", bound=Callable[..., Any])

home_option = click.option(
    "--home", "home_dir", type=click.Path(file_okay=False), default=None,
    help="Clinic home folder (default: $CHARTSEAL_HOME or the platform's data folder).")


class UserError(click.ClickException):
    """A ChartsealError shown as `error: ...` with `hint: ...` lines."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def format_message(self) -> str:
        return self.message + (f"\nhint: {self.hint}" if self.hint else "")

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def reports_errors(fn: F) -> F:
    """Turn core errors into clear messages and a non-zero exit."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChartsealError as exc:
            raise UserError(str(exc), exc.hint) from exc
        except (OSError, sqlite3.OperationalError) as exc:
            err = disk_error(exc, kwargs.get("home_dir") or kwargs.get("home"))
            if err is None:
                raise
            raise err from exc
    return wrapper  # type: ignore[return-value]


_FULL = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}


def damaged_error(exc: BaseException) -> UserError | None:
    """A damaged SQLite file that no command handled itself (the state database is set aside
    and rebuilt on open; the keystore cannot be rebuilt and must come from a backup)."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.OperationalError):
        return None
    from .state_db import is_corrupt

    if not is_corrupt(exc):
        return None
    return UserError(f"a database file of the clinic home is damaged: {exc}",
                     "if it is keys.sqlite (the keystore), restore it from a backup; the state "
                     "database is set aside and rebuilt by the next command; a clinic database "
                     "must be repaired by the clinic program")


def _nearly_full(path: str) -> bool:
    try:
        return shutil.disk_usage(path).free < 1024 * 1024
    except OSError:
        return False


def disk_error(exc: BaseException, home_dir: str | None = None) -> UserError | None:
    """A full or read-only disk under the clinic home, as `error:` + `hint:`; else None.

    Every write in the home is a temporary file renamed into place or an SQLite
    transaction, so a write that failed this way left the previous version whole.
    """
    code = getattr(exc, "errno", None)
    text = str(exc)
    try:
        where = str(resolve_home(home_dir))
    except Exception:  # noqa: BLE001 - the message must not fail in turn
        where = home_dir or "the clinic home"
    full = code in _FULL or "database or disk is full" in text or (
        # SQLite reports a WAL or shared-memory file it cannot grow as a plain I/O error.
        "disk I/O error" in text and _nearly_full(where))
    read_only = code in _READ_ONLY or "readonly database" in text
    if not (full or read_only):
        return None
    if full:
        return UserError(f"the disk holding {where} is full",
                         "free some space there, then run the command again; nothing was "
                         "half-written and the upload queue is intact")
    name = getattr(exc, "filename", None)
    return UserError(f"the disk holding {where} is read-only or not writable"
                     + (f" ({name})" if name else ""),
                     "check that the disk is mounted read-write and the folder's permissions, "
                     "then run the command again; nothing was half-written")


def open_home(home_dir: str | None) -> Home:
    return load_home(resolve_home(home_dir))
