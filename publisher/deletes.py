"""Deleting superseded objects: only when nothing is queued, after the grace period, capped,
and always a referring object before the objects it refers to."""
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


def plan_deletes(conn: sqlite3.Connection, key: str, policy: Policy, now: float) -> DeletePlan:
    rows = conn.execute("SELECT name, refs, superseded_at FROM published WHERE target = ?",
                        (key,)).fetchall()
    refcount: dict[str, int] = {}
    refs_of: dict[str, list[str]] = {}
    due: set[str] = set()
    superseded = 0
    for name, refs, sup in rows:
        refs_of[name] = refs.split() if refs else []
        for r in refs_of[name]:
            if r != name:
                refcount[r] = refcount.get(r, 0) + 1
        if sup is not None:
            superseded += 1
            if sup <= now - policy.grace_seconds:
                due.add(name)
    layers: list[list[str]] = []
    taken = 0
    # Kahn's order over the objects still referred to: a name is deleted only when no
    # remaining published object names it, so any prefix of the order is safe.
    layer = sorted(n for n in due if refcount.get(n, 0) == 0)
    while layer and taken < policy.delete_cap:
        layer = layer[: policy.delete_cap - taken]
        layers.append(layer)
        taken += len(layer)
        freed = []
        for name in layer:
            for r in refs_of[name]:
                if r == name:
                    continue
                refcount[r] -= 1
                if refcount[r] == 0 and r in due:
                    freed.append(r)
        layer = sorted(freed)
    return DeletePlan(layers, superseded - taken)


def run_deletes(conn: sqlite3.Connection, target: Target, dplan: DeletePlan) -> int:
    deleted = 0
    for layer in dplan.layers:
        for start in range(0, len(layer), 1000):
            chunk = layer[start:start + 1000]
            target.delete(chunk)
            with immediate(conn):
                conn.executemany("DELETE FROM published WHERE target = ? AND name = ?",
                                 [(target.state_key, n) for n in chunk])
            deleted += len(chunk)
    return deleted
