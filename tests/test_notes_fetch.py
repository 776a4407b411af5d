"""`chartseal notes fetch/list/ack` on real SQLite files and a real folder inbox: attribution
by door, rejected notes kept with their reason, exactly-once storage, the write guard."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import keys
from notes_kit import TODAY, export_clinic, server_notes

from cli import main
from exporter import access, crypto
from exporter.notes import fetch_notes
from exporter.notes_store import NotesError, ack, connect_notes, list_notes
from notes_endpoint.inbox import FolderInbox
from notes_endpoint.wire import note_json, parse_note


def drop(clinic, note: dict, received: int | None = None) -> str:
    """Put a note in the clinic's inbox as the endpoint would (without the endpoint)."""
    parsed = parse_note(json.dumps(note).encode())
    box = FolderInbox(clinic.home.root / "inbox")
    assert box.put_new(clinic.id, parsed.note_id, note_json(parsed, received or note["ts"]))
    return parsed.note_id


def fetch(clinic):
    return fetch_notes(clinic.home, today=TODAY)


@pytest.fixture
def clinic(home):
    conn = keys(home)
    access.create_account(conn, "dr.amal", "pw-amal-1234", weak_ok=True)
    access.share(conn, "main", "dr.amal", ["1001"])
    conn.close()
    return export_clinic(home)


def db_path(clinic):
    return clinic.home.databases["main"].path


def test_each_door_writes_as_itself(clinic):
    drop(clinic, clinic.note(clinic.patient["1001"], "1001", "from the patient"))
    drop(clinic, clinic.note(clinic.entry["1003"], "1003", "سلام — via the general password"))
    drop(clinic, clinic.note(clinic.account["dr.amal"], "1001", "from Dr Amal"))
    drop(clinic, clinic.note(clinic.account["admin"], "1002", "from admin"))
    result = fetch(clinic)
    assert (result.stored, result.rejected) == (4, [])
    rows = {r["text"]: r for r in server_notes(db_path(clinic))}
    assert {t: (r["card"], r["author"], r["patient_id"], r["read"]) for t, r in rows.items()} == {
        "from the patient": ("1001", "patient", 1, 0),
        "سلام — via the general password": ("1003", "general", 3, 0),
        "from Dr Amal": ("1001", "dr.amal", 1, 0),
        "from admin": ("1002", "admin", 2, 0),
    }
    assert all(r["note_id"] and r["created_at"] and r["fetched_at"] for r in rows.values())
    assert list((clinic.home.root / "inbox" / clinic.id).glob("*.json")) == []


def test_claims_that_disagree_with_the_door_are_rejected_and_kept(clinic):
    amal, patient = clinic.account["dr.amal"], clinic.patient["1001"]
    bad = {
        "not shared": clinic.note(amal, "1002"),
        "patient writes about another": clinic.note(patient, "1002"),
        "patient poses as a doctor": clinic.note(patient, "1001", who="account", user="dr.amal"),
        "doctor poses as another": clinic.note(amal, "1001", user="admin"),
        "entry poses as patient": clinic.note(clinic.entry["1001"], "1001", who="patient"),
        "card and rid disagree": clinic.note(patient, "1001", card="1002"),
        "inner time differs": clinic.note(patient, "1001", inner_ts=123),
        "empty text": clinic.note(patient, "1001", "  \n "),
        "too long": clinic.note(patient, "1001", "x" * 4001),
        "sealed to another key": clinic.note(patient, "1001", _notes_pk=crypto.box_keypair()[0]),
        "extra payload key": clinic.note(patient, "1001", admin=True),
    }
    ids = {name: drop(clinic, note) for name, note in bad.items()}
    ok = drop(clinic, clinic.note(patient, "1001", "fine\r\nsecond line\x07"))
    result = fetch(clinic)
    assert result.stored == 1
    assert {n for n, _ in result.rejected} == set(ids.values())
    assert [r["text"] for r in server_notes(db_path(clinic))] == ["fine\nsecond line"]
    rejected = clinic.home.root / "inbox" / clinic.id / "rejected"
    assert sorted(p.stem for p in rejected.glob("*.json")) == sorted(ids.values())
    kept = json.loads((rejected / f"{ids['not shared']}.json").read_text())
    assert kept["reason"] == "record not shared with dr.amal"
    assert json.loads(kept["note"])["sig"] == bad["not shared"]["sig"]
    assert ok not in {p.stem for p in rejected.glob("*.json")}


def test_tampered_or_foreign_inbox_objects_are_rejected(clinic):
    box_dir = clinic.home.root / "inbox" / clinic.id
    nid = drop(clinic, clinic.note(clinic.patient["1001"], "1001"))
    path = box_dir / f"{nid}.json"
    obj = json.loads(path.read_text())
    obj["door"] = clinic.patient["1002"].door  # moved to another patient's door
    path.write_text(json.dumps(obj))
    box_dir.joinpath("ab" * 16 + ".json").write_text("not json")
    other = clinic.note(clinic.patient["1001"], "1001")
    other["clinic"] = "1234567890"
    drop(clinic, other)
    result = fetch(clinic)
    reasons = sorted(r for _, r in result.rejected)
    assert result.stored == 0
    assert reasons == ["bad signature", "malformed", f"note is for clinic 1234567890, not {clinic.id}"]


def test_note_through_a_door_retired_by_a_password_change_still_arrives(clinic):
    nid = drop(clinic, clinic.note(clinic.patient["1001"], "1001", "written before the change"))
    conn = keys(clinic.home)
    access.set_patient_password(conn, "1001", "a-new-password-1234", weak_ok=True)
    conn.close()
    fresh = export_clinic(clinic.home)
    assert fresh.patient["1001"].door != clinic.patient["1001"].door
    result = fetch(clinic)
    assert (result.stored, result.rejected) == (1, [])
    assert server_notes(db_path(clinic))[0]["note_id"] == nid


def test_deleted_account_notes_are_rejected(clinic):
    drop(clinic, clinic.note(clinic.account["dr.amal"], "1001"))
    conn = keys(clinic.home)
    access.delete_account(conn, "dr.amal", access.known_cards(conn))
    conn.close()
    result = fetch(clinic)
    assert result.stored == 0 and result.rejected[0][1] == "account 'dr.amal' was deleted"


def test_fetching_twice_never_duplicates(clinic):
    notes = [clinic.note(d, c, f"note {i}") for i, (d, c) in enumerate(clinic.all_doors())]
    for n in notes:
        drop(clinic, n)
    box_dir = clinic.home.root / "inbox" / clinic.id
    copy = clinic.home.root / "copy"
    shutil.copytree(box_dir, copy)
    assert fetch(clinic).stored == len(notes)
    # As if the process died after the commit and before the inbox was emptied:
    shutil.rmtree(box_dir)
    shutil.copytree(copy, box_dir)
    again = fetch(clinic)
    assert (again.stored, again.duplicates) == (0, len(notes))
    rows = server_notes(db_path(clinic))
    assert len(rows) == len(notes) == len({r["note_id"] for r in rows})
    assert list(box_dir.glob("*.json")) == []


def test_only_server_notes_can_be_written(clinic):
    conn = connect_notes(db_path(clinic))
    try:
        for sql in ("UPDATE patients SET surname = 'x'", "DELETE FROM visits",
                    "INSERT INTO health (patient_id, kind, name) VALUES (1, 'allergy', 'x')",
                    "DROP TABLE patients", "CREATE TABLE evil (x)"):
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                conn.execute(sql)
        conn.execute("UPDATE server_notes SET read = 1")  # the one table it may write
    finally:
        conn.close()
    check = sqlite3.connect(db_path(clinic))
    assert check.execute("SELECT surname FROM patients WHERE id = 1").fetchone() == ("Haddad",)
    check.close()


def test_list_and_ack_from_the_command_line(clinic):
    drop(clinic, clinic.note(clinic.patient["1001"], "1001", "first\nsecond line", ts=1795000000))
    drop(clinic, clinic.note(clinic.entry["1003"], "1003", "from general", ts=1795000100))
    env = {"CHARTSEAL_HOME": str(clinic.home.root)}
    run = CliRunner().invoke
    res = run(main, ["notes", "fetch"], env=env)
    assert res.exit_code == 0 and "stored 2 new note(s)" in res.output
    res = run(main, ["notes", "list"], env=env)
    assert res.exit_code == 0
    assert "main:1" in res.output and "Amal Haddad" in res.output and "    second line" in res.output
    listed = json.loads(run(main, ["notes", "list", "--json"], env=env).output)
    assert [(n["id"], n["card"], n["author"], n["read"]) for n in listed] == [
        ("main:1", "1001", "patient", False), ("main:2", "1003", "general", False)]
    assert listed[1]["patient"] == "سامي الخطيب"
    one = json.loads(run(main, ["notes", "list", "--json", "--patient", " 10 03"], env=env).output)
    assert [n["id"] for n in one] == ["main:2"]
    res = run(main, ["notes", "ack", "main:1"], env=env)
    assert res.exit_code == 0 and "marked 1" in res.output
    unread = json.loads(run(main, ["notes", "list", "--unread", "--json"], env=env).output)
    assert [n["id"] for n in unread] == ["main:2"]
    res = run(main, ["notes", "ack", "main:99"], env=env)
    assert res.exit_code != 0 and "error: no note main:99" in res.output
    res = run(main, ["notes", "ack", "nope"], env=env)
    assert res.exit_code != 0 and "hint:" in res.output
    assert ack(clinic.home, ["2"]) == 1  # a bare row id is fine with one database
    assert all(n.read for n in list_notes(clinic.home))


def test_server_notes_table_is_created_when_missing(clinic):
    conn = sqlite3.connect(db_path(clinic))
    conn.execute("DROP TABLE server_notes")
    conn.commit()
    conn.close()
    drop(clinic, clinic.note(clinic.patient["1002"], "1002"))
    assert fetch(clinic).stored == 1
    assert len(server_notes(db_path(clinic))) == 1


def test_missing_clinic_database_keeps_the_notes(clinic):
    drop(clinic, clinic.note(clinic.patient["1002"], "1002"))
    db_path(clinic).rename(db_path(clinic).with_suffix(".moved"))
    with pytest.raises(NotesError, match="does not exist"):
        fetch(clinic)
    assert len(list((clinic.home.root / "inbox" / clinic.id).glob("*.json"))) == 1
