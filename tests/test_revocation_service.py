"""The background service carries a revocation too: a patient password changed while it runs
stops opening as soon as the service has published, with a grace period far longer than the
test (only the rule for retired doors may delete the old door)."""
from __future__ import annotations

import pytest
from service_kit import ServiceProcess, published, quietly, wait_for

from conftest import keys, secret
from exporter import access
from siteread import NoDoor


@pytest.fixture
def running(home, tmp_path):
    svc = ServiceProcess(home.root, tmp_path / "service.out",
                         env={"CHARTSEAL_PUBLISH_GRACE_SECONDS": "3600"})
    yield svc
    svc.stop()


def opens(home, card: str, password: str) -> bool:
    try:
        return published(home).patient(card, password)["card"] == card
    except NoDoor:
        return False


@pytest.mark.slow
def test_a_password_changed_while_the_service_runs_stops_opening(home, running):
    wait_for("the first publish", quietly(lambda: published(home)))
    conn = keys(home)
    old_pw = access.patient_password(conn, "1001")
    conn.close()
    wait_for("the patient page", quietly(lambda: opens(home, "1001", old_pw)))
    conn = keys(home)
    old_door = conn.execute("SELECT door_id FROM patients WHERE card = '1001'").fetchone()[0]
    old_general = secret(home, "general_password")
    new_pw = access.set_patient_password(conn, "1001", "a-new-password-for-1001", weak_ok=True)
    access.set_clinic_password(conn, "general", "a-new-general-password", weak_ok=True)
    conn.close()
    wait_for("the new passwords", quietly(lambda: opens(home, "1001", new_pw)
                                          and opens(home, "1003", "a-new-general-password")))
    wait_for("the old door to go", lambda: not (home.root / "public" / "c" / home.clinic_id / "door"
                                                / f"{old_door}.json").exists())
    assert not opens(home, "1001", old_pw)
    assert not opens(home, "1002", old_general)
