"""The clinic home: config.toml, the keystore, the state database and the site folders."""
from __future__ import annotations

import fcntl
import os
import secrets
import sqlite3
import threading
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import platformdirs
import tomli_w

from . import crypto, settings
from .errors import HomeError

CONFIG = "config.toml"
KEYS = "keys.sqlite"
STATE = "state.sqlite"
HOME_ENV = "CHARTSEAL_HOME"
WEAK_KDF_ENV = "CHARTSEAL_TEST_WEAK_KDF"


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("chartseal", appauthor=False))


def resolve_home(home: str | Path | None) -> Path:
    return Path(home).expanduser().resolve() if home else default_home().resolve()


@dataclass
class Database:
    name: str
    path: Path
    auto_update: bool = True


@dataclass
class Home:
    root: Path
    clinic_id: str
    config: dict[str, Any]
    databases: dict[str, Database] = field(default_factory=dict)
    kdf: crypto.KdfParams = field(default_factory=crypto.KdfParams)

    # -- paths ---------------------------------------------------------------------------
    @property
    def site_dir(self) -> Path:
        return self.root / "site"

    @property
    def keys_path(self) -> Path:
        return self.root / KEYS

    @property
    def state_path(self) -> Path:
        return self.root / STATE

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def target(self) -> str:
        return self.config["target"] or (self.root / "public").as_uri()

    @property
    def notes_inbox(self) -> str:
        return self.config["notes_inbox"] or (self.root / "inbox").as_uri()

    @property
    def clinic_prefix(self) -> str:
        return f"c/{self.clinic_id}"

    # -- state ---------------------------------------------------------------------------
    def connect_state(self) -> sqlite3.Connection:
        from .state_db import connect  # sets a damaged state database aside

        return connect(self.state_path)

    def save(self) -> None:
        data: dict[str, Any] = {"clinic_id": self.clinic_id}
        data.update({k: v for k, v in self.config.items() if k in settings.SETTINGS})
        data["kdf"] = {"ops": self.kdf.ops, "mem": self.kdf.mem}
        data["databases"] = {
            db.name: {"path": str(db.path), "auto_update": db.auto_update}
            for db in self.databases.values()
        }
        atomic_write(self.root / CONFIG, tomli_w.dumps(data).encode(), mode=0o600)

    def database(self, name: str) -> Database:
        db = self.databases.get(name)
        if db is None:
            known = ", ".join(sorted(self.databases)) or "none yet"
            raise HomeError(f"no database named {name!r} (known: {known})",
                            hint="add one with: chartseal db add NAME PATH")
        return db


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` whole or not at all (temp file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def new_clinic_id() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def kdf_params(ops: int | None, mem: int | None) -> crypto.KdfParams:
    params = crypto.KdfParams(ops=ops or crypto.SECURE_OPS, mem=mem or crypto.SECURE_MEM).check()
    if params.weak and os.environ.get(WEAK_KDF_ENV) != "1":
        raise HomeError(
            f"key derivation below 64 MiB and 3 passes (ops={params.ops}, mem={params.mem})",
            hint=f"weak parameters are for the test suite only ({WEAK_KDF_ENV}=1)",
        )
    return params


def create_home(root: Path, kdf: crypto.KdfParams | None = None) -> Home:
    """Create the folders and config of a new clinic home (keys come from access.init_keys)."""
    if (root / CONFIG).exists():
        raise HomeError(f"a clinic home already exists in {root}",
                        hint="use it as it is, or pick another folder with --home")
    if (root / KEYS).exists():
        # A keystore without its config is still the only copy of the clinic's keys.
        raise HomeError(f"a keystore already exists in {root}",
                        hint="restore its config.toml from a backup (chartseal backup restore "
                             "FILE), or pick another folder with --home")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    home = Home(root=root, clinic_id=new_clinic_id(), config=settings.defaults(),
                kdf=kdf or crypto.KdfParams())
    home.save()
    return home


def load_home(root: Path) -> Home:
    path = root / CONFIG
    if not path.exists():
        raise HomeError(f"no clinic home in {root}",
                        hint="create one with: chartseal init (or pass --home / set CHARTSEAL_HOME)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HomeError(f"cannot read {path}: {exc}", hint="fix or restore the file") from exc
    clinic_id = str(data.get("clinic_id", ""))
    if not (len(clinic_id) == 10 and clinic_id.isdigit()):
        raise HomeError(f"{path}: clinic_id must be 10 digits, got {clinic_id!r}")
    config = settings.defaults()
    for name in settings.SETTINGS:
        if name in data:
            value = data[name]
            config[name] = settings.parse_setting(name, str(value).lower() if isinstance(value, bool) else str(value))
    kdf_data = data.get("kdf", {})
    kdf = kdf_params(kdf_data.get("ops"), kdf_data.get("mem"))
    try:
        dbs = {
            name: Database(name=name, path=Path(entry["path"]), auto_update=bool(entry.get("auto_update", True)))
            for name, entry in data.get("databases", {}).items()
        }
    except (TypeError, KeyError, AttributeError) as exc:
        raise HomeError(f"{path}: the [databases] section is damaged ({exc!r})",
                        hint="fix or restore the file; each database needs path = \"/path/to/db\"") from exc
    return Home(root=root, clinic_id=clinic_id, config=config, databases=dbs, kdf=kdf)


_held: dict[str, int] = {}
_held_guard = threading.Lock()


@contextmanager
def home_lock(home: Home) -> Iterator[None]:
    """One export or publish at a time per clinic home (the service and the CLI share it).

    Re-entrant within one thread, so a publish can hold it around its export and upload;
    other threads and processes wait.
    """
    key = f"{home.root}:{threading.get_ident()}"
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held[key] = 0
            fcntl.flock(fh, fcntl.LOCK_UN)
