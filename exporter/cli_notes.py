"""Commands for notes: `notes fetch/list/ack` (clinic side) and `notes-endpoint serve`."""
from __future__ import annotations

import json

import click

from .cli_util import UserError, home_option, open_home, reports_errors


@click.group()
def notes() -> None:
    """Notes viewers left on the site: fetch them into the clinic databases, list, mark read."""


@notes.command("fetch")
@home_option
@reports_errors
def notes_fetch(home_dir: str | None) -> None:
    """Move waiting notes from the inbox into the clinic databases (safe to repeat)."""
    from . import notes as core

    home = open_home(home_dir)
    result = core.fetch_notes(home)
    click.echo(f"stored {result.stored} new note(s)"
               + (f", {result.duplicates} already stored" if result.duplicates else ""))
    for name, reason in result.rejected:
        click.echo(f"rejected {name}: {reason}", err=True)
    if result.rejected:
        click.echo(f"hint: rejected notes are kept in the inbox folder rejected/ ({home.notes_inbox})",
                   err=True)


@notes.command("list")
@click.option("--unread", is_flag=True, help="Only notes not yet marked read.")
@click.option("--patient", "card", metavar="CARD", help="Only notes about this card number.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one list) instead of text.")
@home_option
@reports_errors
def notes_list(unread: bool, card: str | None, as_json: bool, home_dir: str | None) -> None:
    """List notes stored in the clinic databases, oldest first."""
    from .notes_store import list_notes

    rows = list_notes(open_home(home_dir), unread=unread, card=card)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        click.echo("no notes" + (" unread" if unread else ""))
        return
    for r in rows:
        mark = "" if r.read else "  [unread]"
        who = r.author if r.author in ("patient", "general") else f"account {r.author}"
        click.echo(f"{r.id}  {r.created_at}  card {r.card}  {r.patient}  from {who}{mark}")
        for line in r.text.splitlines() or [""]:
            click.echo(f"    {line}")


@notes.command("ack")
@click.argument("note_ids", metavar="ID...", nargs=-1, required=True)
@home_option
@reports_errors
def notes_ack(note_ids: tuple[str, ...], home_dir: str | None) -> None:
    """Mark notes read (IDs as shown by `notes list`, like main:12)."""
    from .notes_store import ack

    changed = ack(open_home(home_dir), list(note_ids))
    click.echo(f"marked {changed} note(s) read")


@click.group("notes-endpoint")
def notes_endpoint() -> None:
    """The tiny notes endpoint (deployable alone): takes sealed notes into a private inbox."""


@notes_endpoint.command("serve")
@click.option("--site", required=True, metavar="URL",
              help="The published site: https://… (its root) or a folder / file:///path.")
@click.option("--inbox", required=True, metavar="URL",
              help="The private inbox: a folder / file:///path or s3://bucket/prefix (never inside the site).")
@click.option("--origin", default=None, metavar="URL",
              help="The portal's origin, allowed to post from another origin (CORS).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=int, help="Port to listen on.")
@click.option("--max-per-door", default=60, show_default=True, type=int,
              help="Notes one door may send in 10 minutes (0: no limit).")
def notes_endpoint_serve(site: str, inbox: str, origin: str | None, host: str, port: int,
                         max_per_door: int) -> None:
    """Run the endpoint with waitress: POST /v1/notes."""
    import waitress

    from notes_endpoint.app import make_app
    from notes_endpoint.inbox import InboxError

    try:
        app = make_app(site, inbox, origin, max_per_door=max_per_door or None)
    except (ValueError, InboxError) as exc:
        raise UserError(str(exc), "see: chartseal notes-endpoint serve --help") from exc
    click.echo(f"notes endpoint on http://{host}:{port}/v1/notes (site {site}, inbox {inbox})")
    # Bodies over 8 KiB are refused anyway; do not let waitress buffer more than twice that.
    waitress.serve(app, host=host, port=port, threads=8, max_request_body_size=16384,
                   ident="chartseal-notes", _quiet=True)
