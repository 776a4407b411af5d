"""Opening an exported site the way the browser does, in Python, for the tests.

Every reader rule of docs/FORMAT.md 10 is applied here as in the portal (exporter/site_rules.py
is the Python twin of site_templates/static/js/rules.js), so a test that opens a site through
this reader also proves the site passes them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporter import crypto, site_rules
from exporter.normalize import normalize_card, normalize_user


# (site folder, account door id) -> index key, kept by account() so diary() can derive shard
# keys from it as the portal does, even through another Site object of the same folder.
_IKS: dict[tuple[Path, str], bytes] = {}


class NoDoor(Exception):
    """The credentials lead to no door (the browser shows one error for all such cases)."""


class Site:
    def __init__(self, root: Path, clinic: str) -> None:
        self.root = root
        self.clinic = clinic
        self.base = root / "c" / clinic
        self.info = json.loads((self.base / "site.json").read_text())
        # The tests read their sites from this machine, as the portal served on 127.0.0.1 does.
        self.params = site_rules.check_site(self.info, clinic, loopback=True)

    def read(self, rel: str) -> bytes:
        return (self.base / rel).read_bytes()

    def _door(self, pw: bytes, salt: bytes, who: str) -> tuple[str, dict[str, Any]]:
        key, door_id = crypto.derive_door(pw, salt, self.params)
        path = self.base / "door" / f"{door_id}.json"
        if not path.exists():
            raise NoDoor()
        payload = crypto.open_door(key, self.clinic, door_id, path.read_bytes(), site=self.params)
        crypto.check_site(self.info, payload)  # FORMAT.md 5.4 steps 1-2, as the browser does
        return door_id, site_rules.check_door_payload(payload, who)

    def open_record(self, pointer: dict[str, Any], reader: str = "") -> dict[str, Any]:
        """A bundle from its pointer (door or entry payload, index row), checked against it;
        a doctor (index row) never takes the patient's view for the record (FORMAT.md 6.1).
        ``reader`` defaults to the pointer's kind: a door or entry payload is a patient's."""
        reader = reader or ("patient" if pointer.get("kind") == "record" else "doctor")
        site_rules.check_record_pointer(pointer)
        ad = crypto.label("chartseal/v1/bundle", self.clinic, pointer["rid"])
        bundle = crypto.open_body(crypto.b64d(pointer["ck"]), self.read(pointer["bundle"]), ad)
        site_rules.check_bundle(bundle, pointer)
        if "view" in bundle and (bundle["view"] != "patient" or reader != "patient"):
            raise crypto.CryptoError(f"bundle view {bundle['view']!r} for a {reader}")
        return bundle

    def patient(self, card: str, password: str) -> dict[str, Any]:
        """Card + patient password, or card + general password, as the patient page does."""
        card = normalize_card(card)
        pw = crypto.password_bytes(password)
        try:
            _, payload = self._door(pw, crypto.salt("patient", self.clinic, card), "patient")
        except NoDoor:
            _, general = self._door(pw, crypto.salt("general", self.clinic), "general-door")
            lk, gk = crypto.b64d(general["lk"]), crypto.b64d(general["gk"])
            entry = crypto.entry_id(lk, card)
            path = self.base / "door" / f"{entry}.json"
            if not path.exists():
                raise NoDoor()
            payload = site_rules.check_door_payload(
                crypto.open_door(gk, self.clinic, entry, path.read_bytes(), entry=True,
                                 site=self.params), "general")
            crypto.check_site(self.info, payload)
        site_rules.check_record_pointer(payload, card)
        return self.open_record(payload, "patient")

    def account(self, login: str, user: str, password: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """An account's door, payload and index root, with every shard opened and checked as
        the portal does (FORMAT.md 6.2, 10.3); each database entry of the root is given the
        key ``rows``: all its shards' rows in the readers' order (the reader's, not the site's)."""
        user = normalize_user(user)
        door_id, payload = self._door(crypto.password_bytes(login, password),
                                      crypto.salt("account", self.clinic, user), "account")
        ik = crypto.b64d(payload["ik"], 32)
        ad = crypto.label("chartseal/v1/index", self.clinic, door_id)
        index = site_rules.check_root(crypto.open_body(ik, self.read(payload["index"]), ad))
        for db in index["databases"]:
            db["rows"] = site_rules.read_rows(self.read, self.clinic, door_id, ik, db)
        _IKS[(self.base, door_id)] = ik
        return door_id, payload, index

    def diary(self, door_id: str, db: dict[str, Any], month: str) -> dict[str, Any]:
        """A diary shard of an account opened by account(): its key is derived from the
        account's index key, and the index's copy must agree."""
        key = site_rules.check_diary_pointer(db["diary"][month], _IKS[(self.base, door_id)], db["id"], month)
        ad = crypto.label("chartseal/v1/diary", self.clinic, door_id, db["id"], month)
        shard = crypto.open_body(key, self.read(db["diary"][month]["obj"]), ad)
        return site_rules.check_diary_shard(shard, db["id"], month)
