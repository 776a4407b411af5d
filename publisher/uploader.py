"""Send a set of plan objects in an order that never leaves a pointer naming a missing object.

An object is sent only once every object it refers to is confirmed on the target, either
from before (``confirmed``) or by an upload in this batch. site.json and the app pages go
after everything else in the batch. Uploads run in parallel; the caller's ``on_done`` runs
on the calling thread, so it may write to SQLite.
"""
from __future__ import annotations

import posixpath
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from exporter import plan

from . import content
from .errors import SiteObjectError, TargetError
from .targets import Target, check_name


@dataclass
class Outcome:
    done: dict[str, str] = field(default_factory=dict)          # name -> etag
    failed: dict[str, str] = field(default_factory=dict)        # name -> error text
    deferred: dict[str, list[str]] = field(default_factory=dict)  # name -> refs not on target
    sent_bytes: int = 0
    fatal: TargetError | None = None
    site_damaged: set[str] = field(default_factory=set)  # failed: the site file is bad


def is_last(name: str) -> bool:
    """site.json and the app pages are what a visitor loads first: they go last."""
    return posixpath.basename(name) == "site.json" or name.endswith(".html")


def read_checked(site_dir: Path, obj: plan.PlanObject) -> bytes:
    """The object's bytes from the site folder, refused unless they are the planned bytes."""
    try:
        data = (site_dir / check_name(obj.name)).read_bytes()
    except FileNotFoundError as exc:
        raise SiteObjectError(f"{obj.name} is in the plan but not in the site folder",
                              hint="run chartseal publish again (it exports first)") from exc
    if plan.digest(data) != obj.digest:
        # Drop the damaged file: the next export finds it missing and seals it again (an
        # unchanged object is otherwise trusted as cached and never read back).
        try:
            (site_dir / obj.name).unlink()
        except OSError:
            pass
        raise SiteObjectError(f"{obj.name} in the site folder does not match the plan",
                              hint="run chartseal publish again (it exports first and seals "
                                   "the object again)")
    return data


def send_one(target: Target, site_dir: Path, obj: plan.PlanObject) -> tuple[str, int]:
    data = read_checked(site_dir, obj)
    etag = target.put(obj.name, data, content.content_type(obj.name),
                      content.cache_control(obj.name, obj.kind))
    return etag, len(data)


class _Graph:
    """Which items wait for which, inside one batch."""

    def __init__(self, items: list[plan.PlanObject], confirmed: Callable[[str], bool]) -> None:
        self.items = {o.name: o for o in items}
        self.waiting: dict[str, set[str]] = {}
        self.dependents: dict[str, list[str]] = {}
        self.blocked: dict[str, list[str]] = {}
        for o in items:
            inside = {r for r in o.refs if r in self.items and r != o.name}
            outside = [r for r in o.refs if r not in self.items and not confirmed(r)]
            if o.name in o.refs:
                outside.append(o.name)  # an object naming itself can never be satisfied
            if outside:
                self.blocked[o.name] = outside
            self.waiting[o.name] = inside
            for r in inside:
                self.dependents.setdefault(r, []).append(o.name)

    def ready(self, names: list[str]) -> list[str]:
        return [n for n in names if not self.waiting[n] and n not in self.blocked]

    def resolve(self, name: str) -> list[str]:
        """``name`` is on the target: return items that became ready."""
        out = []
        for dep in self.dependents.get(name, []):
            self.waiting[dep].discard(name)
            if not self.waiting[dep] and dep not in self.blocked:
                out.append(dep)
        return out


def upload_ordered(target: Target, site_dir: Path, items: list[plan.PlanObject],
                   confirmed: Callable[[str], bool], workers: int,
                   on_done: Callable[[plan.PlanObject, str, int], None]) -> Outcome:
    graph = _Graph(items, confirmed)
    outcome = Outcome()
    first = [o.name for o in items if not is_last(o.name)]
    last = [o.name for o in items if is_last(o.name)]
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="upload") as pool:
        for phase in (first, last):
            if outcome.fatal:
                break
            _run_phase(pool, target, site_dir, graph, phase, outcome, workers, on_done)
    for name in graph.items:
        if name not in outcome.done and name not in outcome.failed:
            missing = sorted(graph.waiting[name]) + graph.blocked.get(name, [])
            outcome.deferred[name] = missing or ["(stopped early)"]
    return outcome


def _run_phase(pool: ThreadPoolExecutor, target: Target, site_dir: Path, graph: _Graph,
               phase: list[str], outcome: Outcome, workers: int,
               on_done: Callable[[plan.PlanObject, str, int], None]) -> None:
    allowed = set(phase)
    queue = list(reversed(graph.ready(phase)))
    running: dict[Future, str] = {}
    while queue or running:
        # Keep the pool busy but bounded, so a fatal error stops new sends quickly.
        while queue and len(running) < workers * 2 and not outcome.fatal:
            name = queue.pop()
            running[pool.submit(send_one, target, site_dir, graph.items[name])] = name
        if not running:
            break
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in finished:
            name = running.pop(fut)
            exc = fut.exception()
            if exc is None:
                etag, size = fut.result()
                outcome.done[name] = etag
                outcome.sent_bytes += size
                on_done(graph.items[name], etag, size)
                queue.extend(n for n in graph.resolve(name) if n in allowed)
            elif isinstance(exc, (TargetError, SiteObjectError)):
                outcome.failed[name] = str(exc)
                if isinstance(exc, SiteObjectError):
                    outcome.site_damaged.add(name)
                if isinstance(exc, TargetError) and exc.fatal and outcome.fatal is None:
                    outcome.fatal = exc
            else:
                raise exc
        if outcome.fatal:
            queue.clear()
