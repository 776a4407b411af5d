"""The pinned libsodium.js build the portal loads: where it is, and proof it is the pinned one.

In a source checkout it is in ``node_modules`` (``npm ci`` against package-lock.json). A built
package carries a checked copy in ``site_templates/vendor/``, written when the wheel or sdist
is made (setup.py calls :func:`write_vendor`), so an installed chartseal needs no Node.js.

package-lock.json pins each npm package's version and the SHA-512 of its tarball, which
``npm ci`` checks; the tarball is gone once installed, so the SHA-256 of each file the portal
uses is pinned here as well and checked at every copy and every load.
This module uses only the standard library: setup.py imports it while building.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENDOR = ROOT / "vendor"
MANIFEST = "libsodium.json"
VERSION = "0.8.4"
PACKAGES = ("libsodium-sumo", "libsodium-wrappers-sumo")
# logical asset name -> (npm package, file inside it, SHA-256 of that file in VERSION)
FILES = {
    "libsodium-sumo.mjs": ("libsodium-sumo", "dist/modules-sumo-esm/libsodium-sumo.mjs",
                           "4c94708f7e78eac7a32b29e2ce0ff96f4bd599d78c129f27bf8a061e20776c8c"),
    "libsodium-wrappers.mjs": ("libsodium-wrappers-sumo", "dist/modules-sumo-esm/libsodium-wrappers.mjs",
                               "40de1ef7cb8f2caae02c2a8f04809151904fa28cb9364cadedc57af89a6c9284"),
}


class AssetError(Exception):
    """The app's files could not be assembled (missing node_modules, bad reference)."""


def _checked(name: str, data: bytes, where: Path) -> bytes:
    want = FILES[name][2]
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise AssetError(f"{where}: SHA-256 {got} is not the pinned {want} of libsodium.js {VERSION}; "
                         "run `npm ci` to install the pinned build")
    return data


def node_modules() -> Path:
    """Where ``npm ci`` put the pinned libsodium build."""
    env = os.environ.get("CHARTSEAL_NODE_MODULES")
    candidates = [Path(env)] if env else [ROOT.parent / "node_modules", Path.cwd() / "node_modules"]
    for path in candidates:
        if (path / "libsodium-wrappers-sumo" / "package.json").is_file():
            return path
    raise AssetError(
        "libsodium.js is missing (looked in " + ", ".join(str(p) for p in candidates) + "); "
        "run `npm ci` in the chartseal source folder, set CHARTSEAL_NODE_MODULES, or install "
        "a built chartseal package (it carries libsodium.js)"
    )


def from_node_modules(root: Path) -> dict[str, bytes]:
    for pkg in PACKAGES:
        meta = root / pkg / "package.json"
        version = json.loads(meta.read_text("utf-8")).get("version") if meta.is_file() else None
        if version != VERSION:
            raise AssetError(f"{pkg} {version or 'is missing'}, expected {VERSION}; "
                             "run `npm ci` to install the pinned version")
    out = {}
    for name, (pkg, rel, _) in FILES.items():
        path = root / pkg / rel
        out[name] = _checked(name, path.read_bytes(), path)
    return out


def vendored(folder: Path | None = None) -> dict[str, bytes] | None:
    """The copy a built package carries (or the one in ``folder``), checked; None in a
    source checkout."""
    folder = folder or VENDOR
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text("utf-8")).get("version")
    if version != VERSION:
        raise AssetError(f"{manifest} is libsodium.js {version}, expected {VERSION}; "
                         "reinstall chartseal")
    return {name: _checked(name, (folder / name).read_bytes(), folder / name) for name in FILES}


def sources() -> dict[str, bytes]:
    """The pinned files by logical name: an explicit CHARTSEAL_NODE_MODULES, else the copy the
    package carries, else the checkout's node_modules."""
    if not os.environ.get("CHARTSEAL_NODE_MODULES"):
        packaged = vendored()
        if packaged is not None:
            return packaged
    return from_node_modules(node_modules())


def check_lock(lock: Path) -> None:
    """package-lock.json must pin the same version this module pins."""
    try:
        packages = json.loads(lock.read_text("utf-8"))["packages"]
    except (OSError, ValueError, KeyError) as exc:
        raise AssetError(f"cannot read the npm lock file {lock}: {exc}") from exc
    for pkg in PACKAGES:
        locked = packages.get(f"node_modules/{pkg}", {}).get("version")
        if locked != VERSION:
            raise AssetError(f"{lock} pins {pkg} {locked}, site_templates/libsodium.py pins {VERSION}; "
                             "update both together")


def write_vendor(project: Path, dest: Path) -> list[Path]:
    """Copy the pinned build from ``project``'s node_modules (or the vendor folder of an
    unpacked sdist) into ``dest``, checked; returns the files written."""
    files = vendored(project / "site_templates" / "vendor")
    source = project / "site_templates" / "vendor"
    if files is None:
        check_lock(project / "package-lock.json")
        files = from_node_modules(project / "node_modules")
        source = project / "node_modules"
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        (dest / name).write_bytes(data)
        written.append(dest / name)
    for pkg in PACKAGES:  # the ISC licence asks that its notice travel with the copies
        licence = source / (f"{pkg}.LICENSE" if source.name == "vendor" else f"{pkg}/LICENSE")
        (dest / f"{pkg}.LICENSE").write_bytes(licence.read_bytes())
        written.append(dest / f"{pkg}.LICENSE")
    manifest = {"version": VERSION, "files": {n: FILES[n][2] for n in FILES}}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", "utf-8")
    return written + [dest / MANIFEST]
