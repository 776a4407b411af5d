"""ObjectWriter: the site folder as the exporter fills it, with the plan entry of each object.

An object whose inputs are unchanged is kept as it is, known by the digest and size the
cache recorded, and never read back; a new object is written atomically. What the folder
holds is listed once, on first use, which is also how strays are found at the end; an
export carried forward from the last one of its process (:meth:`ObjectWriter.carry`) does
not list it, and its strays are the objects it took out and did not place again.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from . import crypto, plan
from .cache import Entry, SealedCache


def _write_atomic(path: str, data: bytes) -> None:
    # No fsync per file: ObjectWriter.flush() syncs once before the plan names the files,
    # which is as durable and several times faster for thousands of small objects.
    # Plain strings, not pathlib: pathlib interns every part, and object names are unique.
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        # A full disk leaves no half-written temporary file behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# What the writer placed for one patient (start_trace .. end_trace), flat: key, cache entry,
# plan object, key, entry, object, ... The service keeps one per patient, 190,000 objects at
# 50,000 patients: a flat tuple costs a third of a list of triples.
Trace = tuple


def steps(trace: Trace) -> Iterator[tuple[str, Entry, plan.PlanObject]]:
    """The (cache key, cache entry, plan object) of each object of a trace, in order."""
    return zip(trace[0::3], trace[1::3], trace[2::3])


SYNC_EACH_MAX = 64  # up to this many written files are synced one by one


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _list_files(root: Path) -> set[str]:
    # Names only: scandir knows them without a stat per file, which a no-op export of
    # tens of thousands of objects could not afford. A file damaged after it was sealed is
    # found by the digest check when it is read for upload, dropped, and sealed again.
    out: set[str] = set()
    stack = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            name = f"{rel}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, name + "/"))
            else:
                out.add(name)
    return out


class _CarriedDisk:
    """The folder's names in carried mode, without listing it: after the export that this
    one carries forward, the folder held exactly that export's plan (its strays were
    removed), and every file written since is in ``objects``."""

    __slots__ = ("writer",)

    def __init__(self, writer: "ObjectWriter") -> None:
        self.writer = writer

    def __contains__(self, name: object) -> bool:
        return name in self.writer.objects or name in self.writer.dropped


class ObjectWriter:
    def __init__(self, site_dir: Path, cache: SealedCache, track: bool = False) -> None:
        """``track``: note the objects placed outside a trace (see :meth:`carry`)."""
        self.site_dir = site_dir
        self.cache = cache
        self._on_disk: set[str] | _CarriedDisk | None = None  # listed on first use
        self.objects: dict[str, plan.PlanObject] = {}
        # Carried mode (see carry()): the previous objects taken out, and the names placed since.
        self.carrying = False
        self.dropped: dict[str, plan.PlanObject] = {}
        self.added: list[str] = []
        self.track = track
        self.outside_names: list[str] = []
        self.outside_keys: list[str] = []
        self.sealed = 0
        self.kept = 0
        # Files written by this export, synced one by one by flush(); past SYNC_EACH_MAX only
        # counted (one system-wide sync then), so a full export does not hold every path.
        self.written: list[str] = []
        self.written_count = 0
        self.trace: list | None = None  # flat while recording, see Trace

    @property
    def on_disk(self) -> set[str] | _CarriedDisk:
        if self._on_disk is None:
            self._on_disk = _list_files(self.site_dir)
        return self._on_disk

    def carry(self, objects: dict[str, plan.PlanObject], outside_names: list[str],
              outside_keys: list[str]) -> None:
        """Start from the objects and cache entries the previous export of this process
        committed (taken over and changed in place) instead of from nothing, so an export
        costs what it seals again, not what it keeps. Must come before anything is placed.

        What that export placed outside a trace (accounts, site.json, the app) is taken out
        here, as it is placed again every export; the caller takes out each patient it seals
        again with :meth:`drop_trace`. The folder is not listed (see _CarriedDisk)."""
        assert not self.objects and self._on_disk is None, "carry() before anything is placed"
        self.carrying = True
        self.objects = objects
        self._on_disk = _CarriedDisk(self)
        self.cache.carry()
        for name in outside_names:
            self._drop_name(name)
        for key in outside_keys:
            self.cache.drop(key)

    def _drop_name(self, name: str) -> None:
        obj = self.objects.pop(name, None)
        if obj is not None:
            self.dropped[name] = obj

    def drop_trace(self, trace: Trace) -> None:
        """Carried mode: take out the objects of one patient's earlier trace."""
        for key, _, obj in steps(trace):
            self._drop_name(obj.name)
            self.cache.drop(key)

    def plan_changes(self) -> tuple[list[str], list[plan.PlanObject]]:
        """Carried mode: (names to remove, objects to write) against the committed plan."""
        objects, dropped = self.objects, self.dropped
        removed = [n for n in dropped if n not in objects]
        changed = [objects[n] for n in dict.fromkeys(self.added) if dropped.get(n) != objects[n]]
        return removed, changed

    def shared_names(self, names: Iterable[str]) -> tuple[str, ...]:
        """``names``, each as the string the plan already holds for it where it does: a ref
        names an object placed before it, mostly, and the plan need not hold it twice."""
        objects = self.objects
        return tuple(o.name if (o := objects.get(n)) is not None else n for n in names)

    def _add(self, name: str, digest: str, size: int, kind: str, group: str,
             refs: Sequence[str]) -> plan.PlanObject:
        obj = self.objects[name] = plan.PlanObject(name, digest, size, kind, group, tuple(refs))
        if self.carrying:
            self.added.append(name)
        if self.track and self.trace is None:
            self.outside_names.append(name)
        return obj

    def _use(self, key: str, entry: Entry, obj: plan.PlanObject) -> None:
        self.cache.use(key, entry)
        if self.trace is not None:
            self.trace += (key, entry, obj)
        elif self.track:
            self.outside_keys.append(key)

    def start_trace(self) -> None:
        """Record each sealed object and door from now on, for :meth:`replay`."""
        self.trace = []

    def end_trace(self) -> Trace:
        trace, self.trace = tuple(self.trace or ()), None
        return trace

    def replay(self, trace: Trace) -> bool:
        """Keep every object of an earlier trace, if each is still exactly as cached.

        For a caller that knows the inputs are unchanged without computing them again. All
        or nothing: False (and nothing added) when any object would be sealed or collides.
        """
        return self.replay_many([trace])

    def replay_many(self, traces: list[Trace]) -> bool:
        """:meth:`replay` of several traces as one, all or nothing: what keeps thousands of
        unchanged patients costs a few dictionary lookups each, not a call per object."""
        old, on_disk, objects = self.cache.previous, self.on_disk, self.objects
        seen: set[str] = set()
        count = 0
        for trace in traces:
            for key, entry, obj in steps(trace):
                hit, name = old.get(key), obj.name
                # The memo's entries are the cache's own objects: identity is the usual answer.
                if (hit is not entry and hit != entry) or name not in on_disk or name in objects \
                        or name in seen:
                    return False
                seen.add(name)
            count += len(trace) // 3
        used = self.cache.entries
        for trace in traces:
            for key, entry, obj in steps(trace):
                objects[obj.name] = obj
                used[key] = entry
        self.kept += count
        return True

    def _write(self, key: str, inputs: str, name: str, data: bytes, kind: str, group: str,
               refs: Sequence[str]) -> None:
        path = os.path.join(self.site_dir, name)
        _write_atomic(path, data)
        self._note_written(path)
        digest = plan.digest(data)
        obj = self._add(name, digest, len(data), kind, group, refs)
        self._use(key, Entry(inputs, name, digest, len(data)), obj)
        self.sealed += 1

    def _kept(self, key: str, inputs: str, kind: str, group: str, refs: Sequence[str]) -> Entry | None:
        hit = self.cache.lookup(key, inputs)
        if hit is None or hit.name not in self.on_disk:
            return None
        if key == hit.name:  # a door: its key is its name, kept once (100,000 at 50,000 patients)
            key = hit.name
        self._use(key, hit, self._add(hit.name, hit.digest, hit.size, kind, group, refs))
        self.kept += 1
        return hit

    def same_as_disk(self, name: str, data: bytes) -> bool:
        """True when the folder holds exactly ``data`` at ``name``."""
        try:
            return name in self.on_disk and (self.site_dir / name).read_bytes() == data
        except OSError:
            return False

    def put_plain(self, name: str, data: bytes, kind: str, group: str, refs: Sequence[str] = ()) -> None:
        """An object whose bytes are deterministic (site.json, app files)."""
        if self.same_as_disk(name, data):
            self.kept += 1
        else:
            path = os.path.join(self.site_dir, name)
            _write_atomic(path, data)
            self._note_written(path)
            self.sealed += 1
        self._add(name, plan.digest(data), len(data), kind, group, refs)

    def sealed_object(self, key: str, inputs: str, prefix: str, build: Callable[[], bytes],
                      group: str, refs: Sequence[str] = ()) -> str:
        """An immutable ``obj/`` object; returns its name relative to ``prefix``."""
        hit = self._kept(key, inputs, plan.IMMUTABLE, group, refs)
        if hit is None:
            body = build()
            name = f"{prefix}/obj/{crypto.object_name(body)}.bin"
            self._write(key, inputs, name, body, plan.IMMUTABLE, group, refs)
        else:
            name = hit.name
        return name[len(prefix) + 1:]

    def door(self, name: str, inputs: str, build: Callable[[], bytes], group: str,
             refs: Sequence[str]) -> bool:
        """A pointer object at a fixed name (door or entry), rewritten when its inputs change.

        Returns False, writing nothing, when this export already placed a door at ``name``
        (two patients with one card and one password): the first one keeps its place.
        """
        if name in self.objects:
            return False
        refs = self.shared_names(refs)  # a door's bundle: placed just before it
        if self._kept(name, inputs, plan.POINTER, group, refs) is None:
            self._write(name, inputs, name, build(), plan.POINTER, group, refs)
        return True

    def _note_written(self, path: str) -> None:
        self.written_count += 1
        if self.written_count <= SYNC_EACH_MAX:
            self.written.append(path)

    def flush(self) -> None:
        """Make every written object durable before the plan that names it is committed.

        A few files (an edit) are synced one by one, with their folders; thousands (a full
        export) with one system-wide sync, which is several times faster for them.
        """
        if self.written_count > SYNC_EACH_MAX:
            os.sync()
            return
        for path in self.written:
            _fsync(path, os.O_RDONLY)
        for folder in {os.path.dirname(path) for path in self.written}:
            _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))

    @property
    def strays(self) -> set[str]:
        """Files in the folder that the new plan does not hold."""
        if self.carrying:
            return {n for n in self.dropped if n not in self.objects}
        on_disk = self.on_disk
        assert isinstance(on_disk, set)
        return on_disk - self.objects.keys()

    def remove_strays(self) -> int:
        removed = 0
        for name in self.strays:
            try:
                os.unlink(os.path.join(self.site_dir, name))
            except FileNotFoundError:
                pass
            removed += 1
        return removed
