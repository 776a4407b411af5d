"""Deleting superseded objects: only when nothing is queued, after the grace period, capped,
and always a referring object before the objects it refers to.

Candidates are published objects that left the plan, and objects whose upload started but was
never confirmed (a killed run) and that left the plan since.

Doors are the exception (FORMAT.md 7). A door is a root: nothing on the target names it, so
deleting one never breaks a reference, and a door that left the plan was retired (a password
changed, a page switched off, an account or patient deleted). Keeping it would keep the old
password working, so it is deleted in the same publish with no grace period and outside the
cap, as soon as nothing of its group waits to be uploaded (its replacement, if any, is then
on the target).
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass

from . import links
from .jobs import immediate
from .policy import Policy
from .targets import Target


_DOOR = re.compile(r"c/[^/]+/door/[^/]+\.json")


def is_door(name: str) -> bool:
    """A door or general entry (FORMAT.md 3): a pointer nothing refers to."""
    return _DOOR.fullmatch(name) is not None


@dataclass
class DeletePlan:
    layers: list[list[str]]   # each layer is deleted only after the previous one
    waiting: int              # superseded, still inside the grace period (or over the cap)
    doors_held: int = 0       # retired doors whose group still has uploads waiting


def mark_superseded(conn: sqlite3.Connection, key: str, now: float) -> None:
    """Start the grace clock of objects that left the plan; stop it for any that came back."""
    with immediate(conn):
        conn.execute("UPDATE published SET superseded_at = ? WHERE target = ? AND "
                     "superseded_at IS NULL AND name NOT IN (SELECT name FROM plan)", (now, key))
        conn.execute("UPDATE published SET superseded_at = NULL WHERE target = ? AND "
                     "superseded_at IS NOT NULL AND name IN (SELECT name FROM plan)", (key,))


def leftovers(conn: sqlite3.Connection, key: str) -> dict[str, float | None]:
    """Objects that may be on the target but are not in the plan -> since when."""
    out: dict[str, float | None] = {}
    for name, since in conn.execute(
            "SELECT name, superseded_at FROM published WHERE target = ? AND name NOT IN "
            "(SELECT name FROM plan) UNION ALL SELECT name, started_at FROM sending WHERE "
            "target = ? AND name NOT IN (SELECT name FROM plan)", (key, key)):
        if name not in out or out[name] is None:
            out[name] = since
    return out


def _references(conn: sqlite3.Connection, key: str,
                due: Collection[str]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """For the objects due: how many objects that may be on the target name each, and,
    for each such referrer, which of them it names.

    Only the references to the candidates are read (publisher/links.py), never every
    published object's: an index names every bundle it lists.
    """
    refcount: dict[str, int] = {}
    names_due: dict[str, list[str]] = {}
    for name, by in links.referrers(conn, key, due).items():
        refcount[name] = len(by)
        for referrer in by:
            names_due.setdefault(referrer, []).append(name)
    return refcount, names_due


def _door_groups(conn: sqlite3.Connection, key: str) -> dict[str, str]:
    """The group of each published door that left the plan."""
    return dict(conn.execute(
        "SELECT name, grp FROM published WHERE target = ? AND name GLOB 'c/*/door/*.json' "
        "AND name NOT IN (SELECT name FROM plan)", (key,)).fetchall())


def plan_deletes(conn: sqlite3.Connection, key: str, policy: Policy, now: float,
                 busy: Collection[str] = ()) -> DeletePlan:
    """What to delete now. ``busy``: groups with uploads queued or waiting.

    Retired doors go at once unless their group is busy; everything else only when no group
    is busy, after the grace period, at most ``delete_cap`` per run.
    """
    candidates = leftovers(conn, key)
    groups = _door_groups(conn, key)
    # A door only ever in `sending` has no group: it was never confirmed, so nothing waits for it.
    doors = {n for n in candidates if is_door(n) and groups.get(n, "") not in busy}
    held = sum(1 for n in candidates if is_door(n)) - len(doors)
    due = set(doors)
    if not busy:
        due |= {n for n, since in candidates.items()
                if since is not None and since <= now - policy.grace_seconds}
    if not due:
        return DeletePlan([], len(candidates) - held, held)
    refcount, refs_of = _references(conn, key, due)
    layers: list[list[str]] = []
    taken = deleted = 0
    gone: set[str] = set()
    # Kahn's order: a name is deleted only when nothing that may remain on the target names
    # it, so any prefix of the order is safe (that is what makes the cap safe).
    # A retired door is a root: readers reach it by password, never through another object.
    # site.json names every door only to be uploaded after them (FORMAT.md 5.4), which must
    # not hold a revocation back while the new site.json waits for an unrelated upload.
    layer = sorted(n for n in due if n in doors or refcount.get(n, 0) == 0)
    while layer:
        rest = [n for n in layer if n not in doors][: max(0, policy.delete_cap - taken)]
        layer = sorted([n for n in layer if n in doors] + rest)  # retired doors are never capped
        if not layer:
            break
        # Doors in a layer of their own first: an object found on the target after a lost
        # state database has no known referrers, yet a found door may name it.
        first = [n for n in layer if is_door(n)]
        layers.extend(part for part in (first, [n for n in layer if not is_door(n)]) if part)
        taken += len(rest)
        deleted += len(layer)
        gone.update(layer)
        freed = []
        for name in layer:
            for r in refs_of.get(name, ()):
                refcount[r] -= 1
                if refcount[r] == 0 and r in due and r not in gone:  # a door may be both
                    freed.append(r)
        layer = sorted(freed)
    return DeletePlan(layers, len(candidates) - deleted - held, held)


def run_deletes(conn: sqlite3.Connection, target: Target, dplan: DeletePlan,
                stop: Callable[[], bool] | None = None, chunk_size: int = 1000) -> int:
    """Delete in the plan's order, ``chunk_size`` names a request; with ``stop``, end early
    between two chunks once it says so (any prefix of the order is safe to delete, so the
    rest simply waits for the next round): the service lets an edit go first."""
    deleted = 0
    for layer in dplan.layers:
        for start in range(0, len(layer), chunk_size):
            if stop is not None and deleted and stop():
                return deleted
            chunk = layer[start:start + chunk_size]
            target.delete(chunk)
            with immediate(conn):
                rows = [(target.state_key, n) for n in chunk]
                conn.executemany("DELETE FROM published WHERE target = ? AND name = ?", rows)
                conn.executemany("DELETE FROM sending WHERE target = ? AND name = ?", rows)
                links.forget(conn, target.state_key, chunk)
            deleted += len(chunk)
    return deleted
