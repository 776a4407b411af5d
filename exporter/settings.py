"""Every clinic setting, declared once with its default, type and help (config.toml)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

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


def _minutes(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 24 * 60:
        raise ValueError(f"expected 1 to 1440 minutes, got {value}")
    return value


def _wait_seconds(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 3600:
        raise ValueError(f"expected 0 to 3600 seconds, got {value}")
    return value


def _bits(text: str) -> int:
    value = int(text)
    if not 20 <= value <= 128:
        raise ValueError(f"expected 20 to 128 bits, got {value}")
    return value


def _target(text: str) -> str:
    if text and not text.startswith(("file://", "s3://")):
        raise ValueError(f"expected file:///path or s3://bucket/prefix, got {text!r}")
    return text


def _url(text: str) -> str:
    if text and not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL or nothing, got {text!r}")
    return text


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("target", "", "where publish sends the site: file:///path or s3://bucket/prefix"
                " (empty: the folder 'public' in the clinic home)", _target),
        Setting("endpoint_url", "", "S3 endpoint URL for S3-compatible stores (empty: AWS)", _url),
        Setting("region", "", "S3 region (empty: boto3's default chain)"),
        Setting("notes_url", "", "URL of the notes endpoint's /v1/notes (empty: notes off)", _url),
        Setting("notes_inbox", "", "where notes fetch reads: file:///path or s3://bucket/prefix"
                " (empty: the folder 'inbox' in the clinic home)", _target),
        Setting("patient_pages", True, "publish a page for each patient (card number + password)",
                _bool),
        Setting("patient_password_min_bits", 50, "least estimated strength (bits) of a patient"
                " password the clinic chooses; lower it only for passwords printed on cards",
                _bits),
        Setting("lang", "en", "language of the portal: en or ar", _lang),
        Setting("idle_lock_minutes", 10, "lock the portal after this many idle minutes", _minutes),
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
        raise SettingError(f"{name}: {exc}") from exc


def defaults() -> dict[str, Any]:
    return {name: s.default for name, s in SETTINGS.items()}
