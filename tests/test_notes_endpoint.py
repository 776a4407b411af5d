"""The notes endpoint under waitress on 127.0.0.1: every check of FORMAT.md 9, CORS, the
inbox, the HTTP site source (pytest-httpserver) and the Lambda handler with an S3 inbox."""
from __future__ import annotations

import base64
import json
import time

import pytest
from notes_kit import Server, export_clinic, new_home, post

from exporter import crypto
from notes_endpoint.app import make_app
from notes_endpoint.inbox import FolderInbox, open_inbox
from notes_endpoint.wire import MAX_BODY, note_id

VEC = json.loads((__import__("pathlib").Path(__file__).parent / "vectors" / "notes.json").read_text())


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    # The endpoint only reads the site: one exported clinic serves every test here.
    return export_clinic(new_home(tmp_path_factory.mktemp("clinic")))


@pytest.fixture
def inbox_dir(tmp_path):
    return tmp_path / "inbox"


@pytest.fixture
def server(clinic, inbox_dir):
    app = make_app(str(clinic.home.site_dir), str(inbox_dir), "https://portal.example")
    with Server(app) as srv:
        yield srv


def inbox_files(inbox_dir):
    return sorted(p.relative_to(inbox_dir).as_posix() for p in inbox_dir.rglob("*") if p.is_file())


def test_note_id_matches_the_vector():
    sig = base64.b64decode(VEC["sig"])
    assert note_id(sig) == VEC["note_id"]
    assert crypto.hash_(16, crypto.label("chartseal/v1/note", "id") + sig).hex() == VEC["note_id"]


def test_accepted_note_is_stored_as_its_own_object(server, clinic, inbox_dir):
    note = clinic.note(clinic.patient["1001"], "1001", "pain after the filling")
    status, body, headers = post(server.port, note)
    assert status == 201, body
    assert body["id"] == note_id(base64.b64decode(note["sig"]))
    assert headers["content-type"] == "application/json"
    assert inbox_files(inbox_dir) == [f"{clinic.id}/{body['id']}.json"]
    stored = json.loads((inbox_dir / clinic.id / f"{body['id']}.json").read_text())
    assert {k: stored[k] for k in note} == note
    assert abs(stored["received"] - time.time()) < 600
    # The endpoint cannot read the text: it is nowhere in what it stored.
    assert "filling" not in (inbox_dir / clinic.id / f"{body['id']}.json").read_text()


def _resign(clinic, note, door_sk, **change):
    n = {**note, **change}
    sig = crypto.sign(door_sk, crypto.note_signed_bytes(n["clinic"], n["door"], n["ts"], crypto.b64d(n["sealed"])))
    return {**n, "sig": crypto.b64e(sig)}


def test_every_bad_input_is_refused_and_nothing_is_stored(server, clinic, inbox_dir):
    door = clinic.patient["1001"]
    good = clinic.note(door, "1001")
    other = clinic.patient["1002"]
    flipped = bytearray(base64.b64decode(good["sealed"]))
    flipped[-1] ^= 1
    cases = [
        ("over size", 413, "too large", json.dumps({**good, "pad": "x" * MAX_BODY}).encode(), {}),
        ("malformed JSON", 400, "malformed", b'{"v": 1, "clinic": ', {}),
        ("not an object", 400, "malformed", b"[1, 2]", {}),
        ("extra key", 400, "malformed", {**good, "who": "admin"}, {}),
        ("missing key", 400, "malformed", {k: v for k, v in good.items() if k != "sig"}, {}),
        ("version 2", 400, "malformed", {**good, "v": 2}, {}),
        ("version 1.0", 400, "malformed", json.dumps(good).replace('"v": 1', '"v": 1.0').encode(), {}),
        ("version true", 400, "malformed", {**good, "v": True}, {}),
        ("version 1e0", 400, "malformed", json.dumps(good).replace('"v": 1', '"v": 1e0').encode(), {}),
        ("nested 6 KB deep", 400, "malformed", b"[" * 3000 + b"]" * 3000, {}),
        ("nested objects", 400, "malformed", b'{"v":' * 1300 + b"1" + b"}" * 1300, {}),
        ("ts is true", 400, "malformed", {**good, "ts": True}, {}),
        ("door not hex", 400, "malformed", {**good, "door": "../../etc/passwd"}, {}),
        ("bad base64", 400, "bad base64", {**good, "sealed": "not*base64!"}, {}),
        ("short sig", 400, "malformed", {**good, "sig": crypto.b64e(b"x" * 63)}, {}),
        ("unknown clinic", 404, "unknown clinic", {**good, "clinic": "0000000001"}, {}),
        ("unknown door", 404, "unknown door", {**good, "door": "ab" * 16}, {}),
        ("wrong signature", 403, "bad signature", {**good, "sealed": crypto.b64e(bytes(flipped))}, {}),
        ("another door's key", 403, "bad signature", _resign(clinic, good, other.note_sk), {}),
        ("signed for another door", 403, "bad signature", {**good, "door": other.door}, {}),
        ("stale", 400, "stale", _resign(clinic, good, door.note_sk, ts=good["ts"] - 601), {}),
        ("future", 400, "stale", _resign(clinic, good, door.note_sk, ts=good["ts"] + 3600), {}),
        ("wrong content type", 415, "content type", good, {"content_type": "text/plain"}),
        ("form content type", 415, "content type", good, {"content_type": "application/x-www-form-urlencoded"}),
        ("foreign origin", 403, "origin", good, {"headers": {"Origin": "https://evil.example"}}),
        ("GET", 405, "method", b"", {"method": "GET"}),
    ]
    for name, status, reason, body, kw in cases:
        got, answer, _ = post(server.port, body, **kw)
        assert (got, answer.get("error")) == (status, reason), name
    assert inbox_files(inbox_dir) == [], "a refused note left something in the inbox"
    stale = post(server.port, _resign(clinic, good, door.note_sk, ts=good["ts"] - 601))[1]
    assert abs(stale["now"] - time.time()) < 60  # the writer can correct its clock
    # The good note itself goes through once; sent again it is a replay.
    assert post(server.port, good)[0] == 201
    assert post(server.port, good)[:2] == (409, {"error": "replay"})
    assert len(inbox_files(inbox_dir)) == 1


def test_replay_is_refused_by_a_fresh_process_while_the_note_waits(clinic, inbox_dir):
    note = clinic.note(clinic.patient["1001"], "1001")
    for expected in (201, 409):  # a new app has no memory: the inbox's exclusive create refuses
        with Server(make_app(str(clinic.home.site_dir), str(inbox_dir))) as srv:
            assert post(srv.port, note)[0] == expected


def test_cors_only_for_the_portal_origin(server, clinic):
    ok = {"Origin": "https://portal.example"}
    status, _, headers = post(server.port, b"", method="OPTIONS", headers={
        **ok, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://portal.example"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"].lower() == "content-type"
    status, _, headers = post(server.port, b"", method="OPTIONS", headers={"Origin": "https://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers
    status, _, headers = post(server.port, clinic.note(clinic.entry["1003"], "1003"), headers=ok)
    assert status == 201 and headers["access-control-allow-origin"] == "https://portal.example"
    # The same server's own pages (chartseal serve) may post without CORS.
    status, _, headers = post(server.port, clinic.note(clinic.entry["1002"], "1002"),
                              headers={"Origin": server.url})
    assert status == 201 and "access-control-allow-origin" not in headers


def test_too_many_notes_from_one_door(clinic, inbox_dir):
    app = make_app(str(clinic.home.site_dir), str(inbox_dir), max_per_door=3)
    with Server(app) as srv:
        door = clinic.patient["1001"]
        got = [post(srv.port, clinic.note(door, "1001", f"n{i}"))[0] for i in range(5)]
        assert got == [201, 201, 201, 429, 429]
        assert post(srv.port, clinic.note(clinic.patient["1002"], "1002"))[0] == 201
    assert len(list((inbox_dir / clinic.id).glob("*.json"))) == 4


def test_inbox_inside_the_site_is_refused(clinic):
    with pytest.raises(ValueError, match="inside the published site"):
        make_app(str(clinic.home.site_dir), str(clinic.home.site_dir / "inbox"))


def test_health_and_unknown_paths(server):
    assert post(server.port, b"", method="GET", path="/v1/health")[:2] == (200, {"ok": True})
    assert post(server.port, b"", method="GET", path="/v1/other")[0] == 404


def test_site_over_http_is_cached(httpserver, clinic, inbox_dir):
    site = clinic.home.site_dir
    door = clinic.patient["1001"]
    prefix = f"/c/{clinic.id}"
    httpserver.expect_request(f"{prefix}/site.json").respond_with_data((site / prefix[1:] / "site.json").read_bytes())
    httpserver.expect_request(f"{prefix}/door/{door.door}.json").respond_with_data(
        (site / prefix[1:] / "door" / f"{door.door}.json").read_bytes())
    httpserver.expect_request(f"{prefix}/door/{'ab' * 16}.json").respond_with_data("no", status=404)
    httpserver.expect_request(f"{prefix}/door/{'cd' * 16}.json").respond_with_data("boom", status=500)
    app = make_app(httpserver.url_for("/"), str(inbox_dir))
    with Server(app) as srv:
        for i in range(5):
            assert post(srv.port, clinic.note(door, "1001", f"n{i}"))[0] == 201
        assert app.site.fetches == 2  # site.json and the door, once each
        assert post(srv.port, {**clinic.note(door, "1001"), "door": "ab" * 16})[:2] == (404, {"error": "unknown door"})
        # A broken site is not "no such door": the writer is told to try again later.
        assert post(srv.port, {**clinic.note(door, "1001"), "door": "cd" * 16})[:2] == (
            503, {"error": "site unavailable"})
    assert len(list((inbox_dir / clinic.id).glob("*.json"))) == 5


def test_folder_inbox_names_cannot_escape(tmp_path):
    box = FolderInbox(tmp_path)
    with pytest.raises(Exception, match="bad inbox name"):
        box.put_new("1234567890", "../../x", b"{}")
    with pytest.raises(Exception, match="bad inbox name"):
        box.read("../12345678", "ab" * 16)
    assert box.put_new("1234567890", "ab" * 16, b"1") is True
    assert box.put_new("1234567890", "ab" * 16, b"2") is False
    assert box.read("1234567890", "ab" * 16) == b"1"
    assert [p.name for p in (tmp_path / "1234567890").iterdir()] == ["ab" * 16 + ".json"]
    assert oct((tmp_path / "1234567890" / ("ab" * 16 + ".json")).stat().st_mode & 0o777) == "0o600"
    assert open_inbox(f"file://{tmp_path}").root == tmp_path
