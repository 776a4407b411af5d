"""The project's error hierarchy: one base, subclasses where callers branch."""
from __future__ import annotations


class ChartsealError(Exception):
    """Base of every error chartseal reports to a user.

    ``hint`` says what to do about it; the CLI prints it on its own line.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class HomeError(ChartsealError):
    """The clinic home is missing, unreadable or misconfigured."""


class SettingError(ChartsealError):
    """A setting has a value of the wrong kind."""


class AccessError(ChartsealError):
    """An account, share or patient named by the user does not exist or is not allowed."""


class ExportError(ChartsealError):
    """The site could not be exported."""


class WeakPasswordError(ChartsealError):
    """A chosen password is too easy to guess offline and weak passwords were not allowed."""
