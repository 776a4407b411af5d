"""The reliability suite (bench/reliability.py) with small counts: every scenario, each
ending with the independent check that opens every door and record with the keystore's keys.
The long run (300 patients, 50 kills during publish, 25 during notes fetch) is
`python bench/reliability.py --write`; its table is in docs/RELIABILITY.md."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import reliability  # noqa: E402


@pytest.mark.slow
def test_every_scenario_with_small_counts(tmp_path):
    results = reliability.run_all(tmp_path, patients=12, kills=3, note_kills=3)
    failed = [r for r in results if r.outcome == "FAILED"]
    assert not failed, reliability.table(failed)
    assert len(results) == 8
