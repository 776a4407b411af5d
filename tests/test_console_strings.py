"""Every console string a page asks for exists in English and Arabic."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
CONSOLE = ROOT / "console"
I18N = ROOT / "site_templates" / "i18n"
# Keys built at run time from a fixed set of parts.
DYNAMIC = {f"passwords.{w}{s}" for w in ("login", "admin", "general")
           for s in ("", "_help", "_consequence")} | {f"passwords.new_{w}" for w in ("login", "admin", "general")}


def used_keys() -> set[str]:
    keys: set[str] = set()
    files = [p for p in [*CONSOLE.glob("*.py"), *(CONSOLE / "templates").glob("*.html")]
             if not p.name.startswith("publishing")]  # the Publishing section checks its own
    for path in files:
        for key in re.findall(r"""\bt\(\s*["']([a-z_.0-9]+)["']""", path.read_text("utf-8")):
            if not key.endswith("."):
                keys.add(key)
    keys |= set(re.findall(r'"(menu\.[a-z]+)"', (CONSOLE / "web.py").read_text("utf-8")))
    for path in files:  # the "done" notices: done(path, "key" [if ... else "key"], name)
        for line in path.read_text("utf-8").splitlines():
            if "done(" in line:
                line = re.sub(r"request\.form\.get\([^)]*\)", "", line)
                keys |= {f"ok.{k}" for k in re.findall(r'"([a-z_]+)"', line)}
    return keys | DYNAMIC


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_every_console_string_exists(lang):
    table = json.loads((I18N / f"{lang}.json").read_text("utf-8"))
    have = {k[len("console."):] for k in table if k.startswith("console.")}
    missing = sorted(k for k in used_keys() if k not in have)
    assert not missing, f"missing in {lang}.json (as console.<key>): {missing}"


def test_placeholders_match_between_languages():
    en = json.loads((I18N / "en.json").read_text("utf-8"))
    ar = json.loads((I18N / "ar.json").read_text("utf-8"))
    for key, text in en.items():
        if key.startswith("console."):
            assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", ar[key])), key


def test_console_strings_stay_off_the_published_site():
    from exporter.render import strings
    from site_templates.build import strings_module

    tables = {lang: dict(strings(lang)) for lang in ("en", "ar")}
    assert tables["en"] and not [k for t in tables.values() for k in t if k.startswith("console.")]
    assert b"console." not in strings_module(tables)


def test_a_console_string_change_does_not_re_seal_the_records(tmp_path, monkeypatch):
    import shutil

    from exporter import render, site_objects

    before = site_objects._templates_version()
    copy = tmp_path / "templates"
    shutil.copytree(site_objects.TEMPLATES_ROOT / "fragments", copy / "fragments")
    shutil.copytree(I18N, copy / "i18n")
    monkeypatch.setattr(site_objects, "TEMPLATES_ROOT", copy)
    monkeypatch.setattr(render, "TEMPLATES", copy)
    render.strings.cache_clear()
    try:
        assert site_objects._templates_version() == before
        for lang in ("en", "ar"):
            path = copy / "i18n" / f"{lang}.json"
            table = json.loads(path.read_text("utf-8"))
            table["console.title"] = "changed"
            path.write_text(json.dumps(table, ensure_ascii=False), "utf-8")
        render.strings.cache_clear()
        assert site_objects._templates_version() == before
        table["visits"] = "changed"  # a portal string does change the version
        path.write_text(json.dumps(table, ensure_ascii=False), "utf-8")
        render.strings.cache_clear()
        assert site_objects._templates_version() != before
    finally:
        render.strings.cache_clear()
