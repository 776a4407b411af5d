"""Write tests/vectors/backup.json: a recovery key, its text and id, and a sealed backup
(FORMAT.md 11) with a fixed nonce. Run from the repository root with the venv's python."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from exporter import backup_format as fmt

OUT = Path(__file__).parent / "backup.json"


def main() -> None:
    rk = bytes.fromhex("5c1f" * 16)
    nonce = bytes(range(24))
    members = {
        "manifest.json": '{"clinic":"4815162342","created":"2026-12-01T10:00:00Z","databases":[],'
                         '"keys_changes":7,"v":1}',
        "config.toml": 'clinic_id = "4815162342"\n',
        "keys.sqlite": "SQLite format 3 (not a real keystore: the vector checks the container)",
    }
    contents = fmt.Contents("4815162342", "2026-12-01T10:00:00Z",
                            {k: v.encode() for k, v in members.items()})
    data = fmt.seal(rk, contents, nonce)
    OUT.write_text(json.dumps({
        "recovery_key_hex": rk.hex(), "recovery_key_text": fmt.key_text(rk),
        "key_id": fmt.key_id(rk), "clinic": "4815162342", "created": "2026-12-01T10:00:00Z",
        "nonce_b64": base64.b64encode(nonce).decode(), "members": members,
        "file_b64": base64.b64encode(data).decode(),
    }, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
