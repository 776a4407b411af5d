"""The patients' pass of an export in a process that exports again and again (the service).

A patient's objects (bundle, door, general entry) are sealed from its clinic rows, its
keystore row, what it shows on the day (age, upcoming appointments) and what every object
shares (templates, keys, floor: ``common``). The memo keeps, per database and card, the
Patient the read layer returned, those inputs, the bundle and the trace of what was placed.

- **Carried**: when nothing shared moved (same ``common``, day, keystore token and databases)
  and the writer can start from the last committed plan, the read layer's identity (it
  returns the very same Patient for unchanged rows) tells which patients changed: only they
  are sealed again, the others' objects are carried forward by the writer untouched.
- **Walked**: otherwise every patient is walked; one whose inputs are as remembered is
  replayed from its trace (a few dictionary lookups), the others are sealed.

Both leave the same objects as a one-off export would (tests/test_incremental_patients.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, NamedTuple

from . import crypto, keystore, render
from .cache import input_digest
from .records import Patient


class Done(NamedTuple):
    patient: Patient   # as the read layer returned it: identity means "unchanged"
    key: str           # digest of every input of its objects (see _key)
    bundle: tuple      # (rid, bundle name, ck), what the accounts' pass needs
    trace: tuple       # what the writer placed for it (exporter.writer.Trace)
    clean: bool        # no problem reported: a collision is worked out again each time


@dataclass
class Carry:
    """What the patients' pass of a committed export leaves for the next one."""

    key: tuple                                  # common, day, keystore token, pages setting
    dbs: dict[str, dict[str, Done]]             # per database, per card
    bundles: dict[tuple[str, str], tuple]       # ctx.bundles as committed
    outside_names: list[str]                    # objects placed outside any patient's trace
    outside_keys: list[str]                     # and their cache keys
    listed_at: float                            # when the site folder was last listed


def seal_remembered(ctx: Any, data: dict[str, list[Patient]], pages: set[tuple[str, str]],
                    common: str, gk: bytes, lk: bytes) -> None:
    """seal_patients in a process that remembers: carried when it can, else walked.

    ``ctx.carry_prev`` is the last export's Carry (or None) and ``ctx.carry_objects`` the
    plan it committed when the writer may start from it (or None). Leaves ``ctx.next_carry``.
    A walk only reads the last Carry, so after a failed walk the next export still replays.
    """
    key = (common, ctx.today, keystore.export_token(ctx.keys), bool(ctx.home.config["patient_pages"]))
    prev, objects = ctx.carry_prev, ctx.carry_objects
    changes = None
    if prev is not None and objects is not None and prev.key == key and set(prev.dbs) == set(data):
        changes = _changes(ctx, prev, objects, data, pages, lk)
    if changes is not None:
        dbs = _seal_carried(ctx, prev, objects, changes, pages, common, gk, lk)
    else:
        dbs = {db: _seal_walked(ctx, db, patients, prev.dbs.get(db, {}) if prev else {}, pages,
                                common, gk, lk)
               for db, patients in data.items()}
    ctx.next_carry = Carry(key, dbs, ctx.bundles, [], [], prev.listed_at if prev else 0.0)


class _Changes(NamedTuple):
    changed: list[tuple[str, Patient, dict[str, Any]]]  # in export order, with keystore rows
    deleted: list[tuple[str, str]]


def _changes(ctx: Any, prev: Carry, objects: dict[str, Any], data: dict[str, list[Patient]],
             pages: set[tuple[str, str]], lk: bytes) -> _Changes | None:
    """The patients to seal again and the ones gone, or None when carrying could place a
    door otherwise than a walk would (a changed patient's door or entry held by another)."""
    changed: list[tuple[str, Patient, dict[str, Any]]] = []
    deleted: list[tuple[str, str]] = []
    total = 0
    for db, patients in data.items():
        old = prev.dbs[db]
        total += len(patients)
        moved = [p for p in patients if (d := old.get(p.card)) is None or d.patient is not p or not d.clean]
        if len(patients) - len(moved) + sum(1 for p in moved if p.card in old) != len(old):
            present = {p.card for p in patients}
            deleted += [(db, card) for card in old if card not in present]
        changed += [(db, p, {}) for p in moved]
    if len(changed) > max(64, total // 8):
        return None  # a walk replays runs of patients cheaper than this many lookups
    gone = {prev.dbs[db][card].bundle[0] for db, card in deleted}
    for db, p, row in changed:
        cur = keystore.tuples(ctx.keys, "SELECT * FROM patients WHERE db = ? AND card = ?", (db, p.card))
        row.update(zip([d[0] for d in cur.description], cur.fetchone()))
        if (d := prev.dbs[db].get(p.card)) is not None:
            gone.add(d.bundle[0])
    for db, p, row in changed:
        if (db, p.card) not in pages:
            continue
        for door in (row["door_id"], crypto.entry_id(lk, p.card)):
            held = objects.get(f"{ctx.prefix}/door/{door}.json")
            if held is not None and held.group not in gone:
                return None
    return _Changes(changed, deleted)


def _seal_carried(ctx: Any, prev: Carry, objects: dict[str, Any], changes: _Changes,
                  pages: set[tuple[str, str]], common: str, gk: bytes, lk: bytes) -> dict[str, dict[str, Done]]:
    """Start from the last export's objects; take out the changed and gone patients' and
    seal the changed ones again, in the order a walk would."""
    ctx.memo.carry = None  # taken over and changed in place: a failed export leaves nothing
    ctx.writer.carry(objects, prev.outside_names, prev.outside_keys)
    dbs, ctx.bundles = prev.dbs, prev.bundles
    for db, card in changes.deleted:
        ctx.writer.drop_trace(dbs[db].pop(card).trace)
        del ctx.bundles[(db, card)]
    for db, p, _ in changes.changed:
        if (d := dbs[db].get(p.card)) is not None:
            ctx.writer.drop_trace(d.trace)
    for db, p, row in changes.changed:
        memo_key = _key(ctx, db, p, tuple(row.values()), pages, common)
        dbs[db][p.card] = done = _seal_one(ctx, db, p, memo_key, None, row, gk, lk)
        ctx.bundles[(db, p.card)] = done.bundle
    return dbs


def _key(ctx: Any, db: str, p: Patient, row: tuple, pages: set[tuple[str, str]],
         common: str) -> tuple[str, tuple, bool]:
    """(digest of every input of the patient's objects, what its record shows on the day,
    whether it has pages): the memo keeps the digest alone, one short string a patient, not
    the keystore row (~1 KB) and the day's values."""
    shown, on_page = render.patient_today(p, ctx.today), (db, p.card) in pages
    return input_digest(db, p.digest, row, shown, on_page, common), shown, on_page


def _seal_walked(ctx: Any, db: str, patients: list[Patient], old: dict[str, Done],
                 pages: set[tuple[str, str]], common: str, gk: bytes, lk: bytes) -> dict[str, Done]:
    """Every patient of one database; a run of unchanged ones (up to 500) is replayed in one call."""
    new: dict[str, Done] = {}
    run: list[tuple[Patient, tuple, Done, dict]] = []  # unchanged patients not yet replayed, in order

    def flush() -> None:
        if run and ctx.writer.replay_many([d.trace for _, _, d, _ in run]):
            for p, memo_key, d, _ in run:
                new[p.card] = d._replace(patient=p)
                ctx.bundles[(db, p.card)] = d.bundle
        else:  # one of them collides or changed on disk: each on its own, in order
            for p, memo_key, d, row in run:
                new[p.card] = done = _seal_one(ctx, db, p, memo_key, d, row, gk, lk)
                ctx.bundles[(db, p.card)] = done.bundle
        run.clear()

    for p, row in keystore_rows(ctx.keys, db, patients):
        memo_key = _key(ctx, db, p, tuple(row.values()), pages, common)
        d = old.get(p.card)
        if d is not None and d.clean and d.key == memo_key[0]:
            run.append((p, memo_key, d, row))
            if len(run) >= KEYSTORE_CHUNK:  # their keystore rows are not all held at once
                flush()
            continue
        flush()
        new[p.card] = done = _seal_one(ctx, db, p, memo_key, None, row, gk, lk)
        ctx.bundles[(db, p.card)] = done.bundle
    flush()
    return new


KEYSTORE_CHUNK = 500  # cards per query, under SQLite's smallest limit of parameters


def keystore_rows(conn: Any, db: str, patients: list[Patient]) -> Iterator[tuple[Patient, dict[str, Any]]]:
    """Each patient with its keystore row (by column), in order, fetched a few hundred at a
    time: the whole table at once is ~50 MB at 50,000 patients, held for the whole pass."""
    for i in range(0, len(patients), KEYSTORE_CHUNK):
        part = patients[i:i + KEYSTORE_CHUNK]
        cur = keystore.tuples(conn, f"SELECT * FROM patients WHERE db = ? AND card IN "
                                    f"({','.join('?' * len(part))})", (db, *(p.card for p in part)))
        cols = [d[0] for d in cur.description]
        at = cols.index("card")
        rows = {r[at]: r for r in cur}
        for p in part:
            yield p, dict(zip(cols, rows[p.card]))


def _seal_one(ctx: Any, db: str, p: Patient, memo_key: tuple, done: Done | None,
              row: dict[str, Any], gk: bytes, lk: bytes) -> Done:
    from .site_objects import _seal_patient  # the sealing itself stays with the other objects

    if done is not None and ctx.writer.replay(done.trace):
        return done._replace(patient=p)
    problems = len(ctx.problems)
    ctx.writer.start_trace()
    try:
        bundle = _seal_patient(ctx, db, p, row, memo_key[1], memo_key[2], gk, lk)
    finally:
        trace = ctx.writer.end_trace()
    return Done(p, memo_key[0], bundle, trace, len(ctx.problems) == problems)
