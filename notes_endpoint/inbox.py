"""The private inbox: one object per note, ``<inbox>/<clinic>/<note_id>.json``.

A folder (``file:///path`` or a plain path) or an S3 prefix (``s3://bucket/prefix``). Objects
are created exclusively, so a replayed note can never overwrite the one already stored, and
atomically, so a reader never sees half a note. Rejected notes go to
``<inbox>/<clinic>/rejected/`` with their reason.
"""
from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from .wire import CLINIC_RE, NOTE_ID_RE

REJECTED = "rejected"


class InboxError(Exception):
    """The inbox URL is wrong, or the inbox could not be read or written."""


class Inbox(Protocol):
    def put_new(self, clinic: str, name: str, data: bytes) -> bool:
        """Store a note; False if an object of that name is already there."""

    def names(self, clinic: str) -> list[str]:
        """Note ids waiting in the clinic's inbox (not the rejected ones)."""

    def read(self, clinic: str, name: str) -> bytes | None: ...

    def delete(self, clinic: str, name: str) -> None: ...

    def reject(self, clinic: str, name: str, data: bytes) -> None:
        """Write ``rejected/<name>.json`` (data: note and reason), then delete the note."""

    def rejected(self, clinic: str) -> list[str]: ...


def _check(clinic: str, name: str | None = None) -> None:
    # Names come from requests and listings: never let one climb out of the inbox.
    if not CLINIC_RE.fullmatch(clinic) or (name is not None and not NOTE_ID_RE.fullmatch(name)):
        raise InboxError(f"bad inbox name {clinic}/{name}")


class FolderInbox:
    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"FolderInbox({str(self.root)!r})"

    def _dir(self, clinic: str, *sub: str) -> Path:
        path = self.root.joinpath(clinic, *sub)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def _sync_dir(self, path: Path) -> None:
        if self.fsync:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _write(self, folder: Path, name: str, data: bytes, replace: bool) -> bool:
        tmp = folder / f".tmp-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            final = folder / f"{name}.json"
            if replace:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)  # atomic and exclusive: fails if the name exists
                except FileExistsError:
                    return False
        finally:
            tmp.unlink(missing_ok=True)
        self._sync_dir(folder)
        return True

    def put_new(self, clinic: str, name: str, data: bytes) -> bool:
        _check(clinic, name)
        return self._write(self._dir(clinic), name, data, replace=False)

    def _names(self, folder: Path) -> list[str]:
        try:
            entries = os.listdir(folder)
        except FileNotFoundError:
            return []
        return sorted(e[:-5] for e in entries if e.endswith(".json") and NOTE_ID_RE.fullmatch(e[:-5]))

    def names(self, clinic: str) -> list[str]:
        _check(clinic)
        return self._names(self.root / clinic)

    def rejected(self, clinic: str) -> list[str]:
        _check(clinic)
        return self._names(self.root / clinic / REJECTED)

    def read(self, clinic: str, name: str) -> bytes | None:
        _check(clinic, name)
        try:
            return (self.root / clinic / f"{name}.json").read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, clinic: str, name: str) -> None:
        _check(clinic, name)
        (self.root / clinic / f"{name}.json").unlink(missing_ok=True)

    def delete_many(self, clinic: str, names: list[str]) -> None:
        # Unlinks wait on the disk, not the CPU: a few at a time overlap that wait.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: self.delete(clinic, n), names))
        self._sync_dir(self._dir(clinic))

    def reject(self, clinic: str, name: str, data: bytes) -> None:
        _check(clinic, name)
        self._write(self._dir(clinic, REJECTED), name, data, replace=True)
        self.delete(clinic, name)


class S3Inbox:
    """An inbox under a private S3 prefix (boto3's normal credential chain)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, client: Any = None) -> None:
        if client is None:
            import boto3  # only here: the folder inbox and the endpoint need no boto3

            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)
        self.s3 = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"S3Inbox(s3://{self.bucket}/{self.prefix})"

    def _key(self, clinic: str, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, clinic, *parts) if p)

    def put_new(self, clinic: str, name: str, data: bytes) -> bool:
        _check(clinic, name)
        from botocore.exceptions import ClientError

        try:
            # A conditional put: S3 itself refuses a second object of the same name.
            self.s3.put_object(Bucket=self.bucket, Key=self._key(clinic, f"{name}.json"), Body=data,
                               ContentType="application/json", IfNoneMatch="*")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return False
            raise InboxError(f"cannot store a note in s3://{self.bucket}: {code or exc}") from exc
        return True

    def _list(self, prefix: str) -> list[str]:
        out = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix + "/", Delimiter="/")
        for page in pages:
            for obj in page.get("Contents", []):
                leaf = obj["Key"].rsplit("/", 1)[-1]
                if leaf.endswith(".json") and NOTE_ID_RE.fullmatch(leaf[:-5]):
                    out.append(leaf[:-5])
        return sorted(out)

    def names(self, clinic: str) -> list[str]:
        _check(clinic)
        return self._list(self._key(clinic))

    def rejected(self, clinic: str) -> list[str]:
        _check(clinic)
        return self._list(self._key(clinic, REJECTED))

    def read(self, clinic: str, name: str) -> bytes | None:
        _check(clinic, name)
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=self._key(clinic, f"{name}.json"))
        except self.s3.exceptions.NoSuchKey:
            return None
        return bytes(obj["Body"].read())

    def delete(self, clinic: str, name: str) -> None:
        _check(clinic, name)
        self.s3.delete_object(Bucket=self.bucket, Key=self._key(clinic, f"{name}.json"))

    def delete_many(self, clinic: str, names: list[str]) -> None:
        for start in range(0, len(names), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = names[start:start + 1000]
            for name in chunk:
                _check(clinic, name)
            self.s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self._key(clinic, f"{n}.json")} for n in chunk], "Quiet": True})

    def reject(self, clinic: str, name: str, data: bytes) -> None:
        _check(clinic, name)
        self.s3.put_object(Bucket=self.bucket, Key=self._key(clinic, REJECTED, f"{name}.json"),
                           Body=data, ContentType="application/json")
        self.delete(clinic, name)


def open_inbox(url: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """``file:///path``, a plain path, or ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise InboxError(f"inbox {url!r} names no bucket (expected s3://bucket/prefix)")
        return S3Inbox(parts.netloc, parts.path, endpoint_url, region)
    if parts.scheme == "file":
        return FolderInbox(Path(unquote(parts.path)))
    if parts.scheme == "":
        return FolderInbox(Path(url).expanduser())
    raise InboxError(f"inbox must be file:///path or s3://bucket/prefix, got {url!r}")
