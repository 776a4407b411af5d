"""Opening an exported site the way the browser does, in Python, for the tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporter import crypto
from exporter.normalize import normalize_card, normalize_user


class NoDoor(Exception):
    """The credentials lead to no door (the browser shows one error for all such cases)."""


class Site:
    def __init__(self, root: Path, clinic: str) -> None:
        self.root = root
        self.clinic = clinic
        self.base = root / "c" / clinic
        self.info = json.loads((self.base / "site.json").read_text())
        self.params = crypto.KdfParams.from_json(self.info["kdf"])

    def read(self, rel: str) -> bytes:
        return (self.base / rel).read_bytes()

    def _door(self, pw: bytes, salt: bytes) -> tuple[str, dict[str, Any]]:
        key, door_id = crypto.derive_door(pw, salt, self.params)
        path = self.base / "door" / f"{door_id}.json"
        if not path.exists():
            raise NoDoor()
        payload = crypto.open_door(key, self.clinic, door_id, path.read_bytes())
        crypto.check_site(self.info, payload)  # FORMAT.md 5.4 steps 1-2, as the browser does
        return door_id, payload

    def open_record(self, payload: dict[str, Any]) -> dict[str, Any]:
        ad = crypto.label("chartseal/v1/bundle", self.clinic, payload["rid"])
        return crypto.open_body(crypto.b64d(payload["ck"]), self.read(payload["bundle"]), ad)

    def patient(self, card: str, password: str) -> dict[str, Any]:
        """Card + patient password, or card + general password, as the patient page does."""
        card = normalize_card(card)
        pw = crypto.password_bytes(password)
        try:
            _, payload = self._door(pw, crypto.salt("patient", self.clinic, card))
        except NoDoor:
            _, general = self._door(pw, crypto.salt("general", self.clinic))
            lk, gk = crypto.b64d(general["lk"]), crypto.b64d(general["gk"])
            entry = crypto.entry_id(lk, card)
            path = self.base / "door" / f"{entry}.json"
            if not path.exists():
                raise NoDoor()
            payload = crypto.open_door(gk, self.clinic, entry, path.read_bytes(), entry=True)
            crypto.check_site(self.info, payload)
        return self.open_record(payload)

    def account(self, login: str, user: str, password: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        user = normalize_user(user)
        door_id, payload = self._door(crypto.password_bytes(login, password),
                                      crypto.salt("account", self.clinic, user))
        ad = crypto.label("chartseal/v1/index", self.clinic, door_id)
        index = crypto.open_body(crypto.b64d(payload["ik"]), self.read(payload["index"]), ad)
        return door_id, payload, index

    def diary(self, door_id: str, db: dict[str, Any], month: str) -> dict[str, Any]:
        shard = db["diary"][month]
        ad = crypto.label("chartseal/v1/diary", self.clinic, door_id, db["id"], month)
        return crypto.open_body(crypto.b64d(shard["key"]), self.read(shard["obj"]), ad)
