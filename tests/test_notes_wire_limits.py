"""The notes endpoint's parsers against hostile JSON: deep nesting and versions that are not
the integer 1 are refused (400 malformed), never a 500."""
from __future__ import annotations

import base64
import json

import pytest

from notes_endpoint.site import note_pk_of
from notes_endpoint.wire import MAX_BODY, Refused, parse_note, parse_stored

DEEP = [b"[" * 3000 + b"]" * 3000, b'{"a":' * 1300 + b"1" + b"}" * 1300]


@pytest.mark.parametrize("body", DEEP)
def test_deep_nesting_is_malformed(body):
    assert len(body) <= MAX_BODY
    for parse in (parse_note, parse_stored):
        with pytest.raises(Refused) as err:
            parse(body)
        assert (err.value.status, err.value.reason) == (400, "malformed")


@pytest.mark.parametrize("v", ["1.0", "true", "1e0", "\"1\""])
def test_a_door_whose_version_is_not_the_integer_1_has_no_note_key(v):
    pk = base64.b64encode(b"k" * 32).decode()
    assert note_pk_of(json.dumps({"v": 1, "note_pk": pk}).encode()) == b"k" * 32
    assert note_pk_of(f'{{"v": {v}, "note_pk": "{pk}"}}'.encode()) is None
    for body in DEEP:
        assert note_pk_of(body) is None
