"""Install the service to start with the user's session: a systemd user unit on Linux, a
launchd agent on macOS, a Task Scheduler task on Windows.

Each install writes one file named after the clinic ID (several clinic homes can each have
their own service) and runs the platform's command to start it. When that command is not
available (no systemd in a container, say), the file is still written and the commands are
printed for the user to run.
"""
from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

from .service_status import ServiceError

PLATFORMS = ("linux", "darwin", "win32")


@dataclass
class InstallPlan:
    platform: str
    name: str                    # unit, label or task name
    path: Path                   # the file written
    content: bytes
    start: list[list[str]] = field(default_factory=list)   # run after writing the file
    stop: list[list[str]] = field(default_factory=list)    # run before removing it

    @property
    def text(self) -> str:
        enc = "utf-16" if self.platform == "win32" else "utf-8"
        return self.content.decode(enc)


def service_argv(root: Path) -> list[str]:
    """How to start this installation's service: the chartseal script beside this Python."""
    bindir = Path(sys.executable).parent
    for script in ("chartseal", "chartseal.exe"):
        if (bindir / script).exists():
            return [str(bindir / script), "service", "run", "--home", str(root)]
    return [sys.executable, "-m", "cli", "service", "run", "--home", str(root)]


def plan_install(root: Path, clinic_id: str, platform: str | None = None,
                 env: dict[str, str] | None = None) -> InstallPlan:
    env = dict(os.environ if env is None else env)
    platform = platform or sys.platform
    argv = service_argv(root)
    if platform.startswith("linux"):
        return _systemd(root, clinic_id, argv, env)
    if platform == "darwin":
        return _launchd(root, clinic_id, argv, env)
    if platform == "win32":
        return _schtasks(root, clinic_id, argv)
    raise ServiceError(f"no service installer for the platform {platform!r}",
                       hint="start it from your session's autostart: " + " ".join(argv))


# -- Linux: systemd user unit -----------------------------------------------------------
def _systemd_quote(arg: str) -> str:
    """Quote one ExecStart word: systemd splits on spaces and expands % specifiers."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\"'\\;$"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd(root: Path, clinic_id: str, argv: list[str], env: dict[str, str]) -> InstallPlan:
    config = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", "~")).expanduser() / ".config")
    name = f"chartseal-{clinic_id}.service"
    unit = "\n".join([
        "[Unit]",
        f"Description=chartseal: publish clinic {clinic_id} on every change",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(a) for a in argv),
        # SIGTERM stops the queue between rounds; give a large upload round time to finish.
        "KillSignal=SIGTERM",
        "TimeoutStopSec=60",
        "Restart=on-failure",
        "RestartSec=10",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ])
    return InstallPlan("linux", name, config / "systemd" / "user" / name, unit.encode(),
                       start=[["systemctl", "--user", "daemon-reload"],
                              ["systemctl", "--user", "enable", "--now", name]],
                       stop=[["systemctl", "--user", "disable", "--now", name],
                             ["systemctl", "--user", "daemon-reload"]])


# -- macOS: launchd agent ---------------------------------------------------------------
def _launchd(root: Path, clinic_id: str, argv: list[str], env: dict[str, str]) -> InstallPlan:
    label = f"org.chartseal.service.{clinic_id}"
    logs = root / "logs"
    agent = {
        "Label": label,
        "ProgramArguments": argv,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart after a crash, not after a stop
        "ProcessType": "Background",
        "StandardOutPath": str(logs / "service.stdout.log"),
        "StandardErrorPath": str(logs / "service.stderr.log"),
    }
    home = Path(env.get("HOME", "~")).expanduser()
    uid = str(os.getuid()) if hasattr(os, "getuid") else "501"
    return InstallPlan("darwin", label, home / "Library" / "LaunchAgents" / f"{label}.plist",
                       plistlib.dumps(agent),
                       start=[["launchctl", "bootstrap", f"gui/{uid}",
                               str(home / "Library" / "LaunchAgents" / f"{label}.plist")]],
                       stop=[["launchctl", "bootout", f"gui/{uid}/{label}"]])


# -- Windows: Task Scheduler ------------------------------------------------------------
def _schtasks(root: Path, clinic_id: str, argv: list[str]) -> InstallPlan:
    name = f"chartseal\\service-{clinic_id}"
    args = " ".join(f'"{a}"' if " " in a else a for a in argv[1:])
    xml = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo><Description>chartseal: publish clinic {clinic_id} on every change</Description></RegistrationInfo>
  <Triggers><LogonTrigger><Enabled>true</Enabled></LogonTrigger></Triggers>
  <Principals><Principal id="Author"><LogonType>InteractiveToken</LogonType><RunLevel>LeastPrivilege</RunLevel></Principal></Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count></RestartOnFailure>
    <Hidden>true</Hidden>
  </Settings>
  <Actions Context="Author"><Exec><Command>{escape(argv[0])}</Command><Arguments>{escape(args)}</Arguments></Exec></Actions>
</Task>
"""
    path = root / "service-task.xml"
    return InstallPlan("win32", name, path, xml.encode("utf-16"),
                       start=[["schtasks", "/Create", "/TN", name, "/XML", str(path), "/F"],
                              ["schtasks", "/Run", "/TN", name]],
                       stop=[["schtasks", "/End", "/TN", name],
                             ["schtasks", "/Delete", "/TN", name, "/F"]])


# -- doing it ---------------------------------------------------------------------------
Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: list[str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def run_commands(cmds: list[list[str]], runner: Runner = _run) -> list[str]:
    """Run each command whose program exists; return what the user must still do by hand."""
    left: list[str] = []
    for i, cmd in enumerate(cmds):
        if shutil.which(cmd[0]) is None:
            return left + [" ".join(c) for c in cmds[i:]]
        done = runner(cmd)
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()
            left.append(" ".join(cmd) + (f"   # failed: {why[-1]}" if why else "   # failed"))
    return left


def install(plan: InstallPlan, runner: Runner = _run) -> list[str]:
    plan.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = plan.path.with_name(plan.path.name + ".tmp")
    tmp.write_bytes(plan.content)
    os.replace(tmp, plan.path)
    return run_commands(plan.start, runner)


def uninstall(plan: InstallPlan, runner: Runner = _run) -> tuple[bool, list[str]]:
    """Stop and remove; returns (a file was removed, commands left for the user)."""
    if not plan.path.exists():
        return False, []
    left = run_commands(plan.stop[:1], runner)
    plan.path.unlink()
    return True, left + run_commands(plan.stop[1:], runner)
