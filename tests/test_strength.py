"""Chosen passwords: a maintained estimator decides, --weak-ok keeps one with a warning."""
from __future__ import annotations

import pytest

from exporter import access, keystore, strength
from exporter.errors import WeakPasswordError
from test_cli_clinic import cli_home, run  # noqa: F401  (fixture)

STRONG = "tambourine orchard glacier pelican"


@pytest.mark.parametrize("pw", ["1234", "password1", "0791234567", "+1 555 123 4567",
                                "Tr0ub4dor&3", "dr.amal2026", ""])
def test_weak_passwords_estimate_below_the_floor(pw):
    assert strength.estimate_bits(pw) < strength.MIN_BITS


def test_strong_and_generated_passwords_pass():
    assert strength.estimate_bits(STRONG) >= strength.MIN_BITS
    assert strength.check(STRONG, what="password") is None


def test_phone_numbers_are_capped_by_their_digits():
    # zxcvbn gives a 12-digit number with spaces ~43 bits; the number space is 40
    assert strength.estimate_bits("+44 7911 123456") <= 12 * 3.33


def test_user_inputs_count_against_the_password():
    assert (strength.estimate_bits("dr.lina.password", ["dr.lina"])
            < strength.estimate_bits("dr.lina.password"))


def test_check_refuses_or_warns():
    with pytest.raises(WeakPasswordError) as err:
        strength.check("1234", what="general password")
    assert "general password" in str(err.value) and "--weak-ok" in err.value.hint
    warning = strength.check("1234", what="general password", weak_ok=True)
    assert warning and "weak" in warning


def test_very_long_input_is_scored_quickly():
    assert strength.estimate_bits("a" * 100_000 + STRONG) >= 0


def test_library_setters_refuse_weak_chosen_passwords(tmp_path):
    conn = keystore.create(tmp_path / "keys.sqlite")
    access.init_keys(conn)
    for call in (lambda **k: access.create_account(conn, "dr.x", "dr.x12345", **k),
                 lambda **k: access.set_clinic_password(conn, "general", "general1", **k),
                 lambda **k: access.set_clinic_password(conn, "admin", "admin2026", **k),
                 lambda **k: access.create_account(conn, "nopw", "", **k)):
        before = keystore.get_text(conn, "general_password")
        with pytest.raises(WeakPasswordError):
            call()
        assert keystore.get_text(conn, "general_password") == before
        call(weak_ok=True)
    assert {a.name for a in access.list_accounts(conn)} >= {"dr.x", "nopw"}
    user, generated = access.create_account(conn, "dr.gen")
    assert user == "dr.gen" and len(generated) == 19


def test_cli_refuses_weak_and_keeps_nothing(cli_home):
    home, _, pw = cli_home
    for args in (("passwords", "set", "login", "--password", "letmein1"),
                 ("accounts", "create", "dr.weak", "--password", "qwerty123"),
                 ("accounts", "create", "dr.none", "--no-password"),
                 ("accounts", "password", "admin", "--password", "admin1234")):
        result = run(*args, "--home", home, ok=False)
        assert result.exit_code == 1, args
        assert "error:" in result.output and "hint:" in result.output and "--weak-ok" in result.output
    shown = run("passwords", "show", "--home", home).output
    assert pw["login password"] in shown and pw["admin password"] in shown
    assert "dr.weak" not in run("accounts", "list", "--home", home).output
    ok = run("accounts", "create", "dr.fine", "--password", STRONG, "--home", home)
    assert "warning" not in ok.output


def test_patient_floor_is_a_setting(cli_home):
    home, _, _ = cli_home
    run("export", "--home", home)
    assert run("patient-page", "password", "1001", "--set", "blue-kite-71", "--home", home,
               ok=False).exit_code == 1
    run("config", "set", "patient_password_min_bits", "30", "--home", home)
    out = run("patient-page", "password", "1001", "--set", "blue-kite-71", "--home", home).output
    assert "blue-kite-71" in out
    bad = run("config", "set", "patient_password_min_bits", "5", "--home", home, ok=False)
    assert "expected 20 to 128" in bad.output


def test_portal_login_says_nothing_about_password_rules():
    """No oracle: a failed login cannot teach which rule a password breaks."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "site_templates"
    rule = re.compile(r"weak|strong|at least|characters|digits|bits|too short|ضعيف|أحرف", re.I)
    for lang in ("en", "ar"):
        strings = json.loads((root / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        leaks = {k: v for k, v in strings.items()
                 if (k.startswith(("login.", "err.auth")) and rule.search(v))}
        assert not leaks, leaks
    for page in ("doctor.html", "patient.html"):
        html = (root / "pages" / page).read_text(encoding="utf-8")
        assert not re.search(r"minlength|pattern=", html), page
