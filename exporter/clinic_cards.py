"""What a read concluded of the patients' card numbers, kept between reads (the service).

A full read checks every patient row's card (clinic_db.cards): empty and duplicate cards skip
their rows, and the problems come out in row order. A read by difference (clinic_read) must
return exactly that, but without Python work per unchanged row. So the service's full read
keeps a :class:`CardIndex`: which row owns each card, the groups of rows sharing one, the
problems per row (sparse: most rows have none), the skipped rows, and the patients listed in
id order; a read by difference updates it for the rows that changed only (:func:`regroup`).

The problems of a read are, as a full read makes them: each row's card problems in row
order, then one problem per duplicate card in the order of its first row, then each row's
build problems in row order (clinic_read.problems_of).
"""
from __future__ import annotations

from array import array
from bisect import insort
from dataclasses import dataclass, field
from typing import Any

from . import clinic_fields as f
from .normalize import normalize_card
from .records import SKIPPED, Patient, Problem

Row = tuple[Any, ...]


def card_of(sink: f.Sink, row: Row) -> str:
    """The row's normalized card, its problems reported as clinic_db.cards reports them."""
    card = normalize_card(f.text(sink, f"row {row[0]}", "card", row[1]))
    if not card:
        sink.add(f"row {row[0]}", "card", "empty card number; patient skipped", SKIPPED)
    return card


def dup_problem(sink: f.Sink, card: str, ids: list[int]) -> None:
    rows_text = ", ".join(str(i) for i in ids)
    sink.add(card, "card", f"card number used by rows {rows_text}; all of them skipped", SKIPPED)


@dataclass
class CardIndex:
    """What the last read concluded of the cards, and the patients it listed."""

    owner: dict[str, int] = field(default_factory=dict)        # card -> its one row
    dups: dict[str, list[int]] = field(default_factory=dict)   # card -> rows sharing it, ascending
    odd: dict[int, str] = field(default_factory=dict)          # card of each row without a patient
    card_problems: dict[int, tuple[Problem, ...]] = field(default_factory=dict)
    built_problems: dict[int, tuple[Problem, ...]] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)   # a usable card, building failed: read again
    ids: array = field(default_factory=lambda: array("q"))    # ids of the patients listed
    listed: list[Patient] = field(default_factory=list)


def problems_of(card_problems: dict[int, tuple[Problem, ...]], dups: dict[str, list[int]],
                built_problems: dict[int, tuple[Problem, ...]]) -> list[Problem]:
    """A read's problems in a full read's order, from the sparse parts of an index."""
    out = [p for pid in sorted(card_problems) for p in card_problems[pid]]
    sink = f.Sink()
    for card, ids in sorted(dups.items(), key=lambda kv: kv[1][0]):
        dup_problem(sink, card, ids)
    out += sink.problems
    out += [p for pid in sorted(built_problems) for p in built_problems[pid]]
    return out


def index_cards(sink: f.Sink, rows: list[Row]) -> tuple[dict[int, str], CardIndex, dict[int, str]]:
    """clinic_db.cards for rows with unique whole-number ids (a file read by difference has
    an INTEGER PRIMARY KEY), keeping what a read by difference needs; also each row's card."""
    index, norm, by_card = CardIndex(), {}, {}
    for row in rows:
        start = len(sink.problems)
        card = norm[row[0]] = card_of(sink, row)
        if len(sink.problems) > start:
            index.card_problems[row[0]] = tuple(sink.problems[start:])
        if card:
            by_card.setdefault(card, []).append(row[0])
    usable = {}
    for card, ids in by_card.items():
        if len(ids) > 1:
            dup_problem(sink, card, ids)
            index.dups[card] = ids
        else:
            index.owner[card] = ids[0]
            usable[ids[0]] = card
    return usable, index, norm


def finish(index: CardIndex, patients: list[Patient], skipped: list[int], entries: dict,
           norm: dict[int, str]) -> None:
    """The rest of the index, once a full read has built the patients."""
    index.listed = list(patients)
    index.ids = array("q", [p.id for p in patients])
    index.skipped = set(skipped)
    index.odd = {pid: norm[pid] for pid in skipped}
    index.failed = {pid for pid in skipped if norm[pid] and index.owner.get(norm[pid]) == pid}
    # a failed build's problem is kept in its entry (clinic_read._assemble)
    index.built_problems = {pid: e[2] for pid, e in entries.items() if e[2]}


class Regroup:
    """The cards after some rows changed or went, without touching the index (a read can
    still fail): new card groups, each changed row's card and card problems."""

    def __init__(self, index: CardIndex, entries: dict, rows: dict[int, Row], deleted: set[int]) -> None:
        self.index, self.entries = index, entries
        self.members: dict[str, list[int]] = {}
        self.norm: dict[int, str] = {}
        self.card_problems: dict[int, tuple[Problem, ...]] = {}
        self.deleted = deleted
        for pid in sorted(set(rows) | deleted):
            if pid in entries:
                old = self.old_card(pid)
                if old:
                    self._group(old).remove(pid)
        for pid in sorted(rows):
            sink = f.Sink()
            card = self.norm[pid] = card_of(sink, rows[pid])
            self.card_problems[pid] = tuple(sink.problems)
            if card:
                insort(self._group(card), pid)
        self.touched = set(rows) | deleted | {p for ids in self.members.values() for p in ids}

    def old_card(self, pid: int) -> str:
        odd = self.index.odd
        return odd[pid] if pid in odd else self.entries[pid][1].card

    def _group(self, card: str) -> list[int]:
        if card not in self.members:
            i = self.index
            self.members[card] = list(i.dups[card]) if card in i.dups else (
                [i.owner[card]] if card in i.owner else [])
        return self.members[card]

    def card(self, pid: int) -> str:
        return self.norm[pid] if pid in self.norm else self.old_card(pid)

    def usable(self, pid: int) -> str | None:
        """The card of a touched (or unchanged) row if the row is usable, else None."""
        if pid in self.deleted:
            return None
        card = self.card(pid)
        if not card:
            return None
        group = self.members.get(card)
        if group is None:
            return card if self.index.owner.get(card) == pid else None
        return card if len(group) == 1 else None

    def new_dups(self) -> dict[str, list[int]]:
        """The duplicate groups after the change (a copy: the index is as it was)."""
        dups = dict(self.index.dups)
        for card, ids in self.members.items():
            dups.pop(card, None)
            if len(ids) > 1:
                dups[card] = ids
        return dups

    def new_card_problems(self) -> dict[int, tuple[Problem, ...]]:
        out = dict(self.index.card_problems)
        for pid in self.deleted:
            out.pop(pid, None)
        for pid, problems in self.card_problems.items():
            if problems:
                out[pid] = problems
            else:
                out.pop(pid, None)
        return out

    def apply_owners(self) -> None:
        """Into the index: which row owns each card that changed."""
        owner = self.index.owner
        for card, ids in self.members.items():
            if len(ids) == 1:
                owner[card] = ids[0]
            else:
                owner.pop(card, None)
