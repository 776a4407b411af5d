"""A missing or damaged keystore in an initialised home is refused by every command that opens
it, and by the service: `error:` + a hint to restore a backup, no traceback, nothing made."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from conftest import make_clinic_db

from exporter import access, keystore

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "chartseal"
HINT = "hint: restore it from a backup (chartseal backup restore FILE)"

# Every command that opens the keystore (the service is run as a real process below).
COMMANDS = [
    ["accounts", "list"],
    ["accounts", "create", "dr.new"],
    ["accounts", "delete", "dr.x"],
    ["accounts", "password", "dr.x"],
    ["share", "main", "--with", "dr.x"],
    ["unshare", "main", "--with", "dr.x"],
    ["shares"],
    ["patient-page", "disable", "1001"],
    ["patient-page", "password", "1001", "--new"],
    ["passwords", "show"],
    ["passwords", "set", "general"],
    ["export"],
    ["publish"],
    ["notes", "fetch"],
    ["backup", "create"],
    ["backup", "key"],
]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """An initialised, exported home, kept pristine; each case works on a copy."""
    base = tmp_path_factory.mktemp("guard")
    home = base / "home"
    runner = CliRunner()
    for args in (["init", "--kdf-ops", 1, "--kdf-mem", 8192],
                 ["db", "add", "main", make_clinic_db(base / "main.sqlite")],
                 ["accounts", "create", "dr.x"], ["publish"]):
        result = runner.invoke(main, [str(a) for a in args] + ["--home", str(home)])
        assert result.exit_code == 0, result.output
    return home


def _break(home: Path, how: str) -> bytes | None:
    keys = home / "keys.sqlite"
    for side in ("keys.sqlite-wal", "keys.sqlite-shm"):
        (home / side).unlink(missing_ok=True)
    data = keys.read_bytes()
    if how == "missing":
        keys.unlink()
        return None
    broken = {"emptied": b"", "garbage": os.urandom(len(data)),
              "truncated": data[: len(data) // 2],
              "scribbled": data[:4096] + b"\xff" * 8192 + data[4096 + 8192:]}[how]
    keys.write_bytes(broken)
    return broken


# Lock files, and the publish job's record of how it ended (here: with this error).
NOT_DATA = (".lock", ".config.lock", "publish-job.json", "last-publish.json")


def _tree(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): p.stat().st_size for p in home.rglob("*")
            if p.is_file() and p.name not in NOT_DATA}


def _copy(made: Path, tmp_path: Path) -> Path:
    import shutil

    # The clinic database stays where config.toml names it; only the home is copied.
    home = tmp_path / "home"
    shutil.copytree(made, home)
    cfg = (home / "config.toml").read_text()
    (home / "config.toml").write_text(cfg.replace(str(made), str(home)))
    return home


@pytest.mark.parametrize("how", ["missing", "emptied", "garbage", "truncated", "scribbled"])
def test_every_command_refuses_a_lost_or_damaged_keystore(made, tmp_path, how):
    home = _copy(made, tmp_path)
    broken = _break(home, how)
    before = _tree(home)
    word = "missing" if how == "missing" else "damaged"
    for args in COMMANDS:
        result = CliRunner().invoke(main, args + ["--home", str(home)])
        out = result.output
        assert result.exit_code == 1, (args, out)
        assert f"error: the keystore is {word}" in out and HINT in out, (args, out)
        assert "Traceback" not in out and isinstance(result.exception, SystemExit), (args, out)
        # Nothing was made in its place, nothing written next to it, the damage left as found.
        assert _tree(home) == before, args
        keys = home / "keys.sqlite"
        assert (not keys.exists()) if broken is None else keys.read_bytes() == broken, args


@pytest.mark.parametrize("how", ["missing", "truncated"])
def test_the_service_refuses_to_start(made, tmp_path, how):
    home = _copy(made, tmp_path)
    _break(home, how)
    env = dict(os.environ, CHARTSEAL_TEST_WEAK_KDF="1")
    proc = subprocess.run([str(EXE), "service", "run", "--home", str(home)], env=env,
                          capture_output=True, text=True, timeout=60)
    word = "missing" if how == "missing" else "damaged"
    assert proc.returncode == 1, proc.stderr
    assert f"error: the keystore is {word}" in proc.stderr and HINT in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert (home / "keys.sqlite").exists() == (how != "missing")


def test_a_running_service_does_not_remake_a_lost_keystore(made, tmp_path):
    """Lost while the service runs: each export fails with the message, nothing is made."""
    from publisher.service import Service

    home = _copy(made, tmp_path)
    service = Service(home)
    (home / "keys.sqlite").unlink()
    for side in ("keys.sqlite-wal", "keys.sqlite-shm"):
        (home / side).unlink(missing_ok=True)
    service._step()
    assert "the keystore is missing" in service.beat.last_error
    assert "chartseal backup restore" in service.beat.last_error
    assert not (home / "keys.sqlite").exists()


def test_init_never_overwrites_a_keystore(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "keys.sqlite").write_bytes(b"precious")
    result = CliRunner().invoke(main, ["init", "--home", str(home), "--kdf-ops", "1",
                                       "--kdf-mem", "8192"])
    assert result.exit_code == 1 and "error: a keystore already exists" in result.output
    assert (home / "keys.sqlite").read_bytes() == b"precious"


@pytest.mark.parametrize("how", ["missing", "garbage", "truncated"])
def test_queue_and_log_list_without_a_keystore_and_refuse_a_damaged_one(made, tmp_path, how):
    """They only look card numbers up: without a keystore the lists show by group id; a
    damaged one is refused with the restore hint like everywhere; nothing is made or changed."""
    home = _copy(made, tmp_path)
    broken = _break(home, how)
    for args in (["queue"], ["log"]):
        result = CliRunner().invoke(main, args + ["--home", str(home)])
        out = result.output
        assert "Traceback" not in out and isinstance(result.exception, (SystemExit, type(None))), out
        if broken is None:
            assert result.exit_code == 0, (args, out)
            assert args == ["queue"] or "(clinic)" in out  # the published groups still listed
        else:
            assert result.exit_code == 1 and "error: the keystore is damaged" in out, (args, out)
            assert HINT in out, (args, out)
    keys = home / "keys.sqlite"
    assert (not keys.exists()) if broken is None else keys.read_bytes() == broken


@pytest.mark.parametrize("how", ["missing", "truncated"])
def test_the_console_says_so_on_every_page_that_needs_the_keystore(made, tmp_path, how):
    from console.app import create_app
    from exporter.home import load_home

    home = _copy(made, tmp_path)
    broken = _break(home, how)
    base = "http://127.0.0.1:5556"
    client = create_app(load_home(home), "t" * 32, port=5556).test_client()
    assert client.get("/?token=" + "t" * 32, base_url=base).status_code == 303
    word = "missing" if how == "missing" else "damaged"
    for path in ("/accounts", "/patients", "/sharing"):
        page = client.get(path, base_url=base)
        body = page.get_data(as_text=True)
        assert page.status_code == 503 and f"error: the keystore is {word}" in body, path
        assert "hint: restore it from a backup (chartseal backup restore FILE)" in body, path
    keys = home / "keys.sqlite"
    assert (not keys.exists()) if broken is None else keys.read_bytes() == broken


WRITER = '''
import sys, threading
from pathlib import Path
from exporter import access, keystore
path, tag, errors = Path(sys.argv[1]), sys.argv[2], []
def work(i):
    for j in range(10):
        try:
            conn = keystore.connect(path)
            try:
                access.create_account(conn, f"{tag}{i}x{j}")
            finally:
                conn.close()
        except Exception as exc:
            errors.append(repr(exc))
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
print("\\n".join(errors))
sys.exit(1 if errors else 0)
'''


def test_a_healthy_keystore_is_never_called_damaged_while_others_write(tmp_path):
    """Two consoles and a service write at once: opening the keystore must not see damage."""
    import subprocess
    import sys

    path = tmp_path / "keys.sqlite"
    conn = keystore.create(path)
    access.init_keys(conn)
    conn.close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag], stdout=subprocess.PIPE,
                              text=True) for tag in ("a", "b", "c")]
    outs = [(p.communicate(timeout=120)[0], p.returncode) for p in procs]
    assert all(code == 0 for _, code in outs), outs
    conn = keystore.connect(path)
    try:
        names = {a.name for a in access.list_accounts(conn)}
    finally:
        conn.close()
    assert {f"{t}{i}x{j}" for t in "abc" for i in range(4) for j in range(10)} <= names
