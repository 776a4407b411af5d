"""Account views a process keeps from one export to the next (the service), updated for the
patients that changed.

A one-off export builds a :class:`~exporter.indexes.DbView` per database and set of visible
patients, sorts it, groups every patient's rows by month, digests every month and picks
every row's index shard: a walk over the whole clinic, several times. A :class:`LiveView`
keeps all of that and updates it for the patients whose ``Patient`` object (the reader
returns the same object for an unchanged patient) or record pointer changed: only their
old and new months get a new digest and only the shards holding their rows new inputs.
Everything kept is a function of the view's inputs alone, so the export it gives is the one
a fresh :class:`DbView` gives (tests/test_incremental_accounts.py checks that).
"""
from __future__ import annotations

import itertools
import time
from datetime import date
from typing import Any, Iterable, Iterator

from . import crypto, render
from .index_shards import Member, shard_inputs
from .indexes import DbView, MonthPart, month_digests, month_rows, row_digest
from .cache import input_digest
from .memo import ExportMemo
from .records import Patient

_serial = itertools.count(1)
ENTRIES_KEPT = 4 * 1024  # rows whose index JSON a view keeps (see LiveView.row_entry)


class _Shards:
    """One account's index shards of a view: which shard each card is in, rows by shard."""

    __slots__ = ("count", "of", "rows", "plan")

    def __init__(self, count: int) -> None:
        self.count = count
        self.of: dict[str, int] = {}
        self.rows: list[dict[str, Member]] = [{} for _ in range(count)]
        # Per shard (rows in card order, inputs digest, refs); None once a row changed.
        self.plan: list[tuple[list[Member], str, tuple[str, ...]] | None] = [None] * count


class LiveView(DbView):
    def __init__(self, db: str, cards: frozenset[str], lang: str, version: str, memo: ExportMemo,
                 currency: str) -> None:
        # The scope names the view's kept diary days: one name for the view's whole life,
        # so a patient added to it does not leave every day behind.
        super().__init__(db, [], {}, date.min, lang, version, memo, currency, ("live", next(_serial)))
        self.cards = cards
        self.pointers: dict[str, tuple[Patient, tuple[str, str, bytes]]] = {}  # card -> (p, (rid, bundle, ck))
        # card -> its months and their part digests, flat (indexes.month_digests)
        self.parts: dict[str, tuple[str, ...]] = {}
        # month -> card -> where that month's digest is in the card's ``parts``: a month's
        # parts are put together only when it is digested or sealed again.
        self.months: dict[str, dict[str, int]] = {}
        self.digests: dict[str, str] = {}  # month -> digest, dropped when a part changes
        self.row: dict[str, Member] = {}  # card -> its index row, one tuple for every account
        self.accounts: dict[tuple[str, bytes, str], _Shards] = {}
        self.entries: dict[str, str] = {}  # row digest -> the row's JSON, once rendered
        self.cold: set[str] = set()  # months whose days may not all be rendered yet
        self._warming: tuple[str, dict[str, Any], Iterator[Any]] | None = None  # see warm_day
        self.today: date | None = None

    def matches(self, version: str, lang: str, currency: str) -> bool:
        return (self.version, self.lang, self.currency) == (version, lang, currency)

    # -- updating -------------------------------------------------------------------------
    def update(self, ctx: Any, cards: frozenset[str], patients: dict[tuple[str, str], Patient]) -> int:
        """Bring the view to this export's patients and pointers; returns how many changed."""
        db, bundles, old = self.db, ctx.bundles, self.pointers
        self._warming = None  # its month's rows may be about to change
        changed = [c for c in cards if (was := old.get(c)) is None
                   or was[0] is not patients[(db, c)] or was[1] != bundles[(db, c)]]
        if ctx.today != self.today:
            # A new day moves the age some rows show; nothing else the view holds.
            today, row, seen = ctx.today, self.row, set(changed)
            changed += [c for c, (p, _) in old.items() if c in cards and c not in seen
                        and render.age(p.birth_date, today) != row[c][1]]
            self.today = today
        gone = old.keys() - cards
        # Every removal before any addition (a patient id may move to another card); a
        # month keeps its digest when the patient's part of it digests as before.
        was = {c: self._remove(c) for c in (*gone, *changed) if c in old}
        for c in changed:
            self._add(c, patients[(db, c)], bundles[(db, c)], was.pop(c, {}))
        for parts in was.values():
            for month in parts:
                self.digests.pop(month, None)
        self.cards = cards
        self._parts = None
        return len(gone) + len(changed)

    def _remove(self, c: str) -> dict[str, str]:
        """Take the card out; returns its months' part digests (month -> digest)."""
        p, (rid, _, _) = self.pointers.pop(c)
        if self.rids.get(p.id) == rid:
            del self.rids[p.id]
        left = {}
        parts = self.parts.pop(c)
        for month, digest in zip(parts[0::2], parts[1::2]):
            cards = self.months[month]
            del cards[c]
            if not cards:
                del self.months[month]
                self.digests.pop(month, None)
            left[month] = digest
        self.entries.pop(self.row.pop(c)[5], None)
        for shards in self.accounts.values():
            i = shards.of.pop(c)
            del shards.rows[i][c]
            shards.plan[i] = None
        return left

    def _add(self, c: str, p: Patient, pointer: tuple[str, str, bytes], was: dict[str, str]) -> None:
        """Put the card in; ``was``: its months' part digests before (see _remove)."""
        rid, bundle, ck = pointer
        self.pointers[c] = (p, pointer)
        self.rids[p.id] = rid
        self.parts[c] = parts = month_digests(p, rid)
        for j in range(1, len(parts), 2):
            month, digest = parts[j - 1], parts[j]
            self.months.setdefault(month, {})[c] = j
            if was.pop(month, None) != digest:
                self.digests.pop(month, None)
                self.cold.add(month)
        for month in was:  # months the patient left
            self.digests.pop(month, None)
        years = render.age(p.birth_date, self.today)
        digest = row_digest(p, years, rid, bundle, ck, self.version)
        self.row[c] = member = (p, years, rid, bundle, ck, digest)
        for (_, ik, _), shards in self.accounts.items():
            i = shards.of[c] = crypto.shard_of(ik, rid, shards.count)
            shards.rows[i][c] = member
            shards.plan[i] = None

    # -- what DbView gives, from what is kept ---------------------------------------------
    @property  # type: ignore[override]
    def month_index(self) -> dict[str, Any]:  # only its months, in order, are used
        return dict.fromkeys(sorted(self.months))

    def month_parts(self, month: str) -> list[MonthPart]:
        if self._parts is None or self._parts[0] != month:
            pointers, parts, cards = self.pointers, self.parts, sorted(self.months.get(month, {}).items())
            # In card order, as DbView's.
            self._parts = (month, [(p, *month_rows(p, month), parts[c][j]) for c, j in cards
                                   for p in (pointers[c][0],)])
        return self._parts[1]

    def month_digest(self, month: str) -> str:
        digest = self.digests.get(month)
        if digest is None:
            parts = self.parts  # the digests alone, in card order: no part is put together
            digest = self.digests[month] = input_digest(self.db, month, self.version, self.lang, "".join(
                [parts[c][j] for c, j in sorted(self.months.get(month, {}).items())]))
        return digest

    def month_pieces(self, month: str) -> Any:
        self.cold.discard(month)  # every day of it is rendered or kept now
        return super().month_pieces(month)

    def row_entry(self, p: Patient, years: int | None, rid: str, bundle: str, ck: bytes, digest: str) -> str:
        """The row's JSON, kept for the rows of the last few shards sealed again (least
        recently used first out): an edit mostly lands in a shard sealed recently, and
        rendering a shard's rows again costs ~40 ms at 1,024 rows, while keeping every row's
        (~600 B each) cost the service 30 MiB at 50,000 patients."""
        entries = self.entries
        entry = entries.pop(digest, None)
        if entry is None:
            entry = super().row_entry(p, years, rid, bundle, ck, digest)
            if len(entries) >= ENTRIES_KEPT:
                del entries[next(iter(entries))]
        entries[digest] = entry
        return entry

    def shard_plan(self, ctx: Any, door_id: str, ik: bytes) -> list[tuple[list[Member], str, tuple[str, ...]]]:
        """Each shard's rows (card order), inputs digest and refs for one account, computed
        again only for a shard whose rows changed since the last export."""
        count = crypto.shard_count(len(self.pointers))
        key = (door_id, ik, ctx.prefix)
        shards = self.accounts.get(key)
        if shards is None or shards.count != count:
            shards = self.accounts[key] = _Shards(count)
            for c, member in self.row.items():
                i = shards.of[c] = crypto.shard_of(ik, member[2], count)
                shards.rows[i][c] = member
        for i, plan in enumerate(shards.plan):
            if plan is None:
                rows = [shards.rows[i][c] for c in sorted(shards.rows[i])]
                shards.plan[i] = (rows, *shard_inputs(ctx, door_id, ik, self.db, i, rows))
        return shards.plan  # type: ignore[return-value]

    def forget_accounts(self, used: Iterable[tuple[str, bytes, str]]) -> None:
        """Drop the shards of accounts that no longer see this view."""
        keep = set(used)
        for key in [k for k in self.accounts if k not in keep]:
            del self.accounts[key]

    # -- between exports -------------------------------------------------------------------
    def warm_day(self) -> bool:
        """Render one day of a month whose days are not all kept (its shard was kept from the
        cache, so nothing rendered them), so the first edit there renders only its own day.
        False when every month's days are kept. A month is grouped once for all its days."""
        while self.cold:
            if self._warming is None:
                month = min(self.cold)
                table, key = self.memo.table("days"), self._days_key(month)
                kept = table.previous(key)
                if kept is None:  # an export that did not use the month let its days go
                    kept = {}
                    table.offer(key, kept)
                self._warming = (month, kept, self._days(month))
            month, kept, days = self._warming
            for day, vs_day, aps_day in days:
                if self._day_digest(day, vs_day, aps_day) not in kept:
                    self._kept_day(day, vs_day, aps_day, kept, kept)
                    return True
            self._warming = None
            self.cold.discard(month)
        return False


def warm_up(memo: ExportMemo, budget: float = 0.1) -> bool:
    """Render kept views' missing diary days for about ``budget`` seconds; True while some
    are left. Called by the service between exports when nothing is pending: a day takes
    ~85 ms at 50,000 patients, so an edit waits at most about that long for it."""
    if memo.state is None:  # the last export failed: what the views hold waits for the next
        return False
    end = time.monotonic() + budget
    for view in list(memo.views.values()):
        while view.warm_day():
            if time.monotonic() >= end:
                return True
    return False
