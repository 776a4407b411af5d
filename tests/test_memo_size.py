"""What the service's memo holds per patient (issue 15, memory): one form of each list row,
and the keystore row by digest only."""
from __future__ import annotations

from conftest import keys
from exporter import render
from exporter.clinic_db import read_clinic
from exporter.memo import ExportMemo
from exporter.site import export_site
from test_memo import TODAY


def _values(memo):
    for table in memo._tables.values():
        for key, value in table.old.items():
            yield key
            yield value


def _flatten(x):
    if isinstance(x, (tuple, list)):
        for y in x:
            yield from _flatten(y)
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _flatten(k)
            yield from _flatten(v)
    else:
        yield x


def test_the_memo_keeps_each_list_row_once_and_no_keystore_secret(home, clinic_db):
    memo = ExportMemo()
    export_site(home, today=TODAY, memo=memo)
    held = list(_flatten(list(_values(memo))))
    for p in read_clinic(clinic_db).patients:
        html = render.list_row(p, render.age(p.birth_date, TODAY))
        # Only inside the row's JSON text, never on its own as well.
        assert html not in held, p.card
        assert sum(1 for x in held if isinstance(x, str) and x.startswith("{") and p.card in x) == 1, p.card
    conn = keys(home)
    secrets = [r[0] for r in conn.execute("SELECT door_key FROM patients")]
    conn.close()
    assert secrets and not any(s in held for s in secrets)  # the keystore row is kept by digest
