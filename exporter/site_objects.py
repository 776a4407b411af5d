"""Sealing the site's objects: patient bundles, doors, entries, account indexes, diary shards.

Every object goes through :class:`ObjectWriter`, which reuses the previous object when the
inputs it was sealed from are unchanged and otherwise writes the new bytes atomically.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Callable, Sequence

from . import access, crypto, plan, render
from .cache import SealedCache, input_digest
from .indexes import DbView, diary_months, index_value, list_order, search_key
from .records import Patient
from site_templates import ROOT as TEMPLATES_ROOT


def _templates_version() -> str:
    parts = []
    for folder in ("fragments", "i18n"):
        for path in sorted((TEMPLATES_ROOT / folder).rglob("*")):
            if path.is_file():
                parts.append((str(path.relative_to(TEMPLATES_ROOT)), path.read_bytes()))
    return input_digest(parts)


def _write_atomic(path: Path, data: bytes) -> None:
    # No fsync per file: ObjectWriter.flush() syncs once before the plan names the files,
    # which is as durable and several times faster for thousands of small objects.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class ObjectWriter:
    def __init__(self, site_dir: Path, cache: SealedCache) -> None:
        self.site_dir = site_dir
        self.cache = cache
        self.objects: dict[str, plan.PlanObject] = {}
        self.sealed = 0
        self.kept = 0

    def _record(self, name: str, data: bytes, kind: str, group: str, refs: Sequence[str]) -> None:
        self.objects[name] = plan.PlanObject(name, plan.digest(data), len(data), kind, group, tuple(refs))

    def _keep(self, name: str, kind: str, group: str, refs: Sequence[str]) -> bool:
        path = self.site_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            return False
        self._record(name, data, kind, group, refs)
        self.kept += 1
        return True

    def put_plain(self, name: str, data: bytes, kind: str, group: str, refs: Sequence[str] = ()) -> None:
        """An object whose bytes are deterministic (site.json, app files)."""
        path = self.site_dir / name
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if same:
            self.kept += 1
        else:
            _write_atomic(path, data)
            self.sealed += 1
        self._record(name, data, kind, group, refs)

    def sealed_object(self, key: str, inputs: str, prefix: str, build: Callable[[], bytes],
                      group: str, refs: Sequence[str] = ()) -> str:
        """An immutable ``obj/`` object; returns its name relative to ``prefix``."""
        name = self.cache.lookup(key, inputs)
        if name and self._keep(name, plan.IMMUTABLE, group, refs):
            return name[len(prefix) + 1:]
        body = build()
        name = f"{prefix}/obj/{crypto.object_name(body)}.bin"
        _write_atomic(self.site_dir / name, body)
        self._record(name, body, plan.IMMUTABLE, group, refs)
        self.cache.store(key, inputs, name)
        self.sealed += 1
        return name[len(prefix) + 1:]

    def door(self, name: str, inputs: str, build: Callable[[], bytes], group: str,
             refs: Sequence[str]) -> None:
        """A pointer object at a fixed name (door or entry), rewritten when its inputs change."""
        if self.cache.lookup(name, inputs) == name and self._keep(name, plan.POINTER, group, refs):
            return
        data = build()
        _write_atomic(self.site_dir / name, data)
        self._record(name, data, plan.POINTER, group, refs)
        self.cache.store(name, inputs, name)
        self.sealed += 1

    def flush(self) -> None:
        """Make every written object durable before the plan that names it is committed."""
        if self.sealed:
            os.sync()

    def remove_strays(self) -> int:
        removed = 0
        for path in self.site_dir.rglob("*"):
            if path.is_file() and str(path.relative_to(self.site_dir)) not in self.objects:
                path.unlink()
                removed += 1
        return removed


def _record_payload(who: str, rid: str, card: str, bundle: str, ck: bytes, note_sk: bytes) -> dict[str, Any]:
    return {"kind": "record", "who": who, "rid": rid, "card": card, "bundle": bundle,
            "ck": crypto.b64e(ck), "note_sk": crypto.b64e(note_sk)}


def seal_patients(ctx: Any, data: dict[str, list[Patient]], pages: set[tuple[str, str]]) -> None:
    """Bundles for every patient; a patient door and a general entry where pages are on."""
    version = _templates_version()
    gk, lk = (bytes(ctx.keys.execute("SELECT value FROM secrets WHERE name = ?", (n,)).fetchone()[0])
              for n in ("gk", "lk"))
    ctx.bundles = {}
    for db, patients in data.items():
        rows = {r["card"]: r for r in ctx.keys.execute("SELECT * FROM patients WHERE db = ?", (db,))}
        for p in patients:
            row = rows[p.card]
            rid, ck = row["rid"], bytes(row["ck"])
            years = render.age(p.birth_date, ctx.today)
            inputs = input_digest(p.digest, ck, version, years, ctx.lang)

            def build(p: Patient = p, rid: str = rid, ck: bytes = ck) -> bytes:
                value = {"v": 1, "rid": rid, "card": p.card, "title": p.full_name,
                         "updated": p.modified_at,
                         "html": render.patient_fragment(p, ctx.today, ctx.lang)}
                return crypto.seal_body(ck, value, crypto.label("chartseal/v1/bundle", ctx.clinic, rid))

            bundle = ctx.writer.sealed_object(f"bundle:{rid}", inputs, ctx.prefix, build, rid)
            ctx.bundles[(db, p.card)] = (rid, bundle, ck)
            if (db, p.card) in pages:
                _patient_doors(ctx, row, bundle, gk, lk)


def _patient_doors(ctx: Any, row: Any, bundle: str, gk: bytes, lk: bytes) -> None:
    rid, card, ck = row["rid"], row["card"], bytes(row["ck"])
    refs = (f"{ctx.prefix}/{bundle}",)
    door_id, door_key = row["door_id"], bytes(row["door_key"])
    note_pk = bytes(row["note_pk"])
    payload = _record_payload("patient", rid, card, bundle, ck, bytes(row["note_sk"]))
    ctx.writer.door(
        f"{ctx.prefix}/door/{door_id}.json", input_digest(payload, door_id, door_key, note_pk,
                                                          ctx.home.kdf.to_json()),
        lambda: crypto.seal_door(door_key, ctx.clinic, door_id, ctx.home.kdf, note_pk, payload),
        rid, refs)
    entry = crypto.entry_id(lk, card)
    entry_pk = bytes(row["entry_note_pk"])
    entry_payload = _record_payload("general", rid, card, bundle, ck, bytes(row["entry_note_sk"]))
    ctx.writer.door(
        f"{ctx.prefix}/door/{entry}.json", input_digest(entry_payload, entry, gk, entry_pk),
        lambda: crypto.seal_door(gk, ctx.clinic, entry, None, entry_pk, entry_payload),
        rid, refs)


def diary_key(ik: bytes, db: str, month: str) -> bytes:
    return crypto.hash_(32, crypto.label("chartseal/v1/diary-key", db, month), key=ik)


def seal_accounts(ctx: Any, data: dict[str, list[Patient]], known: dict[str, set[str]]) -> None:
    """The general door, and per account its index, diary shards and door."""
    by_card = {(db, p.card): p for db, ps in data.items() for p in ps}
    memo: dict[tuple[str, frozenset[str]], tuple[str, dict[str, dict[str, Any]], list[Patient]]] = {}
    for acc in ctx.keys.execute("SELECT * FROM accounts ORDER BY name").fetchall():
        visible = access.visible_cards(ctx.keys, acc["name"], known, ctx.today)
        door_id, ik = acc["door_id"], bytes(acc["ik"])
        dbs, refs = [], []
        for db in sorted({d for d, _ in visible}):
            cards = frozenset(c for d, c in visible if d == db)
            if (db, cards) not in memo:
                pats = list_order([by_card[(db, c)] for c in cards])
                rids = {p.id: ctx.bundles[(db, p.card)][0] for p in pats}
                view = DbView(db, db, pats, rids)
                memo[(db, cards)] = (render.list_fragment(pats, ctx.today, ctx.lang),
                                     diary_months(view, ctx.lang), pats)
            list_html, months, pats = memo[(db, cards)]
            diary = {}
            for month, shard in months.items():
                key = diary_key(ik, db, month)
                ad = crypto.label("chartseal/v1/diary", ctx.clinic, door_id, db, month)
                name = ctx.writer.sealed_object(
                    f"diary:{acc['name']}:{db}:{month}", input_digest(shard, door_id, key),
                    ctx.prefix, lambda s=shard, k=key, a=ad: crypto.seal_body(k, s, a), "clinic")
                diary[month] = {"obj": name, "key": crypto.b64e(key)}
                refs.append(f"{ctx.prefix}/{name}")
            entries = []
            for p in pats:
                rid, bundle, ck = ctx.bundles[(db, p.card)]
                entries.append({"rid": rid, "bundle": bundle, "ck": crypto.b64e(ck),
                                "search": search_key(p), "card": p.card})
                refs.append(f"{ctx.prefix}/{bundle}")
            dbs.append({"id": db, "name": db, "list_html": list_html, "patients": entries,
                        "diary": diary})
        _account_index_and_door(ctx, acc, dbs, refs)
    _general_door(ctx)


def _account_index_and_door(ctx: Any, acc: Any, dbs: list[dict[str, Any]], refs: list[str]) -> None:
    door_id, ik, user = acc["door_id"], bytes(acc["ik"]), acc["name"]
    ad = crypto.label("chartseal/v1/index", ctx.clinic, door_id)
    index = ctx.writer.sealed_object(
        f"index:{user}", input_digest(dbs, door_id, ik), ctx.prefix,
        lambda: crypto.seal_body(ik, index_value(user, ctx.generated, dbs), ad), "clinic", refs)
    door_key, note_pk = bytes(acc["door_key"]), bytes(acc["note_pk"])
    payload = {"kind": "account", "user": user, "index": index, "ik": crypto.b64e(ik),
               "note_sk": crypto.b64e(bytes(acc["note_sk"]))}
    ctx.writer.door(
        f"{ctx.prefix}/door/{door_id}.json",
        input_digest(payload, door_id, door_key, note_pk, ctx.home.kdf.to_json()),
        lambda: crypto.seal_door(door_key, ctx.clinic, door_id, ctx.home.kdf, note_pk, payload),
        "clinic", (f"{ctx.prefix}/{index}",))


def _general_door(ctx: Any) -> None:
    get = lambda n: bytes(ctx.keys.execute("SELECT value FROM secrets WHERE name = ?", (n,)).fetchone()[0])  # noqa: E731
    door_id, door_key = get("general_door_id").decode(), get("general_door_key")
    gk, lk = get("gk"), get("lk")
    # The general door's note key is never used to sign (notes go through entries), but
    # every door carries one so all doors look alike.
    note_pk = crypto.hash_(32, crypto.label("chartseal/v1/door", "general-note-pk"), key=door_key)
    payload = {"kind": "general", "gk": crypto.b64e(gk), "lk": crypto.b64e(lk)}
    ctx.writer.door(
        f"{ctx.prefix}/door/{door_id}.json",
        input_digest(payload, door_id, door_key, ctx.home.kdf.to_json()),
        lambda: crypto.seal_door(door_key, ctx.clinic, door_id, ctx.home.kdf, note_pk, payload),
        "clinic", ())
