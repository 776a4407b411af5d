"""Targets a site is published to: a local folder (file://) or an S3 bucket (s3://).

Both offer the same small interface: ``check`` before the first write, ``put`` (atomic per
object), ``delete`` (idempotent), ``list`` under a prefix, ``list_root`` and ``get``.
"""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import unquote, urlparse

from .errors import PublishError, TargetError
from .policy import Policy


@dataclass(frozen=True)
class Listed:
    name: str  # relative to the site root
    size: int
    etag: str  # MD5 hex for folders and single-part S3 uploads


class Target(Protocol):
    url: str
    state_key: str  # names this target in the state database

    def check(self) -> None: ...
    def put(self, name: str, data: bytes, content_type: str, cache_control: str) -> str: ...
    def delete(self, names: list[str]) -> None: ...
    def list(self, prefix: str) -> Iterator[Listed]: ...
    def list_root(self) -> tuple[list[Listed], list[str]]: ...
    def get(self, name: str) -> bytes | None: ...


def check_name(name: str) -> str:
    """Refuse a plan name that could escape the site root (absolute, '..', empty parts)."""
    parts = name.split("/")
    if (not name or name.startswith("/") or "\\" in name or "\x00" in name
            or any(p in ("", ".", "..") for p in parts)):
        raise PublishError(f"refusing to publish the object name {name!r}",
                           hint="the plan is damaged; run: chartseal export")
    return name


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def is_md5(tag: str) -> bool:
    """True for a tag that is an MD5 hex (single-part uploads); multipart and KMS tags are not."""
    return len(tag) == 32 and all(c in "0123456789abcdef" for c in tag)


def open_target(url: str, endpoint_url: str = "", region: str = "",
                policy: Policy | None = None) -> Target:
    """A target for ``url`` (file:///path or s3://bucket/prefix); nothing is contacted yet."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise PublishError(f"target {url!r}: a file URL must name a local path",
                               hint="use file:///absolute/path")
        return FileTarget(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise PublishError(f"target {url!r} names no bucket", hint="use s3://bucket/prefix")
        from .s3target import S3Target  # boto3 is imported only when an S3 target is used

        return S3Target(parsed.netloc, parsed.path.strip("/"), endpoint_url, region,
                        policy or Policy.from_env())
    raise PublishError(f"unknown target {url!r}",
                       hint="expected file:///path or s3://bucket/prefix")


def _os_error(exc: OSError, what: str) -> TargetError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TargetError(f"the disk holding {what} is full", fatal=True,
                           hint="free some space, then run chartseal publish again; "
                                "nothing queued was lost")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return TargetError(f"cannot write {what}: {exc.strerror}", fatal=True,
                           hint="check the folder's permissions or pick another target")
    return TargetError(f"cannot write {what}: {exc}")


class FileTarget:
    """A folder; every write goes to a temporary file that is renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        self.state_key = self.url

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, str(self.root)) from exc
        if not os.access(self.root, os.W_OK):
            raise TargetError(f"cannot write the folder {self.root}", fatal=True,
                              hint="check its permissions or pick another target")

    def put(self, name: str, data: bytes, content_type: str, cache_control: str) -> str:
        path = self._path(name)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            # The rename must be durable before any pointer naming this file is written.
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _os_error(exc, str(self.root)) from exc
        return md5_hex(data)

    def delete(self, names: list[str]) -> None:
        for name in names:
            try:
                self._path(name).unlink(missing_ok=True)
            except OSError as exc:
                raise _os_error(exc, str(self.root)) from exc

    def list(self, prefix: str) -> Iterator[Listed]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return
        for dirpath, _dirs, files in os.walk(base):
            for fname in sorted(files):
                if fname.startswith(".") and fname.endswith(".tmp"):
                    continue
                path = Path(dirpath) / fname
                data = path.read_bytes()
                yield Listed(path.relative_to(self.root).as_posix(), len(data), md5_hex(data))

    def list_root(self) -> tuple[list[Listed], list[str]]:
        if not self.root.is_dir():
            return [], []
        files, dirs = [], []
        for entry in sorted(self.root.iterdir()):
            if entry.is_dir():
                dirs.append(entry.name + "/")
            elif not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                data = entry.read_bytes()
                files.append(Listed(entry.name, len(data), md5_hex(data)))
        return files, dirs

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None
