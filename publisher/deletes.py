"""Deleting superseded objects: only when nothing is queued, after the grace period, capped,
and always a referring object before the objects it refers to.

Candidates are published objects that left the plan, and objects whose upload started but was
never confirmed (a killed run) and that left the plan since.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .jobs import immediate
from .policy import Policy
from .targets import Target


@dataclass
class DeletePlan:
    layers: list[list[str]]   # each layer is deleted only after the previous one
    waiting: int              # superseded, still inside the grace period (or over the cap)


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


def _references(conn: sqlite3.Connection, key: str) -> tuple[dict[str, int], dict[str, list[str]]]:
    """How many objects that may be on the target name each object (both tables count)."""
    refcount: dict[str, int] = {}
    refs_of: dict[str, list[str]] = {}
    for name, refs in conn.execute(
            "SELECT name, refs FROM published WHERE target = ? UNION ALL "
            "SELECT name, refs FROM sending WHERE target = ?", (key, key)):
        for r in set(refs.split()) - {name} - set(refs_of.get(name, ())):
            refcount[r] = refcount.get(r, 0) + 1
            refs_of.setdefault(name, []).append(r)
    return refcount, refs_of


def plan_deletes(conn: sqlite3.Connection, key: str, policy: Policy, now: float) -> DeletePlan:
    candidates = leftovers(conn, key)
    due = {n for n, since in candidates.items() if since is not None and since <= now - policy.grace_seconds}
    if not due:
        return DeletePlan([], len(candidates))
    refcount, refs_of = _references(conn, key)
    layers: list[list[str]] = []
    taken = 0
    # Kahn's order: a name is deleted only when nothing that may remain on the target names
    # it, so any prefix of the order is safe (that is what makes the cap safe).
    layer = sorted(n for n in due if refcount.get(n, 0) == 0)
    while layer and taken < policy.delete_cap:
        layer = layer[: policy.delete_cap - taken]
        layers.append(layer)
        taken += len(layer)
        freed = []
        for name in layer:
            for r in refs_of.get(name, ()):
                refcount[r] -= 1
                if refcount[r] == 0 and r in due:
                    freed.append(r)
        layer = sorted(freed)
    return DeletePlan(layers, len(candidates) - taken)


def run_deletes(conn: sqlite3.Connection, target: Target, dplan: DeletePlan) -> int:
    deleted = 0
    for layer in dplan.layers:
        for start in range(0, len(layer), 1000):
            chunk = layer[start:start + 1000]
            target.delete(chunk)
            with immediate(conn):
                rows = [(target.state_key, n) for n in chunk]
                conn.executemany("DELETE FROM published WHERE target = ? AND name = ?", rows)
                conn.executemany("DELETE FROM sending WHERE target = ? AND name = ?", rows)
            deleted += len(chunk)
    return deleted
