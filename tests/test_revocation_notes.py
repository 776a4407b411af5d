"""Notes through a retired door (FORMAT.md 9): attributed when dated before the door was retired
(within the endpoint's clock window), rejected with a reason when dated after it, and the old
note key cannot sign for the door that replaced it."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from conftest import keys
from notes_kit import export_clinic, server_notes
from test_notes_fetch import db_path, drop, fetch

from exporter import access
from notes_endpoint.wire import WINDOW

HOUR = 3600


@pytest.fixture
def clinic(home):
    conn = keys(home)
    access.create_account(conn, "dr.amal", "pw-amal-1234", weak_ok=True)
    access.share(conn, "main", "dr.amal", ["1001"])
    conn.close()
    return export_clinic(home)


RETIREMENTS = {
    "patient password": (lambda c: access.set_patient_password(c, "1001", "a-new-password-1234", weak_ok=True),
                         lambda k: k.patient["1001"], "1001"),
    "general password": (lambda c: access.set_clinic_password(c, "general", "a-new-general-pw-1", weak_ok=True),
                         lambda k: k.entry["1003"], "1003"),
    "account password": (lambda c: access.set_account_password(c, "dr.amal", "amal-new-pw-5678", weak_ok=True),
                         lambda k: k.account["dr.amal"], "1001"),
    "login password": (lambda c: access.set_clinic_password(c, "login", "a-new-login-pw-1", weak_ok=True),
                       lambda k: k.account["admin"], "1002"),
    "page disabled (door)": (lambda c: access.set_patient_page(c, "1003", False),
                             lambda k: k.patient["1003"], "1003"),
    "page disabled (entry)": (lambda c: access.set_patient_page(c, "1003", False),
                              lambda k: k.entry["1003"], "1003"),
}


def retire_an_hour_ago(clinic, change) -> int:
    """Make the change, then date the retirement an hour back; returns that time."""
    conn = keys(clinic.home)
    change(conn)
    when = int(time.time()) - HOUR
    with conn:
        conn.execute("UPDATE retired_doors SET retired_at = ?",
                     (datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds"),))
    conn.close()
    return when


@pytest.mark.parametrize("case", sorted(RETIREMENTS))
def test_retired_door_vouches_only_for_notes_written_before(clinic, case):
    change, door_of, card = RETIREMENTS[case]
    door = door_of(clinic)
    retired = retire_an_hour_ago(clinic, change)
    before = drop(clinic, clinic.note(door, card, "written before", ts=retired - 60))
    skewed = drop(clinic, clinic.note(door, card, "clock a little ahead", ts=retired + WINDOW))
    after = drop(clinic, clinic.note(door, card, "written after", ts=retired + WINDOW + 1))
    later = drop(clinic, clinic.note(door, card, "written now"))
    result = fetch(clinic)
    assert result.stored == 2
    assert sorted(n["note_id"] for n in server_notes(db_path(clinic))) == sorted([before, skewed])
    reasons = dict(result.rejected)
    stamp = datetime.fromtimestamp(retired, UTC).isoformat(timespec="seconds")
    assert reasons == {after: f"written after its door was retired ({stamp})",
                       later: f"written after its door was retired ({stamp})"}
    # Moved to rejected/ with the reason, as every rejection.
    kept = json.loads((clinic.home.root / "inbox" / clinic.id / "rejected" / f"{later}.json").read_text())
    assert kept["reason"] == reasons[later]


def test_the_old_note_key_cannot_sign_for_the_new_door(clinic):
    old = clinic.patient["1001"]
    conn = keys(clinic.home)
    access.set_patient_password(conn, "1001", "a-new-password-1234", weak_ok=True)
    conn.close()
    fresh = export_clinic(clinic.home)
    new = fresh.patient["1001"]
    assert new.note_sk != old.note_sk
    forged = drop(clinic, clinic.note(type(old)(new.door, old.note_sk, "patient"), "1001", "old key"))
    honest = drop(fresh, fresh.note(new, "1001", "new key"))
    result = fetch(clinic)
    assert result.rejected == [(forged, "bad signature")]
    assert [n["note_id"] for n in server_notes(db_path(clinic))] == [honest]


def test_a_door_in_use_again_still_accepts_its_old_notes(clinic):
    """A password set back to an earlier one makes the same door id: both note keys count."""
    conn = keys(clinic.home)
    old_pw = access.patient_password(conn, "1001")
    old = clinic.patient["1001"]
    note = drop(clinic, clinic.note(old, "1001", "before the change"))
    access.set_patient_password(conn, "1001", "a-new-password-1234", weak_ok=True)
    access.set_patient_password(conn, "1001", old_pw, weak_ok=True)
    conn.close()
    fresh = export_clinic(clinic.home)
    assert fresh.patient["1001"].door == old.door
    again = drop(fresh, fresh.note(fresh.patient["1001"], "1001", "after it came back"))
    result = fetch(clinic)
    assert (result.stored, result.rejected) == (2, [])
    assert sorted(n["note_id"] for n in server_notes(db_path(clinic))) == sorted([note, again])


def test_the_endpoint_refuses_the_old_door_right_after_the_next_publish(clinic, tmp_path):
    from notes_kit import Server, post

    from notes_endpoint.app import make_app
    from publisher.policy import Policy
    from publisher.publish import publish

    target = tmp_path / "target"
    policy = Policy(grace_seconds=3600)
    publish(clinic.home, target_url=target.as_uri(), policy=policy)
    old = clinic.patient["1001"]
    app = make_app(str(target), str(tmp_path / "inbox"), "https://portal.example")
    with Server(app) as srv:
        assert post(srv.port, clinic.note(old, "1001", "before"))[0] == 201
        conn = keys(clinic.home)
        access.set_patient_password(conn, "1001", "a-new-password-1234", weak_ok=True)
        conn.close()
        report = publish(clinic.home, target_url=target.as_uri(), policy=policy)
        assert report.deleted == 1
        fresh = export_clinic(clinic.home)
        status, body, _ = post(srv.port, clinic.note(old, "1001", "after"))
        assert (status, body["error"]) == (404, "unknown door")
        assert post(srv.port, fresh.note(fresh.patient["1001"], "1001", "new door"))[0] == 201
