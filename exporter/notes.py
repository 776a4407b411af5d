"""`chartseal notes fetch`: notes from the inbox into the clinic databases (FORMAT.md 9).

Each note is opened with the clinic's notes key, its signature checked again with the
``note_pk`` the clinic published for that door, and attributed by the door, never by what the
note claims. Notes are stored per database in one transaction and only then deleted from the
inbox: a crash between the two leaves them in the inbox, and fetching again stores nothing
twice (``note_id`` is UNIQUE). A note that fails a check is moved to ``rejected/`` with its
reason, never dropped.

A door retired by a password change, a page switched off or a deleted account still vouches
for notes written before it was retired; a note dated later than that (beyond the endpoint's
clock window) is rejected, since whoever still holds the old password's keys may write it.
"""
from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from notes_endpoint.inbox import InboxError, open_inbox
from notes_endpoint.wire import MAX_PAYLOAD, MAX_TEXT, WHO, WINDOW, Note, Refused, parse_stored

from . import access, crypto, keystore
from .home import Home
from .notes_store import NoteRow, NotesError, ack, list_notes, store

__all__ = ["FetchResult", "NotesError", "Reject", "ack", "fetch_notes", "list_notes"]
BATCH = 500
PAYLOAD_KEYS = frozenset({"v", "rid", "card", "text", "ts", "who", "user"})


class Reject(Exception):
    """A note that fails a check; the message is the reason kept beside it in rejected/."""


@dataclass(frozen=True)
class Door:
    kind: str            # patient | general | account
    note_pk: bytes
    owner: str           # rid for patient doors and entries, user name for accounts
    retired_at: float | None = None   # seconds since the epoch; None while published


@dataclass
class FetchResult:
    stored: int = 0
    duplicates: int = 0       # already in the clinic database (a fetch interrupted earlier)
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (note id, reason)


class Clinic:
    """What attribution needs from the keystore, read once per fetch."""

    def __init__(self, home: Home, keys: Any, today: date) -> None:
        self.clinic_id = home.clinic_id
        self.notes_pk = keystore.get_secret(keys, "notes_pk")
        self.notes_sk = keystore.get_secret(keys, "notes_sk")
        self.keys = keys
        self.today = today
        self.by_rid: dict[str, tuple[str, str]] = {}
        self.doors: dict[str, Door] = {}
        self.retired: dict[str, Door] = {}
        self.accounts = {r[0] for r in keys.execute("SELECT name FROM accounts")}
        self._visible: dict[str, set[tuple[str, str]]] = {}
        self._known = access.known_cards(keys)
        lk = keystore.get_secret(keys, "lk")
        for row in keys.execute("SELECT db, card, rid, door_id, note_pk, entry_note_pk, page_enabled "
                                "FROM patients"):
            self.by_rid[row["rid"]] = (row["db"], row["card"])
            if not row["page_enabled"]:
                continue  # its door and entry were retired when the page was switched off
            if row["door_id"]:
                self.doors[row["door_id"]] = Door("patient", bytes(row["note_pk"]), row["rid"])
            self.doors[crypto.entry_id(lk, row["card"])] = Door("general", bytes(row["entry_note_pk"]), row["rid"])
        for row in keys.execute("SELECT name, door_id, note_pk FROM accounts WHERE door_id IS NOT NULL"):
            self.doors[row["door_id"]] = Door("account", bytes(row["note_pk"]), row["name"])
        # Retired doors still vouch for notes written before they were retired. A door id can
        # be both (a password set back to an old one): each is tried with its own note key.
        for row in keys.execute("SELECT door_id, kind, owner, note_pk, retired_at FROM retired_doors"):
            if row["kind"] in ("patient", "general", "account"):
                when = datetime.fromisoformat(row["retired_at"]).timestamp()
                self.retired[row["door_id"]] = Door(row["kind"], bytes(row["note_pk"]), row["owner"], when)

    def door(self, note: Note) -> Door:
        """The door whose note key signed ``note``; raises :class:`Reject`."""
        doors = [d for d in (self.doors.get(note.door), self.retired.get(note.door)) if d]
        if not doors:
            raise Reject("unknown door")
        door = next((d for d in doors if crypto.verify(d.note_pk, note.signed, note.sig)), None)
        if door is None:
            raise Reject("bad signature")
        # The endpoint accepts a ts up to WINDOW seconds off its clock, so a note sent just
        # before the retirement may carry a ts up to WINDOW later.
        if door.retired_at is not None and note.ts > door.retired_at + WINDOW:
            retired = datetime.fromtimestamp(door.retired_at, UTC).isoformat(timespec="seconds")
            raise Reject(f"written after its door was retired ({retired})")
        return door

    def visible(self, account: str) -> set[tuple[str, str]]:
        if account not in self._visible:
            self._visible[account] = access.visible_cards(self.keys, account, self._known, self.today)
        return self._visible[account]


def _payload(clinic: Clinic, note: Note) -> dict[str, Any]:
    try:
        plain = crypto.open_sealed(clinic.notes_pk, clinic.notes_sk, note.sealed)
    except crypto.CryptoError:
        raise Reject("cannot be opened with the clinic's notes key") from None
    if len(plain) > MAX_PAYLOAD:
        raise Reject("payload too large")
    try:
        value = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Reject("payload is not JSON") from None
    if not isinstance(value, dict) or set(value) != PAYLOAD_KEYS or value["v"] != 1:
        raise Reject("payload has the wrong shape")
    if not all(isinstance(value[k], str) for k in ("rid", "card", "text", "who", "user")):
        raise Reject("payload has the wrong shape")
    if value["ts"] != note.ts or isinstance(value["ts"], bool):
        raise Reject("time inside the note differs from its envelope")
    if value["who"] not in WHO:
        raise Reject(f"unknown writer kind {value['who']!r}")
    return value


def clean_text(text: str) -> str:
    """NFC, line ends as \\n, no control characters but \\n and \\t, trimmed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if not text:
        raise Reject("empty text")
    if len(text) > MAX_TEXT:
        raise Reject(f"text longer than {MAX_TEXT} characters")
    return text


def attribute(clinic: Clinic, note: Note) -> tuple[str, NoteRow]:
    """Check one note; return (database, row). Raises :class:`Reject`."""
    if note.clinic != clinic.clinic_id:
        raise Reject(f"note is for clinic {note.clinic}, not {clinic.clinic_id}")
    door = clinic.door(note)
    p = _payload(clinic, note)
    where = clinic.by_rid.get(p["rid"])
    if where is None:
        raise Reject("unknown record")
    db, card = where
    if p["card"] != card:
        raise Reject("card does not match the record")
    if door.kind in ("patient", "general"):
        if p["rid"] != door.owner or p["who"] != door.kind or p["user"]:
            raise Reject(f"a {door.kind} door may only write about its own record")
        author = door.kind
    else:
        if door.owner not in clinic.accounts:
            raise Reject(f"account {door.owner!r} was deleted")
        if p["who"] != "account" or p["user"] != door.owner:
            raise Reject("writer does not match the account door")
        if (db, card) not in clinic.visible(door.owner):
            raise Reject(f"record not shared with {door.owner}")
        author = door.owner
    created = datetime.fromtimestamp(note.ts, UTC).isoformat(timespec="seconds")
    return db, NoteRow(note.note_id, card, author, clean_text(p["text"]), created)


def _rejection(data: bytes, reason: str) -> bytes:
    return json.dumps({"reason": reason, "rejected_at": _now(),
                       "note": data.decode("utf-8", "replace")}, sort_keys=True).encode("utf-8")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def open_home_inbox(home: Home) -> Any:
    try:
        return open_inbox(home.notes_inbox, home.config.get("endpoint_url") or None,
                          home.config.get("region") or None)
    except InboxError as exc:
        raise NotesError(str(exc), hint="set it with: chartseal config set notes_inbox URL") from exc


def _batch(home: Home, clinic: Clinic, inbox: Any, names: list[str], result: FetchResult) -> None:
    rows: dict[str, list[NoteRow]] = defaultdict(list)
    done: list[str] = []
    for name in names:
        data = inbox.read(clinic.clinic_id, name)
        if data is None:
            continue  # another fetch took it meanwhile
        try:
            note, _ = parse_stored(data)
            db, row = attribute(clinic, note)
            if db not in home.databases:
                raise Reject(f"database {db!r} is no longer configured")
        except (Refused, Reject) as exc:
            reason = exc.reason if isinstance(exc, Refused) else str(exc)
            inbox.reject(clinic.clinic_id, name, _rejection(data, reason))
            result.rejected.append((name, reason))
            continue
        rows[db].append(row)
        done.append(name)
    fetched = _now()
    for db, items in sorted(rows.items()):
        items.sort(key=lambda r: (r.created_at, r.note_id))  # row ids follow writing order
        stored, dup = store(home.databases[db].path, items, fetched)
        result.stored += stored
        result.duplicates += dup
    # Only now, with every note of the batch committed, may they leave the inbox.
    inbox.delete_many(clinic.clinic_id, done)


def fetch_notes(home: Home, today: date | None = None, inbox: Any = None, batch: int = BATCH,
                progress: Callable[[int, int], None] | None = None) -> FetchResult:
    """Move every note waiting in the inbox into the clinic databases."""
    inbox = inbox if inbox is not None else open_home_inbox(home)
    keys = keystore.connect(home.keys_path)
    result = FetchResult()
    try:
        clinic = Clinic(home, keys, today or date.today())
        try:
            names = inbox.names(home.clinic_id)
            for start in range(0, len(names), batch):
                _batch(home, clinic, inbox, names[start:start + batch], result)
                if progress:
                    progress(min(start + batch, len(names)), len(names))
        except Exception as exc:
            # S3 errors come from botocore, which this module does not import.
            if not isinstance(exc, (InboxError, OSError)) and not type(exc).__module__.startswith("botocore"):
                raise
            raise NotesError(f"cannot read the notes inbox {inbox!r}: {exc}",
                             hint="check the notes_inbox setting and the credentials; "
                                  "notes not yet stored stay in the inbox") from exc
    finally:
        keys.close()
    return result
