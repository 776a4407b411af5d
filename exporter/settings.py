"""Every clinic setting, declared once with its default, type and help (config.toml)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from .errors import SettingError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _lang(text: str) -> str:
    if text not in ("en", "ar"):
        raise ValueError(f"expected en or ar, got {text!r}")
    return text


def _whole(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected a whole number of {what}, got {text!r}") from None


def _minutes(text: str) -> int:
    value = _whole(text, "minutes")
    if value < 1:
        raise ValueError(f"must be a positive number of minutes, got {value}")
    if value > 24 * 60:
        raise ValueError(f"expected 1 to 1440 minutes, got {value}")
    return value


def _wait_seconds(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 3600:
        raise ValueError(f"expected 0 to 3600 seconds, got {value}")
    return value


def _bits(text: str) -> int:
    value = _whole(text, "bits")
    if not 20 <= value <= 128:
        raise ValueError(f"expected 20 to 128 bits, got {value}")
    return value


def _interval(text: str) -> int:
    """Seconds, from '90', '90s', '15m' or '2h'."""
    raw = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(raw[-1:], 0)
    number = raw[:-1] if scale else raw
    if not number.isdigit() or not number.isascii():
        raise ValueError(f"expected seconds, or a number with s, m or h (90, 15m, 1h), got {text!r}")
    value = int(number) * (scale or 1)
    if value > 24 * 3600:
        raise ValueError(f"expected at most 24h, got {text!r}")
    return value


def _currency(text: str) -> str:
    value = text.strip()
    # Shown beside every amount as typed ("SAR", "€", "د.إ"): short, one line.
    if len(value) > 8 or any(ch in value for ch in "\r\n\t<>&"):
        raise ValueError(f"expected a short currency code or sign such as SAR or €, got {text!r}")
    return value


def _target(text: str) -> str:
    # The same shapes publisher.targets.open_target accepts, so a bad value is refused
    # when it is set, not at the next publish.
    parsed = urlparse(text)
    ok = not text or (parsed.scheme == "file" and parsed.netloc in ("", "localhost")
                      and parsed.path.startswith("/")) or (parsed.scheme == "s3" and bool(parsed.netloc))
    if not ok:
        raise ValueError(f"expected file:///path or s3://bucket/prefix, got {text!r}")
    return text


def _clinic_name(text: str) -> str:
    # Printed on cards and shown on the login pages: one line of plain text.
    text = " ".join(text.split())
    if len(text) > 80 or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError(f"expected one line of at most 80 characters, got {text[:90]!r}")
    return text


def _site_url(text: str) -> str:
    text = _url(text.strip()).rstrip("/")
    if len(text) > 100 or any(ch in text for ch in "?#\"\\ <>"):
        raise ValueError(f"expected the site's base URL (at most 100 characters, no ?, # or"
                         f" spaces), got {text!r}")
    return text


def _url(text: str) -> str:
    if text and not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL or nothing, got {text!r}")
    return text


def _folder(text: str) -> str:
    if text and not Path(text).expanduser().is_absolute():
        raise ValueError(f"expected an absolute folder path or nothing, got {text!r}")
    return text


def _keep(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise ValueError(f"expected 1 to 1000 backups, got {value}")
    return value


def _notes_url(text: str) -> str:
    # A path ("/v1/notes") means the endpoint is on the site's own origin (FORMAT.md 4), so a
    # preview served on any port still reaches it; "//host" would be another origin.
    if text.startswith("/") and not text.startswith("//"):
        return text
    if text and not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, a path such as /v1/notes, or nothing, got {text!r}")
    return text


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("backup_dir", "", "folder the service writes keystore backups to after every change"
                " of keys, e.g. a USB disk or a synced folder (empty: 'backups' in the clinic home)",
                _folder),
        Setting("backup_keep", 10, "how many of the newest backups the service keeps in backup_dir",
                _keep),
        Setting("target", "", "where publish sends the site: file:///path or s3://bucket/prefix"
                " (empty: the folder 'public' in the clinic home)", _target),
        Setting("endpoint_url", "", "S3 endpoint URL for S3-compatible stores (empty: AWS)", _url),
        Setting("region", "", "S3 region (empty: boto3's default chain)"),
        Setting("notes_url", "", "URL of the notes endpoint's /v1/notes, or /v1/notes when the"
                " site's own server runs it (empty: notes off)", _notes_url),
        Setting("notes_inbox", "", "where notes fetch reads: file:///path or s3://bucket/prefix"
                " (empty: the folder 'inbox' in the clinic home)", _target),
        Setting("patient_pages", True, "publish a page for each patient (card number + password)",
                _bool),
        Setting("patient_password_min_bits", 50, "least estimated strength (bits) of a patient"
                " password the clinic chooses; lower it only for passwords printed on cards",
                _bits),
        Setting("clinic_name", "", "the clinic's name, printed on patient access cards and shown"
                " on the portal's login pages and header (public: it is in site.json)", _clinic_name),
        Setting("site_url", "", "public URL of the published site, the address printed on patient"
                " access cards, e.g. https://records.example.org (empty: cards cannot be printed)",
                _site_url),
        Setting("lang", "en", "language of the portal: en or ar", _lang),
        Setting("idle_lock_minutes", 10, "lock the portal after this many idle minutes", _minutes),
        Setting("publish_interval", 0, "the service publishes edits at most this often, in batches"
                " (seconds, or 15m, 1h; 0: on every change), so timing links fewer edits to"
                " patients", _interval),
        Setting("full_read_interval", 3600, "the service reads only the clinic rows whose"
                " modified_at moved, and every row this often, to catch edits that did not move it"
                " (seconds, or 15m, 1h; 0: every row on every change)", _interval),
        Setting("currency", "", "currency code or sign shown beside every amount, e.g. SAR"
                " (empty: amounts without one)", _currency),
        Setting("patient_sees_notes", False, "patients see the clinic's notes about them"
                " (patients.notes, visit notes); off: only doctors do", _bool),
        Setting("db_busy_wait_seconds", 120, "how long export and publish wait for the clinic"
                " program to finish writing to its database before giving up", _wait_seconds),
    ]
}


def parse_setting(name: str, text: str) -> Any:
    setting = SETTINGS.get(name)
    if setting is None:
        raise SettingError(
            f"unknown setting {name!r}", hint="known settings: " + ", ".join(sorted(SETTINGS))
        )
    try:
        return setting.parse(text)
    except ValueError as exc:
        raise SettingError(f"{name}: {exc}", hint=f"{name}: {setting.help}") from exc


def defaults() -> dict[str, Any]:
    return {name: s.default for name, s in SETTINGS.items()}
