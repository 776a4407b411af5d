"""Who may open what: clinic passwords, accounts, shares, patient pages, and key rotation.

Every change here is one keystore transaction. Revoking access gives the affected records a
new content key, so what is published afterwards is unreadable with the old keys (DESIGN.md
property 4). A password change or a page switched off retires the door the old password
opened (FORMAT.md 7): the door is remembered with the time it was retired (for notes written
before), its note key and the content keys it opened are replaced, and the next export
derives the new door, which the next publish uploads before it deletes the old one.
"""
from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from . import crypto, keystore, strength
from .errors import AccessError
from .normalize import normalize_card, normalize_user

ADMIN = "admin"
CLINIC_PASSWORDS = ("login", "admin", "general")
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: read aloud and typed on phones
_USER_RE = re.compile(r"^[\w.@-]{1,64}$")


def new_password(groups: int = 3) -> str:
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(groups))


def _chosen(password: str | None, what: str, weak_ok: bool, groups: int,
            min_bits: float = strength.MIN_BITS, user_inputs: tuple[str, ...] = ()) -> str:
    """A generated password for None; a chosen one only if it is strong or ``weak_ok``."""
    if password is None:
        return new_password(groups)
    strength.check(password, what=what, weak_ok=weak_ok, min_bits=min_bits, user_inputs=user_inputs)
    return password


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def init_keys(conn: sqlite3.Connection) -> dict[str, str]:
    """Create the clinic's passwords and keys and the built-in admin account."""
    pwds = {name: new_password(4) for name in CLINIC_PASSWORDS}
    notes_pk, notes_sk = crypto.box_keypair()
    with conn:
        for name, value in pwds.items():
            keystore.put_secret(conn, f"{name}_password", value)
        keystore.put_secret(conn, "gk", crypto.random_key())
        keystore.put_secret(conn, "lk", crypto.random_key())
        keystore.put_secret(conn, "notes_pk", notes_pk)
        keystore.put_secret(conn, "notes_sk", notes_sk)
        _insert_account(conn, ADMIN, pwds["admin"], builtin=True)
    return pwds


def _insert_account(conn: sqlite3.Connection, name: str, password: str, builtin: bool = False) -> None:
    note_pk, note_sk = crypto.sign_keypair()
    conn.execute(
        "INSERT INTO accounts (name, password, created_at, builtin, note_pk, note_sk, ik) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, password, _now(), int(builtin), note_pk, note_sk, crypto.random_key()),
    )


# -- accounts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    has_password: bool
    builtin: bool
    created_at: str
    shares: tuple[str, ...]


def list_accounts(conn: sqlite3.Connection) -> list[Account]:
    out = []
    for row in conn.execute("SELECT * FROM accounts ORDER BY builtin DESC, name"):
        shares = tuple(_describe_share(s) for s in conn.execute(
            "SELECT db, card, until FROM shares WHERE account = ? ORDER BY db, card", (row["name"],)))
        if row["builtin"]:
            shares = ("every patient of every database",)
        out.append(Account(row["name"], bool(row["password"]), bool(row["builtin"]),
                           row["created_at"], shares))
    return out


def _describe_share(row: sqlite3.Row) -> str:
    what = f"{row['db']}" + (f" patient {row['card']}" if row["card"] else " (all patients)")
    return what + (f" until {row['until']}" if row["until"] else "")


def _account(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM accounts WHERE name = ?", (normalize_user(name),)).fetchone()
    if row is None:
        raise AccessError(f"no account named {name!r}", hint="see them with: chartseal accounts list")
    return row


def create_account(conn: sqlite3.Connection, name: str, password: str | None = None, *,
                   weak_ok: bool = False) -> tuple[str, str]:
    """Create an account; returns its user name and password.

    ``password`` None generates one; "" makes an account the login password alone opens,
    which, like any weak chosen password, needs ``weak_ok``.
    """
    user = normalize_user(name)
    if not _USER_RE.match(user):
        raise AccessError(f"user name {name!r} is not allowed",
                          hint="use 1 to 64 letters, digits, '.', '_', '-' or '@'")
    if conn.execute("SELECT 1 FROM accounts WHERE name = ?", (user,)).fetchone():
        raise AccessError(f"an account named {user!r} already exists",
                          hint="pick another name, or delete it first")
    password = _chosen(password, f"password of account {user}", weak_ok, groups=4, user_inputs=(user,))
    try:
        with conn:
            _insert_account(conn, user, password)
    except sqlite3.IntegrityError as exc:
        # another console or command created it between the check above and this insert
        raise AccessError(f"an account named {user!r} already exists",
                          hint="pick another name, or delete it first") from exc
    return user, password


def delete_account(conn: sqlite3.Connection, name: str, known_cards: dict[str, set[str]]) -> int:
    """Delete an account; rotate every record it could see. Returns the rotated count."""
    row = _account(conn, name)
    if row["builtin"]:
        raise AccessError("the built-in admin account cannot be deleted",
                          hint="change its password instead: chartseal passwords set admin")
    with conn:
        before = visible_cards(conn, row["name"], known_cards, date.today())
        _retire_account_door(conn, row)
        conn.execute("DELETE FROM accounts WHERE name = ?", (row["name"],))
        return rotate(conn, before)


def set_account_password(conn: sqlite3.Connection, name: str, password: str | None, *,
                         weak_ok: bool = False) -> str:
    """Give an account a new password (None: a generated one); returns it."""
    row = _account(conn, name)
    password = _chosen(password, f"password of account {row['name']}", weak_ok, groups=4,
                       user_inputs=(row["name"],))
    with conn:
        _retire_account_door(conn, row)
        conn.execute("UPDATE accounts SET password = ?, door_id = NULL, door_key = NULL "
                     "WHERE name = ?", (password, row["name"]))
        _rekey_accounts(conn, [row["name"]])
        if row["builtin"]:
            keystore.put_secret(conn, "admin_password", password)
    return password


def _retire_account_door(conn: sqlite3.Connection, row: sqlite3.Row) -> None:
    if row["door_id"]:
        retire_door(conn, row["door_id"], "account", row["name"], row["note_pk"])


def _rekey_accounts(conn: sqlite3.Connection, names: list[str]) -> int:
    """New index and note keys for accounts whose door was retired; rotate what they saw.

    The old door gave its opener the index key ``ik`` (which also derives the diary keys),
    the note key and, through the index, every content key the account saw. A listing of
    the bucket shows every door id and object, so keeping any of them would let the old
    password's holder open what is published next.
    """
    known = known_cards(conn)
    lost: set[tuple[str, str]] = set()
    for name in names:
        # date.min: a share that ended since the last export was still visible through the door.
        lost |= visible_cards(conn, name, known, date.min)
        note_pk, note_sk = crypto.sign_keypair()
        conn.execute("UPDATE accounts SET ik = ?, note_pk = ?, note_sk = ? WHERE name = ?",
                     (crypto.random_key(), note_pk, note_sk, name))
    return rotate(conn, lost)


def retire_door(conn: sqlite3.Connection, door_id: str, kind: str, owner: str, note_pk: bytes) -> None:
    conn.execute("INSERT OR REPLACE INTO retired_doors VALUES (?, ?, ?, ?, ?)",
                 (door_id, kind, owner, note_pk, _now()))


# -- shares -------------------------------------------------------------------------------


def _check_until(until: str, today: date | None) -> str:
    if not until:
        return ""
    try:
        day = date.fromisoformat(until)
    except ValueError as exc:
        raise AccessError(f"--until expects a date like 2026-12-31, got {until!r}") from exc
    if today is not None and day < today:
        raise AccessError(f"the last day of the share, {day}, has already passed",
                          hint=f"give today ({today}) or a later day, or no end date")
    return day.isoformat()


def share(conn: sqlite3.Connection, db: str, account: str, cards: list[str], until: str = "",
          *, today: date | None = None) -> None:
    """Share ``db`` (or some cards) with an account, until a day included (or for good).

    With ``today`` (what a user types goes through this), an end date already past is refused.
    """
    row = _account(conn, account)
    if row["builtin"]:
        raise AccessError("admin already sees every patient of every database")
    until = _check_until(until, today)
    with conn:
        for card in [normalize_card(c) for c in cards] or [""]:
            conn.execute("INSERT OR REPLACE INTO shares (db, account, card, until) VALUES (?, ?, ?, ?)",
                         (db, row["name"], card, until))


def check_cards_in(path: Path, db: str, cards: list[str]) -> None:
    """Refuse a card the clinic database does not hold: a typo would share nothing, silently."""
    from . import clinic_db

    if not cards:
        return
    conn = clinic_db.connect_readonly(path)
    try:
        known = {normalize_card(str(r[0])) for r in conn.execute("SELECT card FROM patients")}
    except sqlite3.Error as exc:
        raise AccessError(f"cannot read the patients of database {db}: {exc}",
                          hint="run `chartseal schema` to see the tables chartseal reads") from exc
    finally:
        conn.close()
    unknown = [c for c in cards if normalize_card(c) not in known]
    if unknown:
        raise AccessError(f"no patient with card {', '.join(unknown)} in database {db}",
                          hint="check the card number on the patient's card")


def unshare(conn: sqlite3.Connection, db: str, account: str, cards: list[str],
            known_cards: dict[str, set[str]]) -> int:
    """Remove shares (all of ``db`` when no card is given); rotate what the account loses."""
    row = _account(conn, account)
    today = date.today()
    with conn:
        before = visible_cards(conn, row["name"], known_cards, today)
        if cards:
            n = sum(conn.execute("DELETE FROM shares WHERE db = ? AND account = ? AND card = ?",
                                 (db, row["name"], normalize_card(c))).rowcount for c in cards)
        else:
            n = conn.execute("DELETE FROM shares WHERE db = ? AND account = ?",
                             (db, row["name"])).rowcount
        if n == 0:
            raise AccessError(f"{row['name']} has no such share in {db!r}",
                              hint="see the shares with: chartseal shares")
        after = visible_cards(conn, row["name"], known_cards, today)
        return rotate(conn, before - after)


def visible_cards(conn: sqlite3.Connection, account: str, known_cards: dict[str, set[str]],
                  today: date) -> set[tuple[str, str]]:
    """Every (db, card) the account sees today, among ``known_cards`` (db -> cards)."""
    if account == ADMIN:
        return {(db, c) for db, cards in known_cards.items() for c in cards}
    out: set[tuple[str, str]] = set()
    for db, card, until in conn.execute(
            "SELECT db, card, until FROM shares WHERE account = ?", (account,)):
        if until and date.fromisoformat(until) < today:
            continue
        cards = known_cards.get(db, set())
        out |= {(db, c) for c in cards} if not card else ({(db, card)} if card in cards else set())
    return out


def expire_shares(conn: sqlite3.Connection, known_cards: dict[str, set[str]], today: date) -> int:
    """End shares whose last day has passed, rotating what their accounts lose.

    What an account loses is computed with the expired shares still counted, however long
    ago they ended (the clinic computer may have been off for days).
    """
    expired = conn.execute("SELECT DISTINCT account FROM shares WHERE until != '' AND until < ?",
                           (today.isoformat(),)).fetchall()
    rotated = 0
    with conn:
        for (account,) in expired:
            before = visible_cards(conn, account, known_cards, date.min)
            conn.execute("DELETE FROM shares WHERE account = ? AND until != '' AND until < ?",
                         (account, today.isoformat()))
            rotated += rotate(conn, before - visible_cards(conn, account, known_cards, today))
    return rotated


def rotate(conn: sqlite3.Connection, cards: set[tuple[str, str]]) -> int:
    """Give each record a new content key; the next export re-seals it (FORMAT.md 7)."""
    for db, card in cards:
        conn.execute("UPDATE patients SET ck = ? WHERE db = ? AND card = ?",
                     (crypto.random_key(), db, card))
    return len(cards)


# -- clinic passwords and patient pages ---------------------------------------------------


def set_clinic_password(conn: sqlite3.Connection, which: str, password: str | None, *,
                        weak_ok: bool = False) -> str:
    """Change the login, admin or general password (None: a generated one); returns it."""
    if which not in CLINIC_PASSWORDS:
        raise AccessError(f"unknown password {which!r}", hint="use login, admin or general")
    if which == "admin":
        return set_account_password(conn, ADMIN, password, weak_ok=weak_ok)
    password = _chosen(password, f"{which} password", weak_ok, groups=4)
    with conn:
        keystore.put_secret(conn, f"{which}_password", password)
        if which == "login":
            # The login password is part of every account's door: all of them are retired.
            rows = conn.execute("SELECT * FROM accounts").fetchall()
            for row in rows:
                _retire_account_door(conn, row)
            conn.execute("UPDATE accounts SET door_id = NULL, door_key = NULL")
            _rekey_accounts(conn, [row["name"] for row in rows])
        else:
            _retire_general(conn)
    return password


def _retire_general(conn: sqlite3.Connection) -> None:
    """New general and locator keys: the old password's door and every entry stop working.

    The old entries stay known (retired), so notes written through them before the change
    are still accepted when fetched afterwards; their note keys and the content keys they
    opened are replaced, so the old general key opens nothing published afterwards.
    """
    old_lk = keystore.get_secret(conn, "lk")
    # A page switched off had its entry retired then (set_patient_page).
    rows = conn.execute("SELECT rid, db, card, entry_note_pk FROM patients "
                        "WHERE page_enabled = 1").fetchall()
    for row in rows:
        retire_door(conn, crypto.entry_id(old_lk, row["card"]), "general", row["rid"],
                    bytes(row["entry_note_pk"]))
        _new_note_key(conn, row["rid"], "entry_note")
    keystore.put_secret(conn, "gk", crypto.random_key())
    keystore.put_secret(conn, "lk", crypto.random_key())
    conn.execute("DELETE FROM secrets WHERE name IN ('general_door_id', 'general_door_key')")
    rotate(conn, {(row["db"], row["card"]) for row in rows})


def _new_note_key(conn: sqlite3.Connection, rid: str, which: str) -> None:
    """A new note key pair for a patient door (``note``) or general entry (``entry_note``)."""
    pk, sk = crypto.sign_keypair()
    conn.execute(f"UPDATE patients SET {which}_pk = ?, {which}_sk = ? WHERE rid = ?", (pk, sk, rid))


def _patient(conn: sqlite3.Connection, card: str, db: str | None) -> sqlite3.Row:
    norm = normalize_card(card)
    rows = conn.execute("SELECT * FROM patients WHERE card = ?" + (" AND db = ?" if db else ""),
                        (norm, db) if db else (norm,)).fetchall()
    if not rows:
        raise AccessError(f"no exported patient with card {norm!r}",
                          hint="run chartseal export first; new patients get keys then")
    if len(rows) > 1:
        raise AccessError(f"card {norm!r} is in several databases",
                          hint="name the database with --db")
    return rows[0]


def set_patient_page(conn: sqlite3.Connection, card: str, enabled: bool, db: str | None = None) -> None:
    row = _patient(conn, card, db)
    with conn:
        conn.execute("UPDATE patients SET page_enabled = ? WHERE rid = ?", (int(enabled), row["rid"]))
        if not enabled and row["page_enabled"]:
            # The page's door and general entry leave the site at the next publish; whoever
            # opened them keeps nothing that opens what is published afterwards.
            entry = crypto.entry_id(keystore.get_secret(conn, "lk"), row["card"])
            retire_door(conn, entry, "general", row["rid"], bytes(row["entry_note_pk"]))
            _new_note_key(conn, row["rid"], "entry_note")
            _retire_patient_door(conn, row)


def _retire_patient_door(conn: sqlite3.Connection, row: sqlite3.Row) -> None:
    """Retire the patient door (if derived); new note key and content key for the record."""
    if row["door_id"]:
        retire_door(conn, row["door_id"], "patient", row["rid"], bytes(row["note_pk"]))
    conn.execute("UPDATE patients SET door_id = NULL, door_key = NULL WHERE rid = ?", (row["rid"],))
    _new_note_key(conn, row["rid"], "note")
    rotate(conn, {(row["db"], row["card"])})


def set_patient_password(conn: sqlite3.Connection, card: str, password: str | None,
                         db: str | None = None, *, weak_ok: bool = False,
                         min_bits: float = strength.MIN_BITS) -> str:
    """Give a patient page a new password (None: a generated one); returns it.

    ``min_bits`` is the clinic's floor for chosen patient passwords (the setting
    ``patient_password_min_bits``).
    """
    row = _patient(conn, card, db)
    password = _chosen(password, f"password of card {row['card']}", weak_ok, groups=3,
                       min_bits=min_bits, user_inputs=(row["card"],))
    with conn:
        _retire_patient_door(conn, row)
        conn.execute("UPDATE patients SET password = ? WHERE rid = ?", (password, row["rid"]))
    return password


def patient_password(conn: sqlite3.Connection, card: str, db: str | None = None) -> str:
    return str(_patient(conn, card, db)["password"])


def known_cards(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """db -> cards of every patient that has keys (was exported at least once)."""
    out: dict[str, set[str]] = {}
    for db, card in conn.execute("SELECT db, card FROM patients"):
        out.setdefault(db, set()).add(card)
    return out


def list_shares(conn: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    return [tuple(r) for r in conn.execute(
        "SELECT db, account, card, until FROM shares ORDER BY db, account, card")]
