"""publisher.detached.spawn: a chartseal command that outlives the process that started it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from publisher import detached


def _wait(what, check, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_child_outlives_its_parent_and_writes_its_log(home):
    # The parent is a process of its own that spawns the service and exits at once.
    code = textwrap.dedent(f"""
        from publisher.detached import spawn
        print(spawn({str(home.root)!r}, ["service", "run"], "detached-test.log"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    pid = int(out.strip())
    try:
        assert detached.pid_alive(pid), "the child died with its parent"
        assert os.getsid(pid) == pid, "the child must lead a session of its own"
        log = home.root / "logs" / "detached-test.log"
        assert "start: chartseal service run" in log.read_text()
        # The service it runs is really this home's service.
        _wait("the service heartbeat", lambda: (home.root / "service.lock").exists()
              and (home.root / "service.lock").read_text().strip() == str(pid))
    finally:
        os.kill(pid, signal.SIGTERM)
    _wait("the service to stop", lambda: not detached.pid_alive(pid))


def test_child_output_is_appended_to_the_log(home):
    log = home.root / "logs" / "bad.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("earlier line\n")
    pid = detached.spawn(home, ["no-such-command"], "bad.log")
    _wait("the child to exit", lambda: not detached.pid_alive(pid))
    text = log.read_text()
    assert text.startswith("earlier line\n")
    assert "No such command" in text


def test_pid_alive_is_false_for_a_reaped_or_zombie_child():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    _wait("the child to exit", lambda: detached.pid_alive(proc.pid) is False or proc.poll() is not None)
    # Not reaped yet: a zombie still answers kill(pid, 0), and must not count as alive.
    time.sleep(0.3)
    assert not detached.pid_alive(proc.pid)
    proc.wait()
    assert not detached.pid_alive(proc.pid)
    assert not detached.pid_alive(None) and not detached.pid_alive(0)


@pytest.mark.parametrize("name", ["", "../x.log", "a/b.log", ".hidden"])
def test_log_name_must_be_a_plain_file_name(home, name):
    with pytest.raises(ValueError):
        detached.spawn(home, ["service", "status"], name)
