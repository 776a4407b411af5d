"""What every command module shares: the --home option and turning errors into messages."""
from __future__ import annotations

import functools
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
    return wrapper  # type: ignore[return-value]


def open_home(home_dir: str | None) -> Home:
    return load_home(resolve_home(home_dir))
