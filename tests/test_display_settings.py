"""The display settings (clinic_name, currency, patient_sees_notes): declared once, refused
with a reason when bad, set from the CLI, and published in site.json only when set."""
from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner

from cli import main
from exporter import render
from exporter.errors import SettingError
from exporter.home import load_home
from exporter.settings import SETTINGS, parse_setting
from exporter.site import export_site

TODAY = date(2026, 11, 26)


def test_defaults_are_off():
    assert SETTINGS["currency"].default == "" and SETTINGS["clinic_name"].default == ""
    assert SETTINGS["patient_sees_notes"].default is False


@pytest.mark.parametrize("name, text, value", [
    ("currency", " SAR ", "SAR"), ("currency", "€", "€"), ("currency", "د.إ", "د.إ"), ("currency", "", ""),
    ("clinic_name", "  Amal   Dental ", "Amal Dental"), ("patient_sees_notes", "yes", True),
])
def test_good_values(name, text, value):
    assert parse_setting(name, text) == value


@pytest.mark.parametrize("name, text, why", [
    ("currency", "Saudi riyals", "short currency code"), ("currency", "<b>", "short currency code"),
    ("currency", "S\nR", "short currency code"), ("clinic_name", "x" * 81, "at most 80"),
    ("patient_sees_notes", "maybe", "true or false"),
])
def test_bad_values_say_why(name, text, why):
    with pytest.raises(SettingError, match=why):
        parse_setting(name, text)


def test_config_set_from_the_cli_and_site_json(home):
    env = {"CHARTSEAL_HOME": str(home.root)}
    bad = CliRunner().invoke(main, ["config", "set", "currency", "Saudi riyals"], env=env)
    assert bad.exit_code != 0 and "error:" in bad.output and "Traceback" not in bad.output
    export_site(home, today=TODAY)
    site_json = home.site_dir / "c" / home.clinic_id / "site.json"
    assert not {"currency", "clinic_name"} & set(json.loads(site_json.read_text()))
    for name, value in (("currency", "SAR"), ("clinic_name", "Amal Dental")):
        done = CliRunner().invoke(main, ["config", "set", name, value], env=env)
        assert done.exit_code == 0, done.output
    export_site(load_home(home.root), today=TODAY)
    site = json.loads(site_json.read_text())
    assert (site["currency"], site["clinic_name"]) == ("SAR", "Amal Dental")


def test_money_with_and_without_currency():
    assert render.money(1234.5) == "1,234.50"
    assert render.money(1234.5, "SAR") == "1,234.50\u00a0SAR"
    assert render.money(None, "SAR") == ""


def test_other_details_labels_are_translated_or_shown_as_written():
    from test_render import patient
    p = patient(other={"address": "Beirut", "<i>shoe size</i>": "42"})
    ar = render.patient_fragment(p, TODAY, "ar")
    assert '<span data-i18n="other.address">العنوان</span>' in ar
    assert "<bdi>&lt;i&gt;shoe size&lt;/i&gt;</bdi>" in ar and "<i>" not in ar  # as written, escaped
    assert "<bdi>Shoe</bdi>" not in ar
    en = render.patient_fragment(patient(other={"hobby": "chess"}), TODAY, "en")
    assert "<bdi>Hobby</bdi>" in en  # capitalised
