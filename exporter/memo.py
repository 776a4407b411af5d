"""ExportMemo: what a long-running process keeps from one export to the next.

The background service exports after every change; without a memo each export would read,
render and digest every patient again. Every entry here is keyed by all the inputs it was
computed from, so an entry can be missed but never wrong: a one-off ``chartseal export`` runs
the very same code with an empty memo. Entries not used by an export are dropped at its
end (a table it did not ask at all is kept as it was), so the memo holds one export's worth
of values, never more.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, NamedTuple, TypeVar

from .clinic_delta import ReadState

T = TypeVar("T")
_MISSING = object()


class Table:
    """One kind of memoized value (rows, search keys, ...), keyed by what it is computed from."""

    __slots__ = ("old", "new", "used")

    def __init__(self, old: dict[Hashable, Any]) -> None:
        self.old = old
        self.new: dict[Hashable, Any] = {}
        self.used = False  # asked anything by this export

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value computed for ``key`` by this or the previous export, else ``compute()``."""
        self.used = True
        value = self.new.get(key, _MISSING)
        if value is _MISSING:
            value = self.old.get(key, _MISSING)
            if value is _MISSING:
                value = compute()
            self.new[key] = value
        return value  # type: ignore[return-value]

    def peek(self, key: Hashable) -> Any:
        """The previous export's value for ``key``, or None (it is kept only if put again)."""
        self.used = True
        return self.old.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        self.used = True
        self.new[key] = value

    def previous(self, key: Hashable) -> Any:
        """Between exports: the last export's value for ``key``, or None (nothing is marked used)."""
        return self.old.get(key)

    def offer(self, key: Hashable, value: Any) -> None:
        """Between exports: a value for the next export to find, as if the last one had kept it."""
        self.old[key] = value


class _Forgetful(Table):
    """A table that keeps nothing: a one-off export must not hold every value to the end."""

    __slots__ = ()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        return compute()

    def put(self, key: Hashable, value: Any) -> None:
        pass


class Committed(NamedTuple):
    """The state tables as one export committed them: valid while the generation is current."""

    generation: int
    cache: dict[str, Any]   # exporter.cache entries by key
    plan: dict[str, Any]    # exporter.plan objects by name


class ExportMemo:
    def __init__(self, remember: bool = True) -> None:
        """``remember=False``: nothing is kept (an export in a process that exits after it)."""
        self.remember = remember
        self._tables: dict[str, Table] = {}
        # Per clinic database source: what its last read left (exporter.clinic_delta).
        self.reads: dict[str, ReadState] = {}
        self.state: Committed | None = None
        # What the patients' pass of the export that committed ``state`` leaves for the next
        # (exporter.patient_pass.Carry); taken, with ``state``, by each export.
        self.carry: Any = None
        # The accounts' views kept and updated by difference (exporter.live_views), by id.
        self.views: dict[Any, Any] = {}
        self.clock: Callable[[], float] | None = None  # for the reads' timer; None: monotonic

    def relist(self) -> None:
        """The site folder lost files this memo does not know of (the uploader drops a damaged
        one): the next export walks every patient and lists the folder."""
        self.carry = None

    def read_state(self, source: str, full_every: float) -> ReadState:
        """The read state of one clinic database source, made on first use."""
        state = self.reads.get(source)
        if state is None:
            state = self.reads[source] = ReadState(clock=self.clock)
        state.full_every = full_every  # a changed setting counts from the next read
        return state

    def table(self, kind: str) -> Table:
        table = self._tables.get(kind)
        if table is None:
            table = self._tables[kind] = Table({}) if self.remember else _Forgetful({})
        return table

    def end_export(self) -> None:
        """Keep what this export used; drop the rest. A table this export did not ask at all
        (no index was sealed again: nothing in it changed) keeps what it held, or the next
        edit would render every patient's list row again."""
        self._tables = {kind: Table(t.new if t.used else t.old) for kind, t in self._tables.items()}
