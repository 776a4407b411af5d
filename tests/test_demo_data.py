"""The demo clinic generator and `chartseal demo-data`, on real SQLite files."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from exporter import demo_lists
from exporter.cli_data import demo_data
from exporter.clinic_db import read_clinic
from exporter.demo_data import write_demo_clinic

TODAY = date(2025, 3, 10)
ARABIC = re.compile("[\u0600-\u06ff]")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "clinic.db"
    summary = write_demo_clinic(path, patients=400, seed=5, start=TODAY)
    return path, summary


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def dump(path):
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_deterministic_for_a_seed(tmp_path):
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    write_demo_clinic(a, patients=60, seed=9, start=TODAY)
    write_demo_clinic(b, patients=60, seed=9, start=TODAY)
    write_demo_clinic(c, patients=60, seed=10, start=TODAY)
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)


def test_summary_matches_the_file(demo):
    path, s = demo
    count = lambda sql: rows(path, sql)[0][0]  # noqa: E731
    iso = TODAY.isoformat()
    assert s.patients == count("SELECT COUNT(*) FROM patients") == 400
    assert s.health == count("SELECT COUNT(*) FROM health")
    assert s.deals == count("SELECT COUNT(*) FROM deals")
    assert s.expired_deals == count("SELECT COUNT(*) FROM deals WHERE expired = 1") > 0
    assert s.visits == count("SELECT COUNT(*) FROM visits")
    assert s.visits_today == count(f"SELECT COUNT(*) FROM visits WHERE date = '{iso}'") >= 3
    assert s.appointments == count("SELECT COUNT(*) FROM appointments")
    assert s.appointments_today == count(
        f"SELECT COUNT(*) FROM appointments WHERE date = '{iso}'") >= 6
    assert "400" in "\n".join(s.lines())


def test_cards_unique_six_digits(demo):
    path, _ = demo
    cards = [r[0] for r in rows(path, "SELECT card FROM patients")]
    assert len(set(cards)) == len(cards)
    assert all(re.fullmatch(r"[1-9]\d{5}", c) for c in cards)


def test_mix_of_people(demo):
    path, s = demo
    people = rows(path, "SELECT first_name, surname, birth_date, gender, mobile FROM patients")
    arabic = sum(bool(ARABIC.search(p[0] + p[1])) for p in people)
    assert 0.35 < arabic / len(people) < 0.65
    ages = [(TODAY - date.fromisoformat(p[2])).days / 365.25 for p in people if p[2]]
    assert min(ages) < 12 and max(ages) > 75 and max(ages) <= 91
    assert {p[3] for p in people} >= {"M", "F"}
    assert sum(bool(p[4]) for p in people) > len(people) * 0.7
    assert 0.02 < s.name_only / s.patients < 0.09
    bare = rows(path, """SELECT COUNT(*) FROM patients p WHERE birth_date IS NULL AND mobile IS NULL
                         AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.patient_id = p.id)""")
    assert bare[0][0] == s.name_only


def test_dates_around_today(demo):
    path, _ = demo
    visits = [date.fromisoformat(r[0]) for r in rows(path, "SELECT date FROM visits")]
    assert min(visits) >= TODAY - timedelta(days=365) and max(visits) == TODAY
    appts = [date.fromisoformat(r[0]) for r in rows(path, "SELECT date FROM appointments")]
    assert min(appts) == TODAY and max(appts) <= TODAY + timedelta(days=42)
    times = {r[0] for r in rows(path, "SELECT time FROM appointments")}
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in times)


def test_dental_procedures(demo):
    path, _ = demo
    actions = {r[0] for r in rows(path, "SELECT action FROM visits")}
    assert {"Root canal treatment", "Extraction", "Whitening"} <= actions
    assert actions <= set(demo_lists.PROCEDURES) | {demo_lists.HOSTILE["script"]}


def test_hostile_records_present_and_read_back_verbatim(demo):
    path, s = demo
    assert s.hostile == 5
    data = read_clinic(path)
    assert data.problems == [] and len(data.patients) == 400
    names = {p.first_name for p in data.patients}
    assert {"<script>alert(1)</script>", "<img src=x onerror=alert(1)>"} <= names
    notes = [p.other.get("notes", "") for p in data.patients]
    assert any(len(n) == 15_000 for n in notes)
    assert any(p.surname == "O'Brien & \"Sons\" <b>&amp;</b>" for p in data.patients)
    diary = [a.reason for p in data.patients for a in p.appointments if a.date == TODAY]
    assert "<img src=x onerror=alert(1)>" in diary


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "c.db"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        write_demo_clinic(path, patients=5, start=TODAY)
    assert path.read_text() == "precious"
    write_demo_clinic(path, patients=5, start=TODAY, overwrite=True)
    assert rows(path, "SELECT COUNT(*) FROM patients") == [(5,)]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_tiny_clinic(tmp_path):
    s = write_demo_clinic(tmp_path / "one.db", patients=1, seed=3, start=TODAY)
    assert s.patients == 1 and s.appointments_today >= 1
    assert len(read_clinic(tmp_path / "one.db").patients) == 1


# -- command line ------------------------------------------------------------------------------


def test_cli_writes_and_summarizes(tmp_path):
    path = tmp_path / "demo.db"
    args = ["--patients", "30", "--seed", "4", "--today", "2025-03-10", str(path)]
    result = CliRunner().invoke(demo_data, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {path}" in result.output and "patients      30" in result.output
    assert rows(path, "SELECT COUNT(*) FROM patients") == [(30,)]

    again = CliRunner().invoke(demo_data, args)
    assert again.exit_code == 1
    assert "already exists" in again.output and "--force" in again.output

    forced = CliRunner().invoke(demo_data, ["--force", "-n", "12", str(path)])
    assert forced.exit_code == 0, forced.output
    assert rows(path, "SELECT COUNT(*) FROM patients") == [(12,)]


@pytest.mark.parametrize("args, message", [
    (["--patients", "0"], "0 is not in the range"),
    (["--today", "tomorrow"], "expected a date YYYY-MM-DD"),
])
def test_cli_rejects_bad_options(tmp_path, args, message):
    result = CliRunner().invoke(demo_data, args + [str(tmp_path / "x.db")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x.db").exists()


def test_cli_missing_folder(tmp_path):
    result = CliRunner().invoke(demo_data, [str(tmp_path / "no" / "x.db")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_installed_command(tmp_path):
    exe = Path(sys.executable).parent / "chartseal"
    path = tmp_path / "sub.db"
    done = subprocess.run([str(exe), "demo-data", "--patients", "20", "--seed", "2", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "patients      20" in done.stdout
    assert len(read_clinic(path).patients) == 20
    done = subprocess.run([str(exe), "demo-data", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "already exists" in done.stderr
