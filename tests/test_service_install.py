"""`service install|uninstall` (dry runs for every platform, a real install into a temporary
XDG_CONFIG_HOME without systemctl), `service status` when stopped, the lock, the settings,
and the in-process service the demo runs."""
from __future__ import annotations

import json
import os
import plistlib
import sqlite3
import threading
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from service_kit import patient_html, quietly, wait_for

import cli
from publisher import service_install
from publisher.service import run_in_thread
from publisher.service_status import (AlreadyRunning, ServiceError, ServiceLock, ServiceSettings,
                                      lock_holder, read_status)


def invoke(*args, env=None):
    return CliRunner().invoke(cli.main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def no_systemctl(monkeypatch, tmp_path):
    """A PATH without systemctl, and a config folder in tmp: nothing outside it is touched."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def test_install_dry_run_linux_prints_the_unit_and_writes_nothing(home, no_systemctl):
    r = invoke("service", "install", "--dry-run", "--platform", "linux", "--home", str(home.root))
    assert r.exit_code == 0, r.output
    unit = no_systemctl / "systemd" / "user" / f"chartseal-{home.clinic_id}.service"
    assert f"# would write {unit}" in r.output
    assert "service run --home " + str(home.root) in r.output
    assert "[Install]\nWantedBy=default.target" in r.output
    assert "# then run: systemctl --user enable --now" in r.output
    assert not unit.exists()


def test_install_dry_run_macos_and_windows_are_valid_files(home):
    r = invoke("service", "install", "--dry-run", "--platform", "darwin", "--home", str(home.root))
    assert r.exit_code == 0
    plist = plistlib.loads(r.output.split("\n", 1)[1].split("# then run:")[0].encode())
    assert plist["Label"] == f"org.chartseal.service.{home.clinic_id}"
    assert plist["ProgramArguments"][-4:] == ["service", "run", "--home", str(home.root)]
    assert plist["RunAtLoad"] is True
    r = invoke("service", "install", "--dry-run", "--platform", "win32", "--home", str(home.root))
    assert r.exit_code == 0
    xml = r.output.split("\n", 1)[1].split("# then run:")[0]
    task = ET.fromstring(xml.encode("utf-16"))
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert task.find(".//t:LogonTrigger", ns) is not None
    assert str(home.root) in task.find(".//t:Arguments", ns).text
    assert "schtasks /Create /TN chartseal\\service-" in r.output


def test_install_then_uninstall_without_systemctl(home, no_systemctl):
    unit = no_systemctl / "systemd" / "user" / f"chartseal-{home.clinic_id}.service"
    r = invoke("service", "install", "--home", str(home.root))
    assert r.exit_code == 0, r.output
    assert unit.exists() and "ExecStart=" in unit.read_text()
    assert "to start it, run:" in r.output
    assert f"systemctl --user enable --now chartseal-{home.clinic_id}.service" in r.output
    assert "to remove it: chartseal service uninstall" in r.output
    r = invoke("service", "uninstall", "--dry-run", "--home", str(home.root))
    assert f"# would remove {unit}" in r.output and unit.exists()
    r = invoke("service", "uninstall", "--home", str(home.root))
    assert r.exit_code == 0 and f"removed chartseal-{home.clinic_id}.service" in r.output
    assert "still to run: systemctl --user disable --now" in r.output
    assert not unit.exists()
    r = invoke("service", "uninstall", "--home", str(home.root))
    assert "not installed" in r.output


def test_install_runs_systemctl_when_present(home, no_systemctl, tmp_path):
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "systemctl"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    fake.chmod(0o755)
    r = invoke("service", "install", "--home", str(home.root))
    assert r.exit_code == 0, r.output
    assert "started; check it with: chartseal service status" in r.output
    name = f"chartseal-{home.clinic_id}.service"
    assert calls.read_text().splitlines() == ["--user daemon-reload", f"--user enable --now {name}"]
    fake.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n")
    r = invoke("service", "uninstall", "--home", str(home.root))
    assert "# failed: Failed to connect to bus" in r.output  # said plainly, file still removed
    assert not (no_systemctl / "systemd" / "user" / name).exists()


def test_systemd_quoting_of_odd_paths():
    assert service_install._systemd_quote("/plain/path") == "/plain/path"
    assert service_install._systemd_quote("/my clinic/100%") == '"/my clinic/100%%"'
    assert service_install._systemd_quote('a"b\\c') == '"a\\"b\\\\c"'


def test_platform_option_refuses_a_real_install_elsewhere(home, no_systemctl):
    r = CliRunner().invoke(cli.main, ["service", "install", "--platform", "win32", "--home", str(home.root)])
    assert r.exit_code != 0 and "only with --dry-run" in r.output


def test_status_when_never_started(home):
    r = invoke("service", "status", "--home", str(home.root))
    assert r.exit_code == 3
    assert "service:        not running" in r.output
    assert "hint: start it with: chartseal service run" in r.output
    r = invoke("service", "status", "--json", "--home", str(home.root))
    data = json.loads(r.output)
    assert r.exit_code == 3 and data["running"] is False and data["queue"] == 0


def test_lock_refuses_a_second_holder_and_names_the_pid(home):
    first = ServiceLock(home.root)
    first.acquire()
    try:
        assert lock_holder(home.root) == os.getpid()
        with pytest.raises(AlreadyRunning, match=rf"already running .* \(PID {os.getpid()}\)"):
            ServiceLock(home.root).acquire()
        assert read_status(home.root).running
    finally:
        first.release()
    assert lock_holder(home.root) is None and not read_status(home.root).running


def test_status_says_not_responding_when_the_heartbeat_is_old(home):
    lock = ServiceLock(home.root)
    lock.acquire()
    try:
        (home.root / "service.json").write_text(json.dumps({"pid": os.getpid(), "started": 1.0, "beat": 2.0}))
        st = read_status(home.root)
        assert st.running and not st.responding
        r = invoke("service", "status", "--home", str(home.root))
        assert "NOT RESPONDING" in r.output and r.exit_code == 4  # a monitor must see it
        (home.root / "service.json").write_text("{not json")  # a damaged file is not a crash
        assert read_status(home.root).running and not read_status(home.root).responding
    finally:
        lock.release()


def test_settings_from_env_reject_bad_numbers():
    assert ServiceSettings.from_env({"CHARTSEAL_SERVICE_BEAT_SECONDS": "0.5"}).beat_seconds == 0.5
    with pytest.raises(ServiceError, match="CHARTSEAL_SERVICE_NOTES_SECONDS: expected a number, got 'soon'"):
        ServiceSettings.from_env({"CHARTSEAL_SERVICE_NOTES_SECONDS": "soon"})


def test_run_in_thread_publishes_changes_and_stops(home, monkeypatch):
    monkeypatch.setenv("CHARTSEAL_SERVICE_BEAT_SECONDS", "0.5")
    stop = threading.Event()
    thread = run_in_thread(home.root, stop)
    try:
        with pytest.raises(AlreadyRunning):
            run_in_thread(home.root, threading.Event())
        wait_for("first publish", quietly(lambda: "Filling" in patient_html(home, "1001")))
        conn = sqlite3.connect(home.databases["main"].path)
        with conn:
            # stamped, as the clinic program does: the service reads the rows whose stamp moved
            conn.execute("UPDATE patients SET surname = 'Haddad-Nour', modified_at = '2026-11-30T10:00:00' WHERE id = 1")
        conn.close()
        wait_for("the edit", quietly(lambda: "Haddad-Nour" in patient_html(home, "1001")))
        assert read_status(home.root).running
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert not read_status(home.root).running
