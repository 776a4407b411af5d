"""Progress of a long export as plain lines, one per tenth of each stage.

For where a progress bar cannot be drawn: a log file, the service's log, a pipe. tqdm prints
nothing there, and a first export of thousands of patients would look hung for minutes.
"""
from __future__ import annotations

from typing import Callable


class ProgressLines:
    """An ``export_site`` progress callback that calls ``emit`` with one line per 10 %."""

    def __init__(self, emit: Callable[[str], object]) -> None:
        self.emit = emit
        self.tenths: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = done * 10 // total if total > 0 else 10
        if tenth > self.tenths.get(stage, 0):
            self.tenths[stage] = tenth
            self.emit(f"{stage}: {done * 100 // total if total > 0 else 100}% ({done}/{total})")
