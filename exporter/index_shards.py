"""An account's index shards of one database (FORMAT.md 6.2): membership, inputs, sealing.

Every row is in the shard its keyed hash picks, so an edit to one patient changes one
shard per account that sees the patient. What runs for every patient on every export is a
few memo lookups and a list append; rendering, JSON and the sort happen only for a shard
that is sealed again, and a shard's inputs digest is kept by the tuple of its rows'
digests (strings whose hash Python keeps), so an unchanged shard costs no hashing of its
rows' text.
"""
from __future__ import annotations

from typing import Any, Iterable

from . import crypto, render
from .cache import input_digest
from .indexes import DbView, row_digest, row_order, shard_text
from .records import Patient

# One patient's row as an export knows it before rendering: the patient, the age the list
# shows, its record pointer, and the digest of all of that.
Member = tuple[Patient, "int | None", str, str, bytes, str]


def _members(ctx: Any, ik: bytes, view: DbView, shards: int) -> list[list[Member]]:
    """The rows of each shard, in the view's card order (a cheap, stable order for digests)."""
    out: list[list[Member]] = [[] for _ in range(shards)]
    shard_of = ctx.memo.table("shard-of").get
    digest_of = ctx.memo.table("row-digest").get
    # A row's JSON is used only when its shard is sealed again, and the memo drops what an
    # export did not use: carry each kept row forward, so a shard sealed again after an edit
    # renders only the edited patient's row.
    entries = ctx.memo.table("entry")
    kept, keep = entries.peek, entries.put
    bundles, db, today, version = ctx.bundles, view.db, ctx.today, ctx.version
    for p in view.by_card:
        rid, bundle, ck = bundles[(db, p.card)]
        years = render.age(p.birth_date, today)
        digest = digest_of((p.digest, years, rid, bundle, ck, version),
                           lambda: row_digest(p, years, rid, bundle, ck, version))
        entry = kept(digest)
        if entry is not None:
            keep(digest, entry)
        i = shard_of((ik, rid, shards), lambda: crypto.shard_of(ik, rid, shards))
        out[i].append((p, years, rid, bundle, ck, digest))
    return out


def _shard_inputs(ctx: Any, door_id: str, ik: bytes, db: str, i: int, rows: list[Member]) -> tuple[str, tuple[str, ...]]:
    """(inputs digest, refs) of one shard, kept by its rows' digests."""
    digests = tuple(m[5] for m in rows)
    key = (door_id, ik, db, i, ctx.version, ctx.lang, digests)
    return ctx.memo.table("shard-inputs").get(key, lambda: shard_inputs(ctx, door_id, ik, db, i, rows))


def shard_inputs(ctx: Any, door_id: str, ik: bytes, db: str, i: int, rows: list[Member]) -> tuple[str, tuple[str, ...]]:
    """(inputs digest, refs) of one shard: its rows' digests in card order, the bundles named."""
    return (input_digest(door_id, ik, db, i, ctx.version, ctx.lang, tuple(m[5] for m in rows)),
            ctx.writer.shared_names(f"{ctx.prefix}/{m[3]}" for m in rows))


def account_shards(ctx: Any, acc: Any, view: DbView,
                   plan: Iterable[tuple[list[Member], str, tuple[str, ...]]] | None = None) -> list[dict[str, Any]]:
    """Seal (or keep) every shard of ``view`` for account ``acc``; the root's pointers.
    ``plan``: each shard's (rows, inputs, refs) when the caller kept them (a LiveView)."""
    door_id, ik, user = acc["door_id"], bytes(acc["ik"]), acc["name"]
    if plan is None:
        members = _members(ctx, ik, view, crypto.shard_count(len(view.by_card)))
        # Lazily, shard by shard, as before: a one-off export's peak memory is unchanged.
        plan = ((rows, *_shard_inputs(ctx, door_id, ik, view.db, i, rows)) for i, rows in enumerate(members))
    pointers = []
    for i, (rows, inputs, refs) in enumerate(plan):
        name = ctx.writer.sealed_object(f"index-shard:{user}:{view.db}:{i}", inputs, ctx.prefix,
                                        _builder(ctx, door_id, ik, view, i, rows), "clinic", refs)
        pointers.append({"obj": name, "n": len(rows)})
    return pointers


def _builder(ctx: Any, door_id: str, ik: bytes, view: DbView, i: int, rows: list[Member]) -> Any:
    def build() -> bytes:
        get_sort = ctx.memo.table("sort").get
        ordered = sorted(rows, key=lambda m: row_order(m[0], m[2], get_sort))
        text = shard_text(view.db, i, (view.row_entry(*m) for m in ordered))
        return crypto.seal_body_text(crypto.shard_key(ik, view.db, i), [text],
                                     crypto.shard_ad(ctx.clinic, door_id, view.db, i))
    return build
