"""Errors the publisher reports; each says what to do next in its hint."""
from __future__ import annotations

from exporter.errors import ChartsealError


class PublishError(ChartsealError):
    """A publish, queue or sync operation could not be carried out."""


class TargetError(PublishError):
    """The target refused or could not be reached.

    ``fatal`` errors (wrong credentials, missing bucket, full disk) stop a run at once,
    because retrying cannot help; the others are retried with backoff.
    """

    def __init__(self, message: str, hint: str = "", fatal: bool = False) -> None:
        super().__init__(message, hint)
        self.fatal = fatal


class SiteObjectError(PublishError):
    """A file in the site folder is missing or does not match the plan (an export is running
    or the folder was changed by hand)."""
