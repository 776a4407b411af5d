"""The reliability suite's independent check: open what a bucket holds with the keystore's
keys only (never the publisher's state), as a reader would (see bench/reliability.py)."""
from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from s3 import s3_client

from exporter import crypto, keystore, site_rules
from exporter.home import load_home
from exporter.normalize import normalize_card


# -- the independent check -------------------------------------------------------------------
def download(endpoint: str, bucket: str, into: Path) -> int:
    client = s3_client(endpoint)
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="site/"):
        for item in page.get("Contents", []):
            path = into / item["Key"][len("site/"):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            n += 1
    return n


def check_online(c: Any, strict: bool = True) -> dict[str, int]:
    """Open the bucket with the keystore's keys. ``strict``: the site must be exactly current
    (after a run that finished); otherwise (right after a kill) every door and index that is
    online must lead to objects that are online and open."""
    home = load_home(c.home)
    clinic = home.clinic_id
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n = download(c.endpoint, c.bucket, root)
        base = root / "c" / clinic
        info = json.loads((base / "site.json").read_text())
        params = site_rules.check_site(info, clinic, loopback=True)
        online = {p.stem for p in (base / "door").glob("*.json")}
        keys = keystore.connect(home.keys_path)
        try:
            current = _current_cards(c.db)
            opened = records = 0

            def open_record(pointer: dict) -> None:
                nonlocal records
                site_rules.check_record_pointer(pointer)
                ad = crypto.label("chartseal/v1/bundle", clinic, pointer["rid"])
                data = (base / pointer["bundle"]).read_bytes()  # FileNotFoundError: dangling
                site_rules.check_bundle(crypto.open_body(crypto.b64d(pointer["ck"]), data, ad), pointer)
                records += 1

            lk, gk = keystore.get_secret(keys, "lk"), keystore.get_secret(keys, "gk")
            expected: set[str] = set()
            gone: set[str] = set()
            for row in keys.execute("SELECT card, door_id, door_key, page_enabled FROM patients"):
                entry = crypto.entry_id(lk, row["card"])
                if row["card"] not in current:
                    gone |= {d for d in (row["door_id"], entry) if d}
                    continue
                expected.add(entry)
                if entry in online or strict:
                    payload = crypto.open_door(gk, clinic, entry, (base / "door" / f"{entry}.json").read_bytes(),
                                               entry=True, site=params)
                    open_record(site_rules.check_door_payload(payload, "general"))
                    opened += 1
                if row["page_enabled"] and row["door_id"]:
                    expected.add(row["door_id"])
                    if row["door_id"] in online or strict:
                        payload = crypto.open_door(bytes(row["door_key"]), clinic, row["door_id"],
                                                   (base / "door" / f"{row['door_id']}.json").read_bytes(),
                                                   site=params)
                        open_record(site_rules.check_door_payload(payload, "patient"))
                        opened += 1
            admin = keys.execute("SELECT door_id, door_key FROM accounts WHERE name = 'admin'").fetchone()
            payload = site_rules.check_door_payload(crypto.open_door(
                bytes(admin["door_key"]), clinic, admin["door_id"],
                (base / "door" / f"{admin['door_id']}.json").read_bytes(), site=params), "account")
            ad = crypto.label("chartseal/v1/index", clinic, admin["door_id"])
            ik = crypto.b64d(payload["ik"], 32)
            index = site_rules.check_root(crypto.open_body(ik, (base / payload["index"]).read_bytes(), ad))
            listed = 0
            for db in index["databases"]:
                for row in site_rules.read_rows(lambda obj: (base / obj).read_bytes(), clinic, admin["door_id"], ik, db):
                    open_record(row)
                    listed += 1
            if strict:
                deleted_online = online & gone
                assert not deleted_online, f"doors of deleted patients online: {sorted(deleted_online)[:3]}"
                assert listed == len(current), f"admin index lists {listed} of {len(current)} patients"
                missing = expected - online
                assert not missing, f"{len(missing)} doors missing"
        finally:
            keys.close()
    return {"objects": n, "doors_opened": opened, "records_opened": records,
            "deleted_doors_checked": len(gone)}


def _current_cards(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {normalize_card(str(r[0])) for r in con.execute("SELECT card FROM patients") if r[0]}
    finally:
        con.close()
