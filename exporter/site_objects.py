"""Sealing the site's objects: patient bundles, doors, entries, account index roots and
shards, diary shards.

Every object goes through :class:`exporter.writer.ObjectWriter`, which reuses the previous
object when the inputs it was sealed from are unchanged.
"""
from __future__ import annotations

import json
from typing import Any

from . import access, crypto, render, settings
from .cache import input_digest
from .indexes import DbView
from .index_shards import account_shards
from .patient_pass import keystore_rows, seal_remembered
from .live_views import LiveView
from .records import Patient, Problem
from site_templates import ROOT as TEMPLATES_ROOT


def _templates_version(config: Any = None) -> str:
    """What every rendered object depends on besides its data: the format, the templates,
    the strings and the display settings (a new currency re-renders every amount)."""
    config = config or settings.defaults()
    parts: list[Any] = [("display", config["currency"], bool(config["patient_sees_notes"]))]
    for folder in ("fragments", "i18n"):
        for path in sorted((TEMPLATES_ROOT / folder).rglob("*")):
            if path.is_file():
                parts.append((str(path.relative_to(TEMPLATES_ROOT)), _template_bytes(path)))
    # The format is an input of every object: a site sealed under another version is sealed
    # again once, whole (FORMAT.md 8).
    return input_digest(crypto.FORMAT, parts)


def _template_bytes(path: Any) -> bytes:
    """A template file as the site uses it: a strings file without the console's strings, so
    a change to those does not re-seal every record."""
    if path.parent.name == "i18n" and path.suffix == ".json" and path.stem in render.LANGS:
        return json.dumps(dict(render.strings(path.stem)), sort_keys=True).encode("utf-8")
    return bytes(path.read_bytes())


def _record_payload(ctx: Any, who: str, rid: str, card: str, bundle: str, ck: bytes,
                    note_sk: bytes) -> dict[str, Any]:
    return {"kind": "record", "who": who, "rid": rid, "card": card, "bundle": bundle,
            "ck": crypto.b64e(ck), "note_sk": crypto.b64e(note_sk), "site_pk": ctx.site_pk}


def _door(ctx: Any, door_id: str, key: bytes, note_pk: bytes, payload: dict[str, Any],
          group: str, refs: tuple[str, ...], entry: bool = False) -> bool:
    """Place a door or entry; it is sealed again only when its payload, keys or the floor
    change, and then carries this export's seq and at (FORMAT.md 5.4)."""
    inputs = input_digest(payload, door_id, key, note_pk, ctx.home.kdf.to_json(), entry,
                          crypto.FORMAT, ctx.publish.floor)
    return ctx.writer.door(
        f"{ctx.prefix}/door/{door_id}.json", inputs,
        lambda: crypto.seal_door(key, ctx.clinic, door_id, ctx.home.kdf, note_pk,
                                 {**payload, "seq": ctx.publish.seq, "at": ctx.publish.at}, entry=entry),
        group, refs)


def seal_patients(ctx: Any, data: dict[str, list[Patient]], pages: set[tuple[str, str]]) -> None:
    """Bundles for every patient; a patient door and a general entry where pages are on."""
    ctx.version = version = _templates_version(ctx.home.config)
    gk, lk = (bytes(ctx.keys.execute("SELECT value FROM secrets WHERE name = ?", (n,)).fetchone()[0])
              for n in ("gk", "lk"))
    common = input_digest(ctx.clinic, ctx.prefix, version, ctx.lang, gk, lk, repr(ctx.home.kdf.to_json()),
                          ctx.site_pk, ctx.publish.floor)
    ctx.bundles = {}
    if ctx.memo.remember:
        seal_remembered(ctx, data, pages, common, gk, lk)
        return
    for db, patients in data.items():
        for i, (p, row) in enumerate(keystore_rows(ctx.keys, db, patients)):
            ctx.bundles[(db, p.card)] = _seal_patient(ctx, db, p, row, render.patient_today(p, ctx.today),
                                                      (db, p.card) in pages, gk, lk)
            # Once its bundle is sealed, a one-off export needs no more than the list and
            # the diary show: the rest is let go, which sets a large clinic's peak memory.
            patients[i] = p.for_lists()


def _seal_patient(ctx: Any, db: str, p: Patient, row: Any, shown_today: tuple, on_page: bool,
                  gk: bytes, lk: bytes) -> tuple[str, str, bytes]:
    rid, ck = row["rid"], bytes(row["ck"])
    # Not today itself: the record is sealed again when the age or the upcoming
    # appointments it shows change, not every day.
    inputs = input_digest(p.digest, ck, ctx.version, shown_today, ctx.lang)
    build = _bundle_builder(ctx, p, rid, ck, None)

    bundle = ctx.writer.sealed_object(f"bundle:{rid}", inputs, ctx.prefix, build, rid)
    if on_page:
        try:
            _patient_doors(ctx, db, row, _patient_bundle(ctx, p, rid, ck, inputs, (bundle, ck)), gk, lk)
        except crypto.CryptoError as exc:  # a card too long for one door's size
            ctx.problems.append(Problem(f"{db}/{p.card}", "card", f"patient page not published: {exc}; "
                                        "use a shorter card number"))
    return rid, bundle, ck


def _bundle_builder(ctx: Any, p: Patient, rid: str, key: bytes, view: str | None) -> Any:
    """The sealing of one bundle (FORMAT.md 6.1): the doctors' view, or with ``view`` set to
    "patient" the patient's own, without the clinic's notes."""
    def build() -> bytes:
        shown = p.patient_view() if view else p
        value = {"v": crypto.VERSION, "rid": rid, "card": p.card, "title": p.full_name,
                 "updated": p.modified_at,
                 "html": render.patient_fragment(shown, ctx.today, ctx.lang, ctx.home.config["currency"])}
        if view:
            value["view"] = view
        return crypto.seal_body(key, value, crypto.label("chartseal/v1/bundle", ctx.clinic, rid))
    return build


def patient_view_key(ck: bytes, rid: str) -> bytes:
    """The key of a patient's own bundle: derived one way from the doctors' ``ck``, so the
    patient's door never holds a key that opens the doctors' view (FORMAT.md 6.1)."""
    return crypto.hash_(32, crypto.label("chartseal/v1/patient-view-key", rid), key=ck)


def _patient_bundle(ctx: Any, p: Patient, rid: str, ck: bytes, inputs: str,
                    doctors: tuple[str, bytes]) -> tuple[str, bytes]:
    """``(bundle, key)`` the patient's door and general entry point to: the doctors' bundle
    when the patient may see all of it, else a bundle of its own without the clinic's notes."""
    if ctx.home.config["patient_sees_notes"] or not p.has_clinic_notes:
        return doctors
    key = patient_view_key(ck, rid)
    name = ctx.writer.sealed_object(f"bundle-patient:{rid}", input_digest(inputs, "patient"), ctx.prefix,
                                    _bundle_builder(ctx, p, rid, key, "patient"), rid)
    return name, key


def _patient_doors(ctx: Any, db: str, row: Any, target: tuple[str, bytes], gk: bytes, lk: bytes) -> None:
    rid, card = row["rid"], row["card"]
    bundle, ck = target
    refs = (f"{ctx.prefix}/{bundle}",)
    door_id, door_key = row["door_id"], bytes(row["door_key"])
    payload = _record_payload(ctx, "patient", rid, card, bundle, ck, bytes(row["note_sk"]))
    if not _door(ctx, door_id, door_key, bytes(row["note_pk"]), payload, rid, refs):
        ctx.problems.append(Problem(f"{db}/{card}", "password",
                                    "another database has this card with the same password; only "
                                    "the first patient's page opens with it: set another password "
                                    f"with `chartseal patient-page password {card} --db {db} --new`"))
    entry = crypto.entry_id(lk, card)
    entry_pk = bytes(row["entry_note_pk"])
    entry_payload = _record_payload(ctx, "general", rid, card, bundle, ck, bytes(row["entry_note_sk"]))
    if not _door(ctx, entry, gk, entry_pk, entry_payload, rid, refs, entry=True):
        # The patient page finds a record by card alone, so one card can lead to one record.
        ctx.problems.append(Problem(f"{db}/{card}", "card",
                                    "another database has the same card number; the general "
                                    "password opens only the first one's page (databases in "
                                    "name order): give one of them another card number"))


def diary_key(ik: bytes, db: str, month: str) -> bytes:
    return crypto.hash_(32, crypto.label("chartseal/v1/diary-key", db, month), key=ik)


def seal_accounts(ctx: Any, data: dict[str, list[Patient]], known: dict[str, set[str]]) -> None:
    """The general door, and per account its index, diary shards and door."""
    by_card = {(db, p.card): p for db, ps in data.items() for p in ps}
    views: dict[tuple[str, frozenset[str]], DbView] = {}
    # A process that exports again keeps each view and updates it for what changed; the
    # memo holds them only once this export is through them (a failed one leaves none).
    kept, ctx.memo.views = ctx.memo.views, {}
    used: dict[int, list[tuple[str, bytes, str]]] = {}
    for acc in ctx.keys.execute("SELECT * FROM accounts ORDER BY name").fetchall():
        visible = access.visible_cards(ctx.keys, acc["name"], known, ctx.today)
        parts = []
        for db in sorted({d for d, _ in visible}):
            cards = frozenset(c for d, c in visible if d == db)
            if (db, cards) not in views:
                views[(db, cards)] = (_live_view(ctx, kept, db, cards, by_card) if ctx.memo.remember
                                      else _one_off_view(ctx, db, cards, by_card))
            view = views[(db, cards)]
            used.setdefault(id(view), []).append((acc["door_id"], bytes(acc["ik"]), ctx.prefix))
            parts.append(_account_db(ctx, acc, view))
        _account_index_and_door(ctx, acc, parts)
        for part in parts:
            # Rendered pieces are rebuilt if another account needs them; holding them for
            # every view at once is what sets the export's peak memory.
            part["view"].release()
    _general_door(ctx)
    if ctx.memo.remember:
        for view in views.values():
            view.forget_accounts(used[id(view)])
        ctx.memo.views = {id(v): v for v in views.values()}


def _one_off_view(ctx: Any, db: str, cards: frozenset[str], by_card: dict[tuple[str, str], Patient]) -> DbView:
    pats = [by_card[(db, c)] for c in cards]
    rids = {p.id: ctx.bundles[(db, p.card)][0] for p in pats}
    return DbView(db, pats, rids, ctx.today, ctx.lang, ctx.version, ctx.memo, ctx.home.config["currency"], cards)


def _live_view(ctx: Any, kept: dict[Any, LiveView], db: str, cards: frozenset[str],
               by_card: dict[tuple[str, str], Patient]) -> LiveView:
    """The view the last export kept for the same cards, else one it kept for this database
    (an account's visible cards changed: updated by the difference), else a new one."""
    currency = ctx.home.config["currency"]
    fits = [v for v in kept.values() if v.db == db and v.matches(ctx.version, ctx.lang, currency)]
    view = next((v for v in fits if v.cards == cards), None)
    if view is None and fits:
        view = min(fits, key=lambda v: len(v.cards ^ cards))
    if view is None:
        view = LiveView(db, cards, ctx.lang, ctx.version, ctx.memo, currency)
    else:
        del kept[id(view)]
    view.update(ctx, cards, by_card)
    return view


def _account_db(ctx: Any, acc: Any, view: DbView) -> dict[str, Any]:
    """One database of an account's index root: its diary shards and index shards sealed."""
    door_id, ik = acc["door_id"], bytes(acc["ik"])
    diary = {}
    for month in view.month_index:
        key = diary_key(ik, view.db, month)
        ad = crypto.label("chartseal/v1/diary", ctx.clinic, door_id, view.db, month)
        view.keep_days(month)
        name = ctx.writer.sealed_object(
            f"diary:{acc['name']}:{view.db}:{month}", input_digest(view.month_digest(month), door_id, key),
            ctx.prefix, lambda m=month, k=key, a=ad: crypto.seal_body_text(k, view.month_pieces(m), a), "clinic")
        diary[month] = {"obj": name, "key": crypto.b64e(key)}
    view.release()  # the shards do not need the diary's index: free it before building them
    live = isinstance(view, LiveView)
    shards = account_shards(ctx, acc, view, view.shard_plan(ctx, acc["door_id"], bytes(acc["ik"])) if live else None)
    return {"id": view.db, "name": view.db, "count": sum(x["n"] for x in shards), "shards": shards,
            "diary": diary, "view": view}


def _account_index_and_door(ctx: Any, acc: Any, parts: list[dict[str, Any]]) -> None:
    door_id, ik, user = acc["door_id"], bytes(acc["ik"]), acc["name"]
    ad = crypto.label("chartseal/v1/index", ctx.clinic, door_id)
    dbs = [{k: v for k, v in part.items() if k != "view"} for part in parts]
    refs = [f"{ctx.prefix}/{x['obj']}" for db in dbs for x in db["shards"]]
    refs += [f"{ctx.prefix}/{x['obj']}" for db in dbs for x in db["diary"].values()]
    # Not seq or at: a root is sealed again when what it names changes, not every export.
    # It names every shard, so a change to any row is a change to the root.
    inputs = input_digest(door_id, ik, ctx.version, ctx.lang, ctx.site_pk, user, dbs)
    stamp = {"seq": ctx.publish.seq, "at": ctx.publish.at, "site_pk": ctx.site_pk}
    index = ctx.writer.sealed_object(
        f"index:{user}", inputs, ctx.prefix,
        lambda: crypto.seal_body(ik, {"v": crypto.VERSION, "user": user, "generated": ctx.generated,
                                      "databases": dbs, **stamp}, ad),
        "clinic", refs)
    payload = {"kind": "account", "user": user, "index": index, "ik": crypto.b64e(ik),
               "note_sk": crypto.b64e(bytes(acc["note_sk"])), "site_pk": ctx.site_pk}
    _door(ctx, door_id, bytes(acc["door_key"]), bytes(acc["note_pk"]), payload, "clinic",
          (f"{ctx.prefix}/{index}",))


def _general_door(ctx: Any) -> None:
    get = lambda n: bytes(ctx.keys.execute("SELECT value FROM secrets WHERE name = ?", (n,)).fetchone()[0])  # noqa: E731
    door_id, door_key = get("general_door_id").decode(), get("general_door_key")
    gk, lk = get("gk"), get("lk")
    # The general door's note key is never used to sign (notes go through entries), but
    # every door carries one so all doors look alike.
    note_pk = crypto.hash_(32, crypto.label("chartseal/v1/door", "general-note-pk"), key=door_key)
    payload = {"kind": "general", "gk": crypto.b64e(gk), "lk": crypto.b64e(lk), "site_pk": ctx.site_pk}
    _door(ctx, door_id, door_key, note_pk, payload, "clinic", ())
