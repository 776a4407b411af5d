"""Export: clinic databases + keystore -> the sealed site folder and the plan (FORMAT.md).

One call reads every clinic database read-only, gives new patients their keys, derives the
doors that lack a key, re-seals only the objects whose inputs changed, and then, in one
state transaction, records the new plan. Files are written atomically before the plan names
them, so a crash leaves the previous plan valid and at most some unreferenced files.
"""
from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import access, crypto, doors, failures, keystore, plan, render
from .cache import SealedCache
from .clinic_db import ClinicDbBusy, ClinicDbError, gc_paused, read_clinic
from .errors import ChartsealError, ExportError
from .home import Home, home_lock  # noqa: F401 - home_lock re-exported for callers
from .isolate import Isolation
from .last_good import LastGood
from .memo import Committed, ExportMemo
from .records import KEPT, SKIPPED, Patient, Problem
from site_templates.build import AssetError

from .site_objects import seal_accounts, seal_patients
from .writer import ObjectWriter


@dataclass
class ExportResult:
    patients: int = 0
    sealed: int = 0          # objects sealed anew in this export
    kept: int = 0            # objects reused unchanged
    derived: int = 0         # Argon2id runs
    removed: int = 0         # local files no longer in the plan
    rotated: int = 0         # records given a new content key (expired shares)
    problems: list[Problem] = field(default_factory=list)


def _snapshot_path(home: Home, name: str) -> Path:
    return home.root / "snapshots" / f"{name}.sqlite"


def _snapshot(home: Home, name: str, source: Path) -> None:
    """Copy a database whose automatic update is off, as of this manual export."""
    dest = _snapshot_path(home, name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(tmp)
    try:
        src.backup(out)
    finally:
        src.close()
        out.close()
    os.replace(tmp, dest)


def _source(home: Home, name: str, auto: bool) -> Path:
    """Where to read a database: automatic publishes read a switched-off one's snapshot."""
    db = home.databases[name]
    if auto and not db.auto_update and _snapshot_path(home, name).exists():
        return _snapshot_path(home, name)
    return db.path


@dataclass
class _Read:
    data: dict[str, list[Patient]] = field(default_factory=dict)
    present: dict[str, set[int]] = field(default_factory=dict)  # every patient row id per database
    unreadable: list[str] = field(default_factory=list)


def _read_databases(home: Home, result: ExportResult, auto: bool, memo: ExportMemo,
                    iso: Isolation) -> _Read:
    """Each database on its own: one that cannot be read is reported and keeps the version
    last published; each patient row on its own (exporter.isolate)."""
    read = _Read()
    sources = {str(_source(home, name, auto)) for name in home.databases}
    for gone in set(memo.reads) - sources:  # a database removed or switched to its snapshot
        del memo.reads[gone]
    for name, db in sorted(home.databases.items()):
        source = _source(home, name, auto)
        try:
            # The service reads only what changed; a one-off export reads every row.
            state = memo.read_state(str(source), float(home.config.get("full_read_interval", 3600))
                                    ) if memo.remember else None
            clinic = read_clinic(source, state, functools.partial(iso.store.stage, name),
                                 home.config.get("db_busy_wait_seconds", 120))
        except ClinicDbBusy as exc:  # never the hint to point elsewhere: that unpublishes it
            raise ExportError(f"database {name!r}: {exc}", hint=exc.hint) from exc
        except sqlite3.Error:
            raise  # the reader wraps the clinic file's own errors: this is the home's disk
        except Exception as exc:  # noqa: BLE001 - one database's defect stays with it
            memo.reads.pop(str(source), None)
            _unreadable(name, exc, iso, read, result)
            continue
        if not auto and not db.auto_update:
            _snapshot(home, name, db.path)
        problems = [replace(p, patient=f"{name}/{p.patient}", db=name) for p in clinic.problems]
        read.data[name] = iso.settle(name, clinic.patients, clinic.skipped, problems)
        read.present[name] = {p.id for p in clinic.patients} | set(clinic.skipped)
        result.problems += problems
    return read


def _unreadable(name: str, exc: Exception, iso: Isolation, read: _Read, result: ExportResult) -> None:
    if isinstance(exc, ClinicDbError):
        why = f"{exc}; {exc.hint}" if exc.hint else str(exc)
    else:
        why = f"cannot be read: {type(exc).__name__}: {exc}"
    kept: list[Problem] = []
    pids = iso.store.pids(name)
    read.data[name] = iso.last_versions(name, pids, set(), kept)
    read.unreadable.append(name)
    n = len(read.data[name])
    if n:
        why += f"; its {n} patients stay as last published"
    result.problems.append(Problem(name, "database", why, KEPT if n else SKIPPED, name))


def _ensure_patient_keys(conn, data: dict[str, list[Patient]], carry=None) -> None:
    """A keystore row for every patient read. ``carry`` (exporter.patient_pass.Carry) is
    what the last export of this process left: while the keystore holds the token it saw,
    every patient it had still has its row, and only the others are looked up."""
    todo: Any
    if carry is not None and carry.key[2] == keystore.export_token(conn):
        todo = []
        for db, patients in data.items():
            had = carry.dbs.get(db, {})
            todo += [(db, p) for p in patients if p.card not in had]
        known = {(db, p.card) for db, p in todo if conn.execute(
            "SELECT 1 FROM patients WHERE db = ? AND card = ?", (db, p.card)).fetchone()}
    else:
        todo = ((db, p) for db, patients in data.items() for p in patients)
        known = set(keystore.tuples(conn, "SELECT db, card FROM patients"))
    missing = [(db, p.card) for db, p in todo if (db, p.card) not in known]
    if not missing:
        return
    with conn:
        for db, card in missing:
            note_pk, note_sk = crypto.sign_keypair()
            entry_pk, entry_sk = crypto.sign_keypair()
            conn.execute(
                "INSERT INTO patients (db, card, rid, ck, password, note_pk, note_sk, "
                "entry_note_pk, entry_note_sk) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (db, card, crypto.random_id(), crypto.random_key(), access.new_password(3),
                 note_pk, note_sk, entry_pk, entry_sk))


def _check_kdf(conn, home: Home) -> None:
    """Doors derived under other Argon2id parameters are derived again."""
    want = f"{home.kdf.ops}:{home.kdf.mem}"
    try:
        have = keystore.get_text(conn, "door_params")
    except KeyError:
        have = ""
    if have != want:
        with conn:
            conn.execute("UPDATE patients SET door_id = NULL, door_key = NULL")
            conn.execute("UPDATE accounts SET door_id = NULL, door_key = NULL")
            conn.execute("DELETE FROM secrets WHERE name IN ('general_door_id', 'general_door_key')")
            keystore.put_secret(conn, "door_params", want)


def export_site(home: Home, today: date | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                auto: bool = False, memo: ExportMemo | None = None) -> ExportResult:
    """Bring ``home.site_dir`` and the plan up to date with the clinic databases.

    ``auto`` is for the background service: a database whose automatic update is off is
    read as it was at the last manual export, so its pending edits stay off the site.
    ``memo`` is for a process that exports again and again (the service): what the last
    export computed is reused, so an edit costs work in proportion to what it changed.
    """
    today = today or date.today()
    memo = memo or ExportMemo(remember=False)
    # An export allocates hundreds of thousands of acyclic objects; with the cyclic collector
    # on it would walk them (and a memo's millions) again and again.
    with home_lock(home), gc_paused():
        keys = keystore.connect(home.keys_path)
        state = home.connect_state()
        store = LastGood(home.root / "last_good.sqlite")
        iso = Isolation(store, today, str(home.config["lang"]))
        try:
            while True:
                result, iso.found_new = ExportResult(), False
                read = _read_databases(home, result, auto, memo, iso)
                try:
                    _export_read(home, keys, state, read.data, result, today, progress, memo)
                    break
                except (ChartsealError, sqlite3.Error, OSError, MemoryError):
                    raise
                except Exception as exc:
                    # A defect no check foresaw: find every patient that has one, set them
                    # aside and export again; if none is found the defect is not the data's.
                    if iso.check and not iso.found_new:
                        raise ExportError(f"cannot export: {type(exc).__name__}: {exc}",
                                          hint="this is a bug in chartseal; the site is left as it "
                                               "was: please report it with this message") from exc
                    iso.check = True
            failures.record(state, result.problems)
            store.commit(read.present, read.unreadable, iso.failed)
        except BaseException:
            # The rows of the patients read since the last export were staged for
            # last_good.sqlite only in this export: read everything again next time.
            memo.reads.clear()
            raise
        finally:
            keys.close()
            state.close()
            store.close()
    return result


def _next_publish(keys, home: Home) -> tuple[str, keystore.Publish, keystore.Publish]:
    """The site key, and the counter as it was and as this export will publish it.

    This export's ``seq`` is the next one; it is kept only if the export writes anything
    (FORMAT.md 4). The floor rises to it when access was taken away since the last rise.
    """
    site_pk, _ = keystore.site_keys(keys)
    was = keystore.publish_state(keys)
    # A keystore put back from a backup must not count again from an older number (browsers
    # that saw the newer one would refuse everything until it caught up) nor lower the floor.
    on_site = _published_counter(home)
    seq = max(was.seq, on_site[0]) + 1
    floor = max(was.floor, on_site[1])
    at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if was.pending or floor == 0:
        now = keystore.Publish(seq, at, seq, was.revocations, was.revocations)
    else:
        now = keystore.Publish(seq, at, floor, was.revocations, was.floor_done)
    return crypto.b64e(site_pk), was, now


def _published_counter(home: Home) -> tuple[int, int]:
    """``(seq, floor)`` of the site.json in the site folder, or zeros."""
    try:
        site = json.loads((home.site_dir / home.clinic_prefix / "site.json").read_bytes())
        seq, floor = site.get("seq"), site.get("floor")
    except (OSError, ValueError, AttributeError):
        return 0, 0
    ok = type(seq) is int and type(floor) is int and 0 < floor <= seq <= crypto.MAX_SEQ
    return (seq, floor) if ok else (0, 0)


def _export_read(home: Home, keys, state, data: dict[str, list[Patient]], result: ExportResult,
                 today: date, progress: Callable[[str, int, int], None] | None,
                 memo: ExportMemo) -> None:
    """Seal what was read and commit the plan (one attempt of export_site)."""
    result.patients = sum(len(v) for v in data.values())
    _ensure_patient_keys(keys, data, memo.carry)
    known = {db: {p.card for p in ps} for db, ps in data.items()}
    result.rotated = access.expire_shares(keys, known, today)
    _check_kdf(keys, home)
    pages = _pages_on(keys, home, data)

    def tick(done: int, total: int) -> None:
        if progress:
            progress("deriving keys", done, total)

    result.derived = doors.derive_missing(keys, home.clinic_id, home.kdf, sorted(pages), tick)
    # What this process committed last time, if no other export has committed since.
    generation = plan.generation(state)
    last = memo.state if memo.state and memo.state.generation == generation else None
    carry, now = memo.carry, (memo.clock or time.monotonic)()
    # Until this export has committed: the writer may change the plan and cache in place
    # (the patients' pass lets go of ``memo.carry`` too when it does).
    memo.state = None
    writer = ObjectWriter(home.site_dir, SealedCache(state, last.cache if last else None), memo.remember)
    ctx = _Context(home, keys, writer, today, result.problems, memo, *_next_publish(keys, home))
    # The writer may start from the last committed plan only while the folder was listed
    # recently enough: a file removed by hand is noticed by the next listing.
    listed = carry is not None and now - carry.listed_at < float(home.config.get("full_read_interval", 3600))
    ctx.carry_prev, ctx.carry_objects = carry, (last.plan if last and listed else None)
    seal_patients(ctx, data, pages)
    seal_accounts(ctx, data, known)
    _app(ctx)
    _site_json(ctx)  # last: it names every door, so it is uploaded after them (FORMAT.md 5.4)
    result.sealed, result.kept = writer.sealed, writer.kept
    writer.flush()
    if writer.sealed or not writer.cache.unchanged or writer.strays:
        with state:
            writer.cache.commit()
            if writer.carrying:
                generation = plan.update_plan(state, *writer.plan_changes())
            else:
                generation = plan.replace_plan(state, writer.objects, last.plan if last else None)
    result.removed = writer.remove_strays()
    if memo.remember:
        memo.state = Committed(generation, writer.cache.entries, writer.objects)
        ctx.next_carry.outside_names, ctx.next_carry.outside_keys = writer.outside_names, writer.outside_keys
        if not writer.carrying:
            ctx.next_carry.listed_at = now
        memo.carry = ctx.next_carry
        memo.end_export()


def _pages_on(conn, home: Home, data: dict[str, list[Patient]]) -> set[tuple[str, str]]:
    if not home.config["patient_pages"]:
        return set()
    off = set(keystore.tuples(conn, "SELECT db, card FROM patients WHERE page_enabled = 0"))
    return {(db, p.card) for db, ps in data.items() for p in ps} - off


@dataclass
class _Context:
    home: Home
    keys: object
    writer: ObjectWriter
    today: date
    problems: list[Problem]
    memo: ExportMemo
    site_pk: str                      # b64, in every door, entry and index payload
    published: keystore.Publish       # the counter of the last export that wrote anything
    publish: keystore.Publish         # this export's, used when it writes anything

    @property
    def clinic(self) -> str:
        return self.home.clinic_id

    @property
    def lang(self) -> str:
        return str(self.home.config["lang"])

    @property
    def prefix(self) -> str:
        return self.home.clinic_prefix

    @property
    def generated(self) -> str:
        return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _site_json(ctx: _Context) -> None:
    """site.json, signed, last: it carries this export's counter only if the export wrote
    anything, else the last one, so a no-op export changes no byte (FORMAT.md 4)."""
    cfg = ctx.home.config
    kdf = ctx.home.kdf.to_json()
    if ctx.home.kdf.weak:
        kdf["test"] = True
    value = {
        "clinic": ctx.clinic, "format": crypto.FORMAT, "kdf": kdf, "lang": cfg["lang"],
        "idle_lock_minutes": cfg["idle_lock_minutes"], "patient_pages": bool(cfg["patient_pages"]),
        "notes_pk": crypto.b64e(keystore.get_secret(ctx.keys, "notes_pk")),
        "notes_url": cfg["notes_url"],
    }
    # Display settings (FORMAT.md 4), only when set: a clinic without them publishes the same bytes.
    value.update({k: cfg[k] for k in ("clinic_name", "currency") if cfg[k]})
    site_sk = keystore.get_secret(ctx.keys, "site_sk")
    name = f"{ctx.prefix}/site.json"

    def signed(pub: keystore.Publish) -> bytes:
        return crypto.canonical_json(crypto.sign_site(
            site_sk, {**value, "seq": pub.seq, "at": pub.at, "floor": pub.floor}))

    data = signed(ctx.published) if ctx.published.seq else b""
    refs: tuple[str, ...] = ()
    if ctx.writer.sealed or not data or not ctx.writer.same_as_disk(name, data):
        data = signed(ctx.publish)
        # Kept before the plan that publishes it is committed: a crash after this skips a
        # number, never reuses one.
        keystore.record_publish(ctx.keys, ctx.publish)
        if ctx.publish.floor != ctx.published.floor:
            # A new floor refuses every door written before it: the publisher must not put
            # this site.json up before every re-wrapped door is on the target.
            doors = f"{ctx.prefix}/door/"
            refs = tuple(n for n in ctx.writer.objects if n.startswith(doors))
    ctx.writer.put_plain(name, data, plan.POINTER, "clinic", refs)


def _app(ctx: _Context) -> None:
    url = ctx.home.config["notes_url"]
    # A relative notes_url is on the site's own origin, which 'self' already allows.
    origin = "/".join(url.split("/")[:3]) if "://" in url else ""
    try:
        files = render.app_files(ctx.lang, [origin] if origin else [])
    except (render.RenderError, AssetError) as exc:
        raise ExportError(f"cannot build the portal app: {exc}",
                          hint="reinstall chartseal (a built package carries libsodium.js); in a source "
                               "checkout run `make setup` (it runs npm ci)") from exc
    assets = tuple(sorted(n for n in files if n.startswith("assets/")))
    for name, data in files.items():
        kind = plan.IMMUTABLE if name.startswith("assets/") else plan.POINTER
        ctx.writer.put_plain(name, data, kind, "app", () if kind == plan.IMMUTABLE else assets)
