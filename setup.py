"""Build steps pyproject.toml cannot declare (the metadata is all in pyproject.toml).

A built package carries what the source tree keeps elsewhere, so an installed chartseal
needs neither Node.js nor the checkout: the pinned libsodium.js build the portal loads
(copied from node_modules with its version and SHA-256 checked, site_templates/libsodium.py)
and the clinic database schema document that `chartseal schema` prints.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from site_templates import libsodium  # noqa: E402 - the standard library only

SCHEMA_DOC = Path("docs") / "CLINIC_DB.md"


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        # An editable install reads node_modules and docs/ from the checkout, and runs
        # before `npm ci` in `make setup`: nothing to copy.
        if getattr(self, "editable_mode", False):
            return
        out = Path(self.build_lib)
        libsodium.write_vendor(HERE, out / "site_templates" / "vendor")
        shutil.copyfile(HERE / SCHEMA_DOC, out / "exporter" / "CLINIC_DB.md")


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        # The sdist carries the checked copy too, so a wheel built from it needs no Node.js.
        libsodium.write_vendor(HERE, Path(base_dir) / "site_templates" / "vendor")


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
