"""Start and stop the background service from a command or the console (``service start|stop``).

Start runs ``chartseal service run`` detached (its own session, output in
``logs/service-start.log``), so it keeps running after the console or terminal is closed.
Stop sends SIGTERM to the process holding the service lock and waits until the lock is free;
the service ends between rounds and nothing queued is lost.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from exporter.home import Home

from . import detached
from .service_status import AlreadyRunning, ServiceError, lock_holder, read_status

START_LOG = "service-start.log"


def start(home: Home, wait: float = 10.0) -> int:
    """Start the service detached; returns its PID once it holds the lock."""
    holder = lock_holder(home.root)
    if holder is not None:
        raise AlreadyRunning(f"the service is already running (PID {holder or '?'})",
                             hint="see it with: chartseal service status")
    pid = detached.spawn(home, ["service", "run"], START_LOG)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if lock_holder(home.root) is not None:
            return pid
        if not detached.pid_alive(pid):
            break
        time.sleep(0.1)
    log = detached.log_path(home, START_LOG)
    if detached.pid_alive(pid):
        return pid  # still starting (a slow disk): the status shows when it is up
    raise ServiceError("the service stopped right after it started",
                       hint=f"see why in {log}, or run it in a terminal: chartseal service run")


def stop(home: Home | Path, wait: float = 30.0) -> int:
    """Ask the running service to stop (SIGTERM) and wait until it has; returns its PID."""
    root = home.root if isinstance(home, Home) else Path(home)
    status = read_status(root)
    if not status.running:
        raise ServiceError("the service is not running", hint="start it with: chartseal service start")
    pid = lock_holder(root) or status.pid
    if not pid:
        raise ServiceError("the service is running but its PID is unknown",
                           hint=f"stop it by hand; its lock is {root / 'service.lock'}")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return pid
    except PermissionError as exc:
        raise ServiceError(f"not allowed to stop the service (PID {pid})",
                           hint="it was started by another user; stop it as that user") from exc
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if lock_holder(root) is None:
            return pid
        time.sleep(0.1)
    raise ServiceError(f"the service (PID {pid}) has not stopped after {wait:.0f} s",
                       hint="it finishes the current upload first; look again in a minute")
