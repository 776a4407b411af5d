"""The clinic's own notes about a patient are for doctors: absent from what the patient's
password decrypts, present in what a doctor's does (FORMAT.md 6.1, setting patient_sees_notes)."""
from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from conftest import keys, secret
from exporter import access, crypto
from exporter.home import load_home
from exporter.site import export_site
from exporter.site_objects import patient_view_key
from siteread import Site

TODAY = date(2026, 11, 26)
VISIT_NOTE = "upper left 6"          # visits.notes of patient 1001 (conftest)
PATIENT_NOTE = "anxious, needs sedation"  # patients.notes, set below


@pytest.fixture
def noted(home, clinic_db):
    conn = sqlite3.connect(clinic_db)
    conn.execute("UPDATE patients SET notes = ? WHERE card = '1001'", (PATIENT_NOTE,))
    conn.commit()
    conn.close()
    return home


def _opened(home):
    export_site(home, today=TODAY)
    site = Site(home.site_dir, home.clinic_id)
    conn = keys(home)
    pw = access.patient_password(conn, "1001")
    conn.close()
    own = site.patient("1001", pw)
    general = site.patient("1001", secret(home, "general_password"))
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    row = next(p for p in index["databases"][0]["rows"] if p["card"] == "1001")
    return site, own, general, row, site.open_record(row)


def test_patient_bundle_holds_no_clinic_notes_and_the_doctors_does(noted):
    site, own, general, row, doctors = _opened(noted)
    for bundle in (own, general):
        assert bundle["view"] == "patient"
        assert VISIT_NOTE not in bundle["html"] and PATIENT_NOTE not in bundle["html"]
        assert 'data-i18n="visit.notes"' not in bundle["html"]
        assert "Penicillin" in bundle["html"] and "Filling" in bundle["html"]  # the rest is there
    assert "view" not in doctors
    assert VISIT_NOTE in doctors["html"] and PATIENT_NOTE in doctors["html"]


def test_patient_key_is_derived_one_way_and_opens_only_the_patients_view(noted):
    site, _, _, row, _ = _opened(noted)
    conn = keys(noted)
    pw = access.patient_password(conn, "1001")
    conn.close()
    _, door = site._door(crypto.password_bytes(pw), crypto.salt("patient", site.clinic, "1001"), "patient")
    ck = crypto.b64d(row["ck"])
    assert door["bundle"] != row["bundle"] and door["ck"] != row["ck"]
    # FORMAT.md 6.1: pck = H(32, L("chartseal/v1/patient-view-key", rid), key = ck)
    spec = crypto.hash_(32, crypto.label("chartseal/v1/patient-view-key", row["rid"]), key=ck)
    assert crypto.b64d(door["ck"]) == spec == patient_view_key(ck, row["rid"])
    ad = crypto.label("chartseal/v1/bundle", site.clinic, row["rid"])
    with pytest.raises(crypto.CryptoError):  # the patient's key does not open the doctors' view
        crypto.open_body(crypto.b64d(door["ck"]), site.read(row["bundle"]), ad)


def test_a_doctor_refuses_the_patients_view(noted):
    site, _, _, row, _ = _opened(noted)
    conn = keys(noted)
    pw = access.patient_password(conn, "1001")
    conn.close()
    _, door = site._door(crypto.password_bytes(pw), crypto.salt("patient", site.clinic, "1001"), "patient")
    with pytest.raises(crypto.CryptoError, match="view"):
        site.open_record(door, "doctor")  # read as a doctor would


def test_patient_sees_notes_setting_shows_them(noted):
    noted.config["patient_sees_notes"] = True
    noted.save()
    home = load_home(noted.root)
    _, own, general, row, doctors = _opened(home)
    for bundle in (own, general):
        assert "view" not in bundle
        assert VISIT_NOTE in bundle["html"] and PATIENT_NOTE in bundle["html"]


def test_a_record_without_notes_keeps_one_bundle(home):
    export_site(home, today=TODAY)
    site = Site(home.site_dir, home.clinic_id)
    _, _, index = site.account(secret(home, "login_password"), "admin", secret(home, "admin_password"))
    row = next(p for p in index["databases"][0]["rows"] if p["card"] == "1003")
    own = site.patient("1003", secret(home, "general_password"))
    assert "view" not in own and own["html"] == site.open_record(row)["html"]
