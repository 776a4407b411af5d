"""The checked libsodium.js copy a built package carries, and `chartseal schema` (fast; the
whole build-install-run path is tests/test_wheel.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from site_templates import build, libsodium

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path):
    """A copy of what setup.py reads: package-lock.json and the two npm packages."""
    (tmp_path / "package-lock.json").write_bytes((REPO / "package-lock.json").read_bytes())
    for pkg in libsodium.PACKAGES:
        shutil.copytree(REPO / "node_modules" / pkg, tmp_path / "node_modules" / pkg)
    return tmp_path


def test_write_vendor_copies_the_pinned_files_and_their_licence(project, tmp_path):
    dest = tmp_path / "out" / "vendor"
    libsodium.write_vendor(project, dest)
    manifest = json.loads((dest / "libsodium.json").read_text())
    assert manifest == {"version": libsodium.VERSION,
                        "files": {n: f[2] for n, f in libsodium.FILES.items()}}
    assert libsodium.vendored(dest) == libsodium.from_node_modules(REPO / "node_modules")
    assert "ISC" in json.loads((REPO / "node_modules/libsodium-sumo/package.json").read_text())["license"]
    assert (dest / "libsodium-sumo.LICENSE").read_bytes() == \
        (REPO / "node_modules/libsodium-sumo/LICENSE").read_bytes()


def test_a_changed_byte_in_node_modules_stops_the_build(project, tmp_path):
    pkg, rel, _ = libsodium.FILES["libsodium-wrappers.mjs"]
    target = project / "node_modules" / pkg / rel
    data = bytearray(target.read_bytes())
    data[1000] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(libsodium.AssetError, match="is not the pinned"):
        libsodium.write_vendor(project, tmp_path / "vendor")
    assert not (tmp_path / "vendor" / "libsodium.json").exists()


def test_a_lock_file_pinning_another_version_stops_the_build(project, tmp_path):
    lock = json.loads((project / "package-lock.json").read_text())
    lock["packages"]["node_modules/libsodium-sumo"]["version"] = "0.8.5"
    (project / "package-lock.json").write_text(json.dumps(lock))
    with pytest.raises(libsodium.AssetError, match="pins libsodium-sumo 0.8.5"):
        libsodium.write_vendor(project, tmp_path / "vendor")


def test_an_installed_copy_is_checked_at_every_load(project, tmp_path, monkeypatch):
    dest = tmp_path / "vendor"
    libsodium.write_vendor(project, dest)
    monkeypatch.delenv("CHARTSEAL_NODE_MODULES", raising=False)
    monkeypatch.setattr(libsodium, "VENDOR", dest)
    assert build.build_assets({"en": {}, "ar": {}}).hashed("libsodium-sumo.mjs")
    (dest / "libsodium-sumo.mjs").write_bytes(b"export default 1;")
    with pytest.raises(libsodium.AssetError, match="is not the pinned"):
        build.build_assets({"en": {}, "ar": {}})


def test_the_copy_is_used_when_there_is_no_node_modules(project, tmp_path, monkeypatch):
    dest = tmp_path / "vendor"
    libsodium.write_vendor(project, dest)
    monkeypatch.setattr(libsodium, "VENDOR", dest)
    monkeypatch.setattr(libsodium, "ROOT", tmp_path / "nowhere" / "site_templates")
    monkeypatch.chdir(dest)
    monkeypatch.delenv("CHARTSEAL_NODE_MODULES", raising=False)
    with pytest.raises(libsodium.AssetError):
        libsodium.node_modules()  # nothing to fall back on ...
    assert set(libsodium.sources()) == set(libsodium.FILES)  # ... and nothing needed


def test_schema_prints_the_clinic_database_document():
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.output == (REPO / "docs" / "CLINIC_DB.md").read_text(encoding="utf-8")
    sql = CliRunner().invoke(main, ["schema", "--sql"]).output
    assert "CREATE TABLE" in sql and "patients" in sql


def test_a_database_that_is_not_a_clinic_points_at_chartseal_schema(tmp_path):
    import sqlite3

    from exporter.clinic_db import ClinicDbError, read_clinic

    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ClinicDbError) as err:
        read_clinic(path)
    assert "chartseal schema" in err.value.hint and "docs/" not in err.value.hint
