"""Where the endpoint looks up clinics and doors: the published site, a folder or a URL.

Only two facts are read: does ``c/<clinic>/site.json`` exist, and what ``note_pk`` does
``c/<clinic>/door/<door>.json`` carry. Over HTTP, answers are cached briefly so a burst of
notes costs one request per door, and a door that does not exist is remembered for less
time than one that does (a freshly published door starts working within seconds).
"""
from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit


class SiteUnavailable(Exception):
    """The site could not be asked (network error, 5xx): not the same as 'no such door'."""


def note_pk_of(data: bytes) -> bytes | None:
    """The 32-byte ``note_pk`` of a door or entry object, or None if it is not one."""
    try:
        obj = json.loads(data.decode("utf-8"))
        # Version 2 doors (FORMAT.md 8); a version 1 door may still be served while a clinic
        # has not published again, and its note_pk is where it always was.
        if (not isinstance(obj, dict) or type(obj.get("v")) is not int or obj.get("v") not in (1, 2)
                or not isinstance(obj.get("note_pk"), str)):
            return None
        pk = base64.b64decode(obj["note_pk"], validate=True)
    except (UnicodeDecodeError, ValueError, binascii.Error, RecursionError):  # a hostile bucket
        return None
    return pk if len(pk) == 32 else None


class FolderSite:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FolderSite({str(self.root)!r})"

    def has_clinic(self, clinic: str) -> bool:
        return (self.root / "c" / clinic / "site.json").is_file()

    def note_pk(self, clinic: str, door: str) -> bytes | None:
        try:
            data = (self.root / "c" / clinic / "door" / f"{door}.json").read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return note_pk_of(data)


class HttpSite:
    """A published site over HTTP(S), with a small bounded cache."""

    def __init__(self, base: str, ttl: float = 60.0, miss_ttl: float = 5.0, max_entries: int = 10000,
                 timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base.rstrip("/")
        self.ttl, self.miss_ttl = ttl, miss_ttl
        self.max_entries = max_entries
        self.timeout = timeout
        self.clock = clock
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # requests actually sent (for tests and the bench)

    def __repr__(self) -> str:
        return f"HttpSite({self.base!r})"

    def _get(self, path: str) -> bytes | None:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(path)
            if hit and hit[0] > now:
                return hit[1]
        url = f"{self.base}/{path}"
        self.fetches += 1
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as res:
                data: bytes | None = res.read(65536)
        except urllib.error.HTTPError as exc:
            # S3 answers 403 for a missing key when listing is not allowed.
            if exc.code not in (403, 404):
                raise SiteUnavailable(f"{url}: HTTP {exc.code}") from exc
            data = None
        except (urllib.error.URLError, OSError) as exc:
            raise SiteUnavailable(f"{url}: {exc}") from exc
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
            self._cache[path] = (now + (self.ttl if data is not None else self.miss_ttl), data)
        return data

    def has_clinic(self, clinic: str) -> bool:
        return self._get(f"c/{clinic}/site.json") is not None

    def note_pk(self, clinic: str, door: str) -> bytes | None:
        data = self._get(f"c/{clinic}/door/{door}.json")
        return None if data is None else note_pk_of(data)


def open_site(url: str) -> FolderSite | HttpSite:
    """``http(s)://…`` (the site root), ``file:///path`` or a plain path."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return HttpSite(url)
    if parts.scheme == "file":
        return FolderSite(Path(unquote(parts.path)))
    if parts.scheme == "":
        return FolderSite(Path(url).expanduser())
    raise ValueError(f"site must be http(s)://…, file:///path or a folder, got {url!r}")
