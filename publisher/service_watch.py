"""What the service watches, and the watcher thread (watchfiles, i.e. inotify/FSEvents/ReadDirectoryChanges).

The folders are watched rather than the files: SQLite creates and deletes the -wal and
-journal files, and a watch on a deleted file goes blind. Events are only a hint; whether
anything really changed is decided by a fingerprint (size, mtime, inode) of the files, so
the service's own reads of the keystore (which create and remove its WAL) do not start
another export.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from exporter.home import CONFIG, KEYS, Home

from .service_status import ServiceSettings

log = logging.getLogger("chartseal.service")
SUFFIXES = ("", "-wal", "-journal")


def watched_files(home: Home) -> list[Path]:
    """Each automatically updated database with its WAL and journal, the config, the keystore."""
    files = [home.root / CONFIG, home.root / KEYS, home.root / f"{KEYS}-wal"]
    for db in sorted(home.databases.values(), key=lambda d: d.name):
        if db.auto_update:
            path = db.path.expanduser().absolute()
            files += [path.with_name(path.name + s) for s in SUFFIXES]
    return files


def fingerprint(files: list[Path]) -> tuple[tuple[str, int, int, int], ...]:
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append((str(f), -1, -1, -1))
    return tuple(out)


STEP_MS = 50  # watchfiles yields changes once the files have been quiet this long

class _Either:
    """A stop event for watchfiles that fires on service stop or when the folders change."""

    def __init__(self, *events: threading.Event) -> None:
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class Watcher:
    def __init__(self, stop: threading.Event, on_change: Callable[[], None],
                 settings: ServiceSettings) -> None:
        self.stop, self.on_change, self.settings = stop, on_change, settings
        self.rewatch = threading.Event()
        self.guard = threading.Lock()
        self.dirs: list[Path] = []
        self.files: set[str] = set()
        self.names: list[str] = []      # databases watched
        self.paused: list[str] = []     # databases with automatic update off
        self.first_event = self.last_event = 0.0
        self.thread: threading.Thread | None = None

    def follow(self, home: Home) -> None:
        """Watch what ``home`` names now (a database may have been added or switched off)."""
        files = watched_files(home)
        dirs = sorted({f.parent for f in files})
        with self.guard:
            self.names = sorted(n for n, d in home.databases.items() if d.auto_update)
            self.paused = sorted(n for n, d in home.databases.items() if not d.auto_update)
            if dirs != self.dirs or {f.name for f in files} != self.files:
                self.dirs, self.files = dirs, {f.name for f in files}
                self.rewatch.set()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="service-watch", daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=10)

    def settle(self, stop: threading.Event) -> None:
        """Return once writes have been quiet for the debounce time (or the cap has passed)."""
        s = self.settings
        while not stop.is_set():
            now = time.monotonic()
            # watchfiles reports a change only after STEP_MS of quiet: count that in.
            quiet_at = self.last_event + max(0.0, s.debounce_seconds - STEP_MS / 1000)
            cap_at = self.first_event + s.debounce_max_seconds
            if now >= quiet_at or now >= cap_at:
                break
            stop.wait(min(quiet_at, cap_at) - now)
        self.first_event = 0.0

    def _event(self) -> None:
        now = time.monotonic()
        if not self.first_event:
            self.first_event = now
        self.last_event = now
        self.on_change()

    def _loop(self) -> None:
        import watchfiles

        while not self.stop.is_set():
            with self.guard:
                self.rewatch.clear()
                dirs, names = [d for d in self.dirs if d.is_dir()], set(self.files)
            if not dirs:
                self.rewatch.wait(1.0)
                continue

            def wanted(_change: object, path: str, names: set[str] = names) -> bool:
                return Path(path).name in names

            try:
                for _changes in watchfiles.watch(
                        *dirs, watch_filter=wanted, debounce=int(self.settings.debounce_seconds * 1000),
                        step=STEP_MS, stop_event=_Either(self.stop, self.rewatch), recursive=False,
                        raise_interrupt=False):
                    self._event()
            except Exception as exc:  # a folder vanished, too many watches: retry shortly
                log.warning("watching %s failed: %s; retrying", ", ".join(map(str, dirs)), exc)
                self.stop.wait(2.0)
            if not self.stop.is_set():
                self._event()  # the folders changed: look once in case something was missed
