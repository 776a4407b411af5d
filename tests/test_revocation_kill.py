"""kill -9 of a real ``chartseal publish`` that carries a revocation: between the uploads and the
deletes, and at random points. The next publish deletes the retired doors, and at every kill
each door on the bucket still opens to objects that are there.

CHARTSEAL_TEST_KILLS sets how many random kills (default 4).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WEAK
from s3 import CREDS, aws_env, bucket_objects, moto_server, new_bucket  # noqa: F401
from test_publish_kill import _start_and_kill

from exporter import access, crypto, keystore
from exporter.demo_data import write_demo_clinic
from exporter.home import Database, create_home, load_home
from exporter.site import export_site

CHARTSEAL = str(Path(sys.executable).parent / "chartseal")
# A publish that dies by SIGKILL at the moment it would start deleting.
DIE_BEFORE_DELETES = (
    "import os, signal, sys\n"
    "from publisher import deletes\n"
    "deletes.run_deletes = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
    "import cli\n"
    "cli.main(sys.argv[1:])\n")


def _env(server_url: str) -> dict[str, str]:
    env = dict(os.environ, **CREDS)
    # A grace period far longer than the test: only the rule for doors may delete them.
    env.update({"AWS_ENDPOINT_URL": server_url, "CHARTSEAL_TEST_WEAK_KDF": "1",
                "CHARTSEAL_PUBLISH_GRACE_SECONDS": "3600", "CHARTSEAL_PUBLISH_WORKERS": "4",
                "CHARTSEAL_PUBLISH_BATCH_GROUPS": "10", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    return env


def _home(tmp_path: Path, bucket: str, patients: int):
    db = tmp_path / "clinic.sqlite"
    write_demo_clinic(db, patients=patients, seed=3)
    home = create_home(tmp_path / "home", WEAK)
    conn = keystore.create(home.keys_path)
    access.init_keys(conn)
    conn.close()
    home.databases["main"] = Database("main", db)
    home.config["target"] = f"s3://{bucket}/site"
    home.save()
    return load_home(home.root)


def door_keys(home) -> dict[str, tuple[bytes, bool]]:
    """door id -> (key, is a general entry), for every door the keystore knows now."""
    conn = keystore.connect(home.keys_path)
    try:
        out = {r["door_id"]: (bytes(r["door_key"]), False) for r in conn.execute(
            "SELECT door_id, door_key FROM patients WHERE door_id IS NOT NULL UNION ALL "
            "SELECT door_id, door_key FROM accounts WHERE door_id IS NOT NULL")}
        out[keystore.get_text(conn, "general_door_id")] = (keystore.get_secret(conn, "general_door_key"), False)
        lk, gk = keystore.get_secret(conn, "lk"), keystore.get_secret(conn, "gk")
        for (card,) in conn.execute("SELECT card FROM patients WHERE page_enabled = 1"):
            out[crypto.entry_id(lk, card)] = (gk, True)
        return out
    finally:
        conn.close()


def check_doors(home, held: dict[str, bytes], known: dict[str, tuple[bytes, bool]]) -> set[str]:
    """Every door on the bucket opens with a key we know and names objects that are there."""
    prefix = f"c/{home.clinic_id}/"
    found = set()
    for name, data in held.items():
        if not name.startswith(prefix + "door/"):
            continue
        door_id = Path(name).stem
        key, is_entry = known[door_id]
        payload = crypto.open_door(key, home.clinic_id, door_id, data, entry=is_entry)
        for ref in (payload.get("bundle"), payload.get("index")):
            assert ref is None or prefix + ref in held, f"{name} names {ref}, which is missing"
        found.add(door_id)
    return found


def _revoke(home) -> None:
    """A patient password, an account password and the general password change at once."""
    conn = keystore.connect(home.keys_path)
    card = conn.execute("SELECT card FROM patients ORDER BY card LIMIT 1").fetchone()[0]
    access.set_patient_password(conn, card, "a-new-patient-password", weak_ok=True)
    access.set_account_password(conn, "admin", "a-new-admin-password", weak_ok=True)
    access.set_clinic_password(conn, "general", "a-new-general-password", weak_ok=True)
    conn.close()
    export_site(home)


@pytest.mark.slow
def test_kill_between_uploads_and_deletes_then_the_next_publish_deletes(tmp_path, aws_env, moto_server):
    bucket = new_bucket(moto_server)
    home = _home(tmp_path, bucket, patients=12)
    env = _env(moto_server.url)
    cmd = ["publish", "--home", str(home.root)]
    subprocess.run([CHARTSEAL, *cmd], env=env, check=True, capture_output=True)
    old = door_keys(home)
    _revoke(home)
    new = door_keys(home)
    retired = set(old) - set(new)
    assert len(retired) == 1 + 1 + 1 + 12  # patient door, admin door, general door, entries
    died = subprocess.run([sys.executable, "-c", DIE_BEFORE_DELETES, *cmd, "--no-export"], env=env,
                          capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL, died.stdout + died.stderr
    held = bucket_objects(moto_server.url, bucket, "site")
    on_bucket = check_doors(home, held, old | new)
    assert set(new) <= on_bucket and retired <= on_bucket  # uploaded, nothing deleted yet
    done = subprocess.run([CHARTSEAL, *cmd, "--no-export"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    held = bucket_objects(moto_server.url, bucket, "site")
    assert check_doors(home, held, new) == set(new)
    for path in home.site_dir.rglob("*"):  # and the site as exported is all there
        if path.is_file():
            assert held[path.relative_to(home.site_dir).as_posix()] == path.read_bytes()


@pytest.mark.slow
def test_kill_nine_at_random_points_of_a_revoking_publish(tmp_path, aws_env, moto_server):
    kills = int(os.environ.get("CHARTSEAL_TEST_KILLS", "4"))
    rng = random.Random(int(os.environ.get("CHARTSEAL_TEST_SEED", "11")))
    bucket = new_bucket(moto_server)
    home = _home(tmp_path, bucket, patients=60)
    env = _env(moto_server.url)
    cmd = [CHARTSEAL, "publish", "--no-export", "--home", str(home.root)]
    export_site(home)
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    old = door_keys(home)
    _revoke(home)
    new = door_keys(home)
    outcomes = []
    for _ in range(kills):
        outcomes.append(_start_and_kill(cmd, env, moto_server, bucket, rng))
        check_doors(home, bucket_objects(moto_server.url, bucket, "site"), old | new)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    held = bucket_objects(moto_server.url, bucket, "site")
    assert check_doors(home, held, new) == set(new), outcomes  # every retired door is gone
    assert outcomes.count("killed") >= max(1, kills // 2), outcomes
