"""Start a chartseal command as a process of its own, detached from the one that asks.

The console's buttons (publish, update all, synchronize, start the service) must keep working
after the page or the console itself is closed, so the command runs in a new session with no
terminal, stdin from /dev/null and its output appended to a log in the clinic home. The
caller gets the PID back and learns the rest from the files the command writes (the job
status, the service heartbeat), never from a pipe.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from exporter.home import Home

from .errors import PublishError


def chartseal_argv() -> list[str]:
    """How to run this installation's chartseal: the script beside this Python, else ``-m cli``."""
    bindir = Path(sys.executable).parent
    for script in ("chartseal", "chartseal.exe"):
        if (bindir / script).exists():
            return [str(bindir / script)]
    return [sys.executable, "-m", "cli"]


def log_path(home: Home | Path, log_name: str) -> Path:
    root = home.root if isinstance(home, Home) else Path(home)
    if not log_name or "/" in log_name or "\\" in log_name or log_name.startswith("."):
        raise ValueError(f"log_name must be a plain file name, got {log_name!r}")
    return root / "logs" / log_name


def spawn(home: Home | Path, args: list[str], log_name: str) -> int:
    """Run ``chartseal <args...> --home <home>`` detached; return its PID.

    ``--home`` goes last because it is an option of each subcommand, not of the group
    (``service run --home H``, ``publish --all --home H``).
    """
    root = home.root if isinstance(home, Home) else Path(home)
    log = log_path(root, log_name)
    argv = chartseal_argv() + list(args) + ["--home", str(root)]
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")
    except OSError as exc:
        raise PublishError(f"cannot write the log {log}: {exc.strerror or exc}",
                           hint="check the clinic home's disk and permissions") from exc
    try:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        out.write(f"--- {stamp} start: chartseal {' '.join(args)}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=root, close_fds=True, **_detach_flags())
    except OSError as exc:
        raise PublishError(f"cannot start chartseal {' '.join(args)}: {exc.strerror or exc}",
                           hint=f"run it by hand to see why: {' '.join(argv)}") from exc
    finally:
        out.close()
    # Reap the child when it ends, or a long-lived caller (the console) would keep it as a
    # zombie that still answers kill(pid, 0) and looks alive to the stale-job check.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc.pid


def _detach_flags() -> dict[str, object]:
    if sys.platform == "win32":
        flags = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        return {"creationflags": flags}
    # A new session: no controlling terminal, and Ctrl+C or SIGHUP in the caller's
    # terminal does not reach the child.
    return {"start_new_session": True}


def pid_alive(pid: int | None) -> bool:
    """True when a process with this PID exists and is not a zombie."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill()
    # The state letter follows the command name, which is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]
