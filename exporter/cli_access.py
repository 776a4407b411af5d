"""Commands for who may open what: accounts, shares, patient pages, clinic passwords."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from typing import Iterator

import click

from . import access, keystore, strength
from .cli_util import home_option, open_home, reports_errors

weak_ok_option = click.option(
    "--weak-ok", is_flag=True,
    help="Keep a chosen password even if it is easy to guess (a warning is printed).")


@contextmanager
def _keys(home_dir: str | None) -> Iterator[object]:
    home = open_home(home_dir)
    conn = keystore.connect(home.keys_path)
    try:
        yield conn
    finally:
        conn.close()


def _warn_weak(password: str | None, weak_ok: bool, min_bits: float = strength.MIN_BITS) -> None:
    """With --weak-ok, say plainly that a weak chosen password is being kept."""
    if weak_ok and password is not None:
        warning = strength.check(password, what="password", weak_ok=True, min_bits=min_bits)
        if warning:
            click.echo(f"warning: {warning}", err=True)


@click.group()
def accounts() -> None:
    """Portal accounts: each doctor logs in with the login password + user name + password."""


@accounts.command("list")
@home_option
@reports_errors
def accounts_list(home_dir: str | None) -> None:
    """List accounts and what each one sees."""
    with _keys(home_dir) as conn:
        for acc in access.list_accounts(conn):
            pw = "password" if acc.has_password else "no password"
            sees = "; ".join(acc.shares) or "nothing shared yet"
            click.echo(f"{acc.name}\t{pw}\t{sees}")


@accounts.command("create")
@click.argument("name")
@click.option("--password", default=None, help="The account's password (default: a generated one).")
@click.option("--no-password", is_flag=True,
              help="The login password alone opens this account (needs --weak-ok).")
@weak_ok_option
@home_option
@reports_errors
def accounts_create(name: str, password: str | None, no_password: bool, weak_ok: bool,
                    home_dir: str | None) -> None:
    """Create an account NAME (publish to put it online)."""
    chosen = "" if no_password else password
    _warn_weak(chosen, weak_ok)
    with _keys(home_dir) as conn:
        user, pw = access.create_account(conn, name, chosen, weak_ok=weak_ok)
    click.echo(f"account {user} created" + (f", password: {pw}" if pw else ", no password"))
    click.echo(f"share patients with it: chartseal share DB --with {user}")


@accounts.command("delete")
@click.argument("name")
@home_option
@reports_errors
def accounts_delete(name: str, home_dir: str | None) -> None:
    """Delete account NAME; the records it saw get new keys on the next export."""
    with _keys(home_dir) as conn:
        n = access.delete_account(conn, name, access.known_cards(conn))
    click.echo(f"account {name} deleted; {n} records will be sealed under new keys")


@accounts.command("password")
@click.argument("name")
@click.option("--password", default=None, help="The new password (default: a generated one).")
@weak_ok_option
@home_option
@reports_errors
def accounts_password(name: str, password: str | None, weak_ok: bool, home_dir: str | None) -> None:
    """Change the password of account NAME."""
    _warn_weak(password, weak_ok)
    with _keys(home_dir) as conn:
        pw = access.set_account_password(conn, name, password, weak_ok=weak_ok)
    click.echo(f"new password for {name}: {pw}")


@click.command()
@click.argument("db")
@click.option("--with", "account", required=True, help="The account to share with.")
@click.option("--patient", "cards", multiple=True, help="Share only this card (repeatable).")
@click.option("--until", default="", help="Last day of a temporary share (YYYY-MM-DD).")
@home_option
@reports_errors
def share(db: str, account: str, cards: tuple[str, ...], until: str, home_dir: str | None) -> None:
    """Share database DB, or some of its patients, with an account."""
    home = open_home(home_dir)
    path = home.database(db).path
    with _keys(home_dir) as conn:
        access.check_cards_in(path, db, list(cards))
        access.share(conn, db, account, list(cards), until, today=date.today())
    what = f"patients {', '.join(cards)}" if cards else "all patients"
    click.echo(f"shared {db} ({what}) with {account}" + (f" until {until}" if until else ""))


@click.command()
@click.argument("db")
@click.option("--with", "account", required=True, help="The account to stop sharing with.")
@click.option("--patient", "cards", multiple=True, help="Unshare only this card (repeatable).")
@home_option
@reports_errors
def unshare(db: str, account: str, cards: tuple[str, ...], home_dir: str | None) -> None:
    """Stop sharing DB (or some patients) with an account; rotates the records' keys."""
    with _keys(home_dir) as conn:
        n = access.unshare(conn, db, account, list(cards), access.known_cards(conn))
    click.echo(f"unshared; {n} records will be sealed under new keys on the next export")
    click.echo("copies already downloaded cannot be recalled")


@click.command()
@home_option
@reports_errors
def shares(home_dir: str | None) -> None:
    """List every share."""
    with _keys(home_dir) as conn:
        rows = access.list_shares(conn)
    if not rows:
        click.echo("no shares (admin sees every patient anyway)")
    for db, account, card, until in rows:
        click.echo(f"{db}\t{account}\t{card or 'all patients'}\t{('until ' + until) if until else ''}")


@click.group("patient-page")
def patient_page() -> None:
    """Patient pages: on or off per patient, each patient's password, access cards."""


@patient_page.command("enable")
@click.argument("card")
@click.option("--db", default=None, help="The database, when the card is in several.")
@home_option
@reports_errors
def page_enable(card: str, db: str | None, home_dir: str | None) -> None:
    """Publish the page of patient CARD."""
    with _keys(home_dir) as conn:
        access.set_patient_page(conn, card, True, db)
    click.echo(f"page of {card}: on")


@patient_page.command("disable")
@click.argument("card")
@click.option("--db", default=None, help="The database, when the card is in several.")
@home_option
@reports_errors
def page_disable(card: str, db: str | None, home_dir: str | None) -> None:
    """Take the page of patient CARD off the site."""
    with _keys(home_dir) as conn:
        access.set_patient_page(conn, card, False, db)
    click.echo(f"page of {card}: off")


@patient_page.command("password")
@click.argument("card")
@click.option("--set", "password", default=None, help="Set this password (default: show it).")
@click.option("--new", "generate", is_flag=True, help="Generate a new password.")
@click.option("--db", default=None, help="The database, when the card is in several.")
@weak_ok_option
@home_option
@reports_errors
def page_password(card: str, password: str | None, generate: bool, db: str | None, weak_ok: bool,
                  home_dir: str | None) -> None:
    """Show or change the password of patient CARD's page."""
    min_bits = open_home(home_dir).config["patient_password_min_bits"]
    with _keys(home_dir) as conn:
        if password is None and not generate:
            click.echo(access.patient_password(conn, card, db))
            return
        _warn_weak(password, weak_ok, min_bits)
        pw = access.set_patient_password(conn, card, password, db, weak_ok=weak_ok, min_bits=min_bits)
    click.echo(f"new password for {card}: {pw}")


@patient_page.command("card")
@click.argument("cards", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every patient whose page is on.")
@click.option("--db", default=None, help="The database, when a card is in several (limits --all).")
@click.option("--new-password", is_flag=True,
              help="Give each patient a fresh password first; the old card stops working at the"
                   " next publish.")
@click.option("--lang", type=click.Choice(["en", "ar"]), default=None,
              help="Language of the cards (default: the setting lang).")
@click.option("--single", is_flag=True, help="One card per page instead of ten per A4 page.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The PDF file to write.")
@home_option
@reports_errors
def page_card(cards: tuple[str, ...], all_: bool, db: str | None, new_password: bool,
              lang: str | None, single: bool, out: str, home_dir: str | None) -> None:
    """Print access cards (PDF with a QR code) for patients CARD... or --all."""
    from . import cards as card_lib  # fpdf2 and HarfBuzz load only for this command

    home = open_home(home_dir)
    card_lib.check_writable(out)  # before --new-password changes anything
    pdf = card_lib.render_pdf(home, list(cards), all=all_, db=db, new_password=new_password,
                              lang=lang or home.config["lang"], single=single)
    card_lib.write_pdf(out, pdf)
    click.echo(f"wrote {out}: it holds patient passwords, keep it private and delete it after"
               " printing")
    if new_password:
        click.echo("new passwords are set; cards printed before stop working at the next publish:"
                   " run chartseal publish")


@click.group()
def passwords() -> None:
    """The clinic passwords: login, admin and general."""


@passwords.command("set")
@click.argument("which", type=click.Choice(access.CLINIC_PASSWORDS))
@click.option("--password", default=None, help="The new password (default: a generated one).")
@weak_ok_option
@home_option
@reports_errors
def passwords_set(which: str, password: str | None, weak_ok: bool, home_dir: str | None) -> None:
    """Change the login, admin or general password."""
    _warn_weak(password, weak_ok)
    with _keys(home_dir) as conn:
        pw = access.set_clinic_password(conn, which, password, weak_ok=weak_ok)
    click.echo(f"new {which} password: {pw}")
    click.echo("it takes effect on the next publish")


@passwords.command("show")
@home_option
@reports_errors
def passwords_show(home_dir: str | None) -> None:
    """Show the clinic passwords."""
    with _keys(home_dir) as conn:
        for which in access.CLINIC_PASSWORDS:
            click.echo(f"{which}\t{keystore.get_text(conn, which + '_password')}")
