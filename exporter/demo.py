"""The demo clinic: a home, two synthetic databases, accounts and shares, ready to export.

`chartseal demo` (what `make demo` runs) builds it once under ./demo-clinic and reuses it
afterwards, so the printed passwords stay the same from one run to the next.
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import access, backup, keystore
from .crypto import KdfParams
from .demo_data import write_demo_clinic
from .home import CONFIG, Database, Home, create_home, load_home

ACCOUNTS = {"dr.amal": "main", "dr.omar": "branch"}


@dataclass
class DemoInfo:
    clinic_id: str
    login_password: str
    admin_password: str
    general_password: str
    accounts: list[dict[str, str]] = field(default_factory=list)
    patients: list[dict[str, str]] = field(default_factory=list)
    databases: list[dict[str, str]] = field(default_factory=list)
    site_dir: str = ""
    home: str = ""
    url: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def setup_demo(root: Path, patients: int, kdf: KdfParams, seed: int = 1) -> Home:
    """Create (or reuse) the demo home with a main and a branch database."""
    fresh = not (root / CONFIG).exists()
    home = create_home(root, kdf) if fresh else load_home(root)
    dbs = root / "databases"
    dbs.mkdir(exist_ok=True)
    for name, count in (("main", patients), ("branch", max(5, patients // 10))):
        path = dbs / f"{name}.sqlite"
        if not path.exists():
            write_demo_clinic(path, patients=count, seed=seed + (name == "branch"))
        home.databases.setdefault(name, Database(name, path))
    home.save()
    if fresh:
        conn = keystore.create(home.keys_path)
        try:
            access.init_keys(conn)
            backup.ensure_recovery_key(conn)
            for user, db in ACCOUNTS.items():
                access.create_account(conn, user)
                access.share(conn, db, user, [])
            # dr.omar also sees a few patients of the main database.
            access.share(conn, "main", "dr.omar", _first_cards(home.databases["main"].path, 3))
        finally:
            conn.close()
    return load_home(root)


def _first_cards(path: Path, n: int) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT card FROM patients ORDER BY id LIMIT ?", (n,))]
    finally:
        conn.close()


def demo_info(home: Home, site_dir: Path, url: str, samples: int = 5) -> DemoInfo:
    conn = keystore.connect(home.keys_path)
    try:
        info = DemoInfo(
            clinic_id=home.clinic_id,
            login_password=keystore.get_text(conn, "login_password"),
            admin_password=keystore.get_text(conn, "admin_password"),
            general_password=keystore.get_text(conn, "general_password"),
            site_dir=str(site_dir), home=str(home.root), url=url,
        )
        info.accounts = [{"name": r["name"], "password": r["password"]}
                         for r in conn.execute("SELECT name, password FROM accounts ORDER BY name")]
        info.databases = [{"name": d.name, "path": str(d.path)} for d in home.databases.values()]
        main = home.databases["main"].path
        names = _names(main)
        for row in conn.execute("SELECT card, password FROM patients WHERE db = 'main' "
                                "AND page_enabled = 1 ORDER BY rowid"):
            name = names.get(row["card"], "")
            # Sample logins are for people to type: skip the demo's hostile test records.
            if name and "<" not in name and len(name) < 60 and len(info.patients) < samples:
                info.patients.append({"card": row["card"], "password": row["password"],
                                      "name": names[row["card"]]})
    finally:
        conn.close()
    return info


def _names(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {str(card).replace(" ", "").upper(): f"{first or ''} {last or ''}".strip()
                for card, first, last in conn.execute(
                    "SELECT card, first_name, surname FROM patients ORDER BY id LIMIT 200")}
    finally:
        conn.close()
