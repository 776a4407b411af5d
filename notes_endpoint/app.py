"""The notes endpoint as a WSGI app: ``POST /v1/notes`` (docs/FORMAT.md 9).

It cannot read a note (sealed to the clinic's key) and stores only what it can verify: the
signature of the door the note names, made with the key only someone who opened that door
holds. Every refusal is a 4xx with a short JSON reason and leaves nothing stored.
Standard library and PyNaCl only, so it deploys alone (waitress, gunicorn, AWS Lambda).
"""
from __future__ import annotations

import heapq
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nacl.exceptions
import nacl.signing

from .inbox import Inbox, InboxError, open_inbox
from .site import FolderSite, HttpSite, SiteUnavailable, open_site
from .wire import MAX_BODY, WINDOW, Note, Refused, note_json, parse_note

JSON_HEADERS = [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff")]
STATUS = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 400: "400 Bad Request",
          403: "403 Forbidden", 404: "404 Not Found", 405: "405 Method Not Allowed",
          409: "409 Conflict", 413: "413 Payload Too Large", 415: "415 Unsupported Media Type",
          429: "429 Too Many Requests", 503: "503 Service Unavailable"}
RATE_WINDOW = 600


class Guard:
    """Signatures seen within the time window, and notes per door: in memory, bounded."""

    def __init__(self, max_per_door: int | None, max_seen: int = 500_000) -> None:
        self.max_per_door = max_per_door
        self.max_seen = max_seen
        self._seen: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._doors: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, note_id: str, door: str, ts: int, now: float) -> None:
        """Remember ``note_id``; raise 409 if it was seen, 429 if the door wrote too much."""
        with self._lock:
            while self._expiry and (self._expiry[0][0] < now or len(self._expiry) > self.max_seen):
                _, old = heapq.heappop(self._expiry)
                self._seen.pop(old, None)
            if note_id in self._seen:
                raise Refused(409, "replay")
            if self.max_per_door is not None:
                recent = self._doors.setdefault(door, deque())
                while recent and recent[0] < now - RATE_WINDOW:
                    recent.popleft()
                if len(recent) >= self.max_per_door:
                    raise Refused(429, "too many notes")
                recent.append(now)
                if len(self._doors) > 100_000:  # forget idle doors, keep memory bounded
                    self._doors = {d: q for d, q in self._doors.items() if q and q[-1] >= now - RATE_WINDOW}
            # After ts + WINDOW the timestamp check refuses the note anyway.
            expiry = max(ts, now) + WINDOW + 1
            self._seen[note_id] = expiry
            heapq.heappush(self._expiry, (expiry, note_id))

    def forget(self, note_id: str, door: str) -> None:
        """Undo :meth:`admit` when the note could not be stored (the writer may retry)."""
        with self._lock:
            self._seen.pop(note_id, None)
            recent = self._doors.get(door)
            if recent:
                recent.pop()


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"portal origin must look like https://host[:port], got {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


class NotesApp:
    def __init__(self, site: FolderSite | HttpSite | Any, inbox: Inbox, portal_origin: str | None,
                 max_per_door: int | None = 60, clock: Callable[[], float] = time.time) -> None:
        self.site = site
        self.inbox = inbox
        self.origin = _origin_of(portal_origin)
        self.guard = Guard(max_per_door)
        self.clock = clock

    # -- HTTP -------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        cors = self._cors(environ)
        if path.rstrip("/").endswith("/v1/health") and method == "GET":
            return self._answer(start_response, 200, {"ok": True}, cors or [])
        if not path.endswith("/v1/notes"):
            return self._answer(start_response, 404, {"error": "not found"}, cors or [])
        if cors is None:
            return self._answer(start_response, 403, {"error": "origin"}, [])
        if method == "OPTIONS":
            return self._answer(start_response, 204, None, cors + [
                ("Access-Control-Allow-Methods", "POST"),
                ("Access-Control-Allow-Headers", "Content-Type"),
                ("Access-Control-Max-Age", "600")])
        if method != "POST":
            return self._answer(start_response, 405, {"error": "method"}, cors + [("Allow", "POST, OPTIONS")])
        try:
            status, body = 201, {"id": self.accept(environ)}
        except Refused as exc:
            status, body = exc.status, {"error": exc.reason, **exc.extra}
        except SiteUnavailable:
            status, body = 503, {"error": "site unavailable"}
        except (InboxError, OSError):
            status, body = 503, {"error": "inbox unavailable"}
        return self._answer(start_response, status, body, cors)

    def _cors(self, environ: dict[str, Any]) -> list[tuple[str, str]] | None:
        """CORS headers for an allowed origin, [] without an Origin header, None if refused."""
        origin = environ.get("HTTP_ORIGIN")
        if not origin:
            return []
        if self.origin and origin == self.origin:
            return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        # The page that posts may be served by this same server (`chartseal serve`).
        if urlsplit(origin).netloc == environ.get("HTTP_HOST"):
            return [("Vary", "Origin")]
        return None

    @staticmethod
    def _answer(start_response: Callable[..., Any], status: int, body: dict[str, Any] | None,
                extra: list[tuple[str, str]]) -> list[bytes]:
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = [*JSON_HEADERS, ("Content-Length", str(len(data))), *extra]
        start_response(STATUS[status], headers)
        return [data]

    # -- the checks of FORMAT.md 9, cheapest first --------------------------------------
    def _read_body(self, environ: dict[str, Any]) -> bytes:
        ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Refused(415, "content type")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Refused(400, "malformed") from None
        if length > MAX_BODY:
            raise Refused(413, "too large")
        # Read one byte more than allowed: a body without a truthful length still stops here.
        body = environ["wsgi.input"].read(min(length, MAX_BODY) + 1 if length else MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise Refused(413, "too large")
        return bytes(body)

    def _verify(self, note: Note) -> None:
        if not self.site.has_clinic(note.clinic):
            raise Refused(404, "unknown clinic")
        pk = self.site.note_pk(note.clinic, note.door)
        if pk is None:
            raise Refused(404, "unknown door")
        try:
            nacl.signing.VerifyKey(pk).verify(note.signed, note.sig)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
            raise Refused(403, "bad signature") from None

    def accept(self, environ: dict[str, Any]) -> str:
        """Check one request; store the note; return its id. Raises :class:`Refused`."""
        note = parse_note(self._read_body(environ))
        now = self.clock()
        if abs(note.ts - now) > WINDOW:
            raise Refused(400, "stale", now=int(now))
        self._verify(note)
        nid = note.note_id
        self.guard.admit(nid, note.door, note.ts, now)
        try:
            stored = self.inbox.put_new(note.clinic, nid, note_json(note, int(now)))
        except BaseException:
            self.guard.forget(nid, note.door)
            raise
        if not stored:
            raise Refused(409, "replay")
        return nid


def _inside(inner: Path, outer: Path) -> bool:
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or outer in inner.parents


def make_app(site: str, inbox: str, portal_origin: str | None = None, *,
             max_per_door: int | None = 60, clock: Callable[[], float] = time.time,
             inbox_obj: Inbox | None = None) -> NotesApp:
    """The endpoint for a published ``site`` (URL or folder) and a private ``inbox`` URL.

    ``portal_origin`` is the one origin allowed to post from another origin (CORS).
    """
    site_src = open_site(site)
    box = inbox_obj if inbox_obj is not None else open_inbox(inbox)
    if isinstance(site_src, FolderSite) and hasattr(box, "root") and _inside(box.root, site_src.root):
        raise ValueError(f"the inbox {box.root} is inside the published site {site_src.root}; "
                         "notes would become public: put the inbox elsewhere")
    return NotesApp(site_src, box, portal_origin, max_per_door=max_per_door, clock=clock)
