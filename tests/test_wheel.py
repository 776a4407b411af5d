"""The package as a clinic's IT person gets it: an sdist and a wheel built from the checkout,
installed (not editable) in a fresh virtual environment outside it, then the demo run with no
Node.js and no node_modules anywhere in reach, and a patient page opened in Chromium."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from browser import browser, page_watch, wait_state  # noqa: F401 - fixtures

from site_templates import libsodium

REPO = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _run(*args, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, clean environment, a working folder) with the built wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    assert REPO not in root.parents
    dist = root / "dist"
    # sdist first, then the wheel from the unpacked sdist: both paths carry libsodium.js.
    _run(sys.executable, "-m", "build", "--outdir", dist, REPO)
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv)
    wheel = next(dist.glob("chartseal-*.whl"))
    _run(venv / "bin" / "pip", "install", "--quiet", wheel)
    # Only the venv on PATH: no node, no npm. No PYTHONPATH, so nothing comes from the checkout.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "CHARTSEAL_NODE_MODULES", "CHARTSEAL_HOME", "VIRTUAL_ENV")}
    env.update(PATH=str(venv / "bin"), CHARTSEAL_TEST_WEAK_KDF="1", PYTHONUNBUFFERED="1")
    work = root / "work"
    work.mkdir()
    return venv / "bin", env, work, wheel, dist


def test_the_wheel_and_sdist_carry_the_checked_libsodium_and_the_schema(installed):
    _, _, _, wheel, dist = installed
    names = zipfile.ZipFile(wheel).namelist()
    for name in (*libsodium.FILES, "libsodium.json", "libsodium-sumo.LICENSE"):
        assert f"site_templates/vendor/{name}" in names
    assert "exporter/CLINIC_DB.md" in names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in meta and "# chartseal" in meta
    runtime = [line.split()[1].lower() for line in meta.splitlines()
               if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert runtime and not [r for r in runtime if r.startswith(("pytest", "moto", "playwright", "awscli"))]
    sdist = next(dist.glob("chartseal-*.tar.gz"))
    assert any(n.endswith("site_templates/vendor/libsodium-sumo.mjs") for n in tarfile.open(sdist).getnames())


def test_the_installed_package_runs_from_site_packages(installed):
    bin_, env, work, _, _ = installed
    where = _run(bin_ / "python", "-c", "import cli, site_templates; print(cli.__file__, site_templates.__file__)",
                 env=env, cwd=work).stdout
    assert str(REPO) not in where and "site-packages" in where
    schema = _run(bin_ / "chartseal", "schema", env=env, cwd=work).stdout
    assert schema == (REPO / "docs" / "CLINIC_DB.md").read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_from_the_wheel_opens_a_patient_page_in_chromium(installed, page_watch):
    bin_, env, work, _, _ = installed
    page, watch = page_watch
    home = work / "demo-clinic"
    out = _run(bin_ / "chartseal", "demo", "--no-serve", "--patients", 5, "--fast-kdf", "--home", home,
               "--json", work / "demo.json", env=env, cwd=work).stdout
    # It says how to reach the command, which need not be on PATH.
    assert f"clinic commands:   {bin_ / 'chartseal'} --help" in out
    info = json.loads((work / "demo.json").read_text())
    port = _free_port()
    server = subprocess.Popen([bin_ / "chartseal", "serve", "--home", home, "--port", str(port)],
                              env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stdout:
            if line.startswith("press Ctrl+C"):
                break
        patient = info["patients"][0]
        page.goto(f"http://127.0.0.1:{port}/patient/?c={info['clinic_id']}")
        wait_state(page, "login")
        page.get_by_label("Card number").fill(patient["card"])
        page.get_by_label("Password").fill(patient["password"])
        page.get_by_role("button", name="Go to my page").click()
        assert wait_state(page, "ready", "error") == "ready"
        assert patient["name"].split()[-1] in page.locator("#record").inner_text()
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert any("/assets/libsodium-sumo." in url for url in watch.requests)
    assert watch.page_errors == []
