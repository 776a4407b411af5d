// crypto.js against every committed vector in tests/vectors/ (Python checks the same files).
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as C from '../../site_templates/static/js/crypto.js';

const VEC = new URL('../vectors/', import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, VEC), 'utf8'));
const chain = load('chain.json');
const negative = load('negative.json');

await C.init();
const na = C.sodium();
const unhex = (h) => na.from_hex(h);
const ERRORS = { format: C.FormatError, auth: C.AuthError };

test('init accepts the instance, the namespace, or a specifier', async () => {
  const ns = await import('libsodium-wrappers-sumo');
  assert.equal(await C.init(ns), ns.default);
  assert.equal(await C.init(ns.default), ns.default);
  assert.equal(await C.init('libsodium-wrappers-sumo'), ns.default);
  await assert.rejects(C.init({}), TypeError);
  await C.init(ns.default);
});

test('labels', () => {
  const rows = load('labels.json').labels;
  assert.ok(rows.length >= 8);
  for (const row of rows) assert.equal(C.hex(C.label(row.name, ...row.parts)), row.hex, row.name);
  assert.throws(() => C.label('x', 1.5), C.FormatError);
  assert.throws(() => C.label('x', null), C.FormatError);
});

test('salts, password bytes, entry ids, object names, canonical JSON', () => {
  const doc = load('ids.json');
  const salt = { patient: C.patientSalt, general: C.generalSalt, account: C.accountSalt };
  for (const s of doc.salts) assert.equal(C.hex(salt[s.kind](s.clinic, ...s.parts)), s.salt);
  for (const p of doc.password_bytes) assert.equal(C.hex(C.passwordBytes(...p.passwords)), p.hex);
  for (const e of doc.entry_ids) assert.equal(C.entryId(C.b64d(e.lk, 32), e.card), e.entry_id);
  for (const o of doc.object_names) assert.equal(C.objectName(C.b64d(o.body)), o.name);
  for (const j of doc.canonical_json) assert.equal(C.canonicalJson(j.value), j.text);
});

test('kdf checks', () => {
  const doc = load('kdf.json');
  for (const kdf of doc.ok) assert.deepEqual(C.checkKdf(kdf), { ops: kdf.ops, mem: kdf.mem });
  for (const kdf of doc.bad) assert.throws(() => C.checkKdf(kdf), C.FormatError, JSON.stringify(kdf));
  assert.throws(() => C.checkKdf(null), C.FormatError);
});

for (const row of load('kdf.json').derive) {
  test(`derive door ${row.salt_kind} ops=${row.ops} mem=${row.mem}`, () => {
    const salt = { patient: C.patientSalt, general: C.generalSalt, account: C.accountSalt }[row.salt_kind](...row.salt_parts);
    const pw = C.passwordBytes(...row.passwords);
    assert.equal(C.hex(salt), row.salt);
    assert.equal(C.hex(pw), row.pw);
    const { doorKey, doorId } = C.deriveDoor(pw, salt, { ops: row.ops, mem: row.mem });
    assert.equal(C.b64e(doorKey), row.door_key);
    assert.equal(doorId, row.door_id);
  });
}

function walkDoor(door) {
  const clinic = chain.clinic;
  if (door.kind === 'entry') {
    const general = chain.doors.find((d) => d.kind === 'general');
    assert.equal(C.entryId(C.b64d(general.payload.lk, 32), door.salt_parts[0]), door.door_id);
    assert.equal(C.b64e(C.b64d(general.payload.gk)), door.door_key);
    assert.equal(C.hex(C.entryAd(clinic, door.door_id, C.b64d(door.note_pk))), door.ad);
    return C.openDoor(C.b64d(general.payload.gk, 32), clinic, door.door_id, door.json, { entry: true });
  }
  const salt = { patient: C.patientSalt, general: C.generalSalt, account: C.accountSalt }[door.kind](clinic, ...door.salt_parts);
  const { doorKey, doorId } = C.deriveDoor(C.passwordBytes(...door.passwords), salt, C.checkKdf(door.kdf));
  assert.equal(doorId, door.door_id);
  assert.equal(C.hex(C.doorAd(clinic, doorId, C.checkKdf(door.kdf), C.b64d(door.note_pk))), door.ad);
  return C.openDoor(doorKey, clinic, doorId, door.json);
}

for (const door of chain.doors) {
  test(`door ${door.kind}: password to payload`, () => {
    assert.deepEqual(walkDoor(door), door.payload);
    // bytes in, as fetched, give the same payload
    assert.deepEqual(C.openDoor(C.b64d(door.door_key), chain.clinic, door.door_id,
      new TextEncoder().encode(door.json), { entry: door.entry }), door.payload);
  });
}

const adFor = {
  bundle: (p) => C.bundleAd(...p), index: (p) => C.indexAd(...p), diary: (p) => C.diaryAd(...p),
};

for (const body of chain.bodies) {
  test(`body ${body.kind} (${body.deflated_len} deflated bytes) opens`, async () => {
    const ad = adFor[body.kind](body.ad_parts);
    assert.equal(C.hex(ad), body.ad);
    const raw = C.b64d(body.body);
    assert.equal(C.objectName(raw), body.name);
    assert.deepEqual(await C.openBody(C.b64d(body.key, 32), raw, ad), body.value);
  });
}

test('the chain: patient password to bundle, account password to index to diary', async () => {
  const byName = new Map(chain.bodies.map((x) => [`obj/${x.name}.bin`, x]));
  const [patient, , entry, account] = chain.doors;
  for (const door of [patient, entry]) {
    const p = walkDoor(door);
    const bundle = byName.get(p.bundle);
    const value = await C.openBody(C.b64d(p.ck, 32), C.b64d(bundle.body), C.bundleAd(chain.clinic, p.rid));
    assert.equal(value.rid, p.rid);
  }
  const a = walkDoor(account);
  const index = await C.openBody(C.b64d(a.ik, 32), C.b64d(byName.get(a.index).body), C.indexAd(chain.clinic, account.door_id));
  const db = index.databases[0];
  const shard = db.diary['2026-11'];
  const diary = await C.openBody(C.b64d(shard.key, 32), C.b64d(byName.get(shard.obj).body),
    C.diaryAd(chain.clinic, account.door_id, db.id, '2026-11'));
  assert.equal(diary.days['2026-11-26'].visits, 2);
});

test('note: signed bytes and signature match, the sealed box opens', () => {
  const n = load('notes.json');
  const sealed = C.b64d(n.sealed);
  const opened = na.crypto_box_seal_open(sealed, C.b64d(n.notes_pk, 32), C.b64d(n.notes_sk, 32));
  assert.equal(new TextDecoder().decode(opened), n.payload_json);
  assert.equal(C.canonicalJson(n.payload), n.payload_json);
  const signed = C.noteSignedBytes(n.clinic, n.door, n.ts, sealed);
  assert.equal(C.hex(signed), n.signed);
  assert.equal(C.b64e(C.signNote(C.b64d(n.note_sk, 64), signed)), n.sig);
  assert.ok(na.crypto_sign_verify_detached(C.b64d(n.sig), signed, C.b64d(n.note_pk, 32)));
});

test('note: a fresh note from makeNote opens and verifies', () => {
  const n = load('notes.json');
  const note = C.makeNote({ clinic: n.clinic, door: n.door, ts: n.ts, payload: n.payload,
    noteSk: C.b64d(n.note_sk, 64), notesPk: C.b64d(n.notes_pk, 32) });
  const sealed = C.b64d(note.sealed);
  assert.notEqual(note.sealed, n.sealed);
  const opened = na.crypto_box_seal_open(sealed, C.b64d(n.notes_pk), C.b64d(n.notes_sk));
  assert.equal(new TextDecoder().decode(opened), n.payload_json);
  const signed = C.noteSignedBytes(note.clinic, note.door, note.ts, sealed);
  assert.ok(na.crypto_sign_verify_detached(C.b64d(note.sig, 64), signed, C.b64d(n.note_pk, 32)));
  assert.throws(() => C.sealNote(new Uint8Array(31), {}), C.FormatError);
  assert.throws(() => C.signNote(new Uint8Array(32), signed), C.FormatError);
  assert.throws(() => C.noteSignedBytes(n.clinic, n.door, 1.5, sealed), C.FormatError);
});

async function runNegative(c) {
  switch (c.op) {
    case 'open_door': return C.openDoor(C.b64d(c.door_key), negative.clinic, c.door_id, c.json, { entry: c.entry });
    case 'open_body': return C.openBody(C.b64d(c.key), C.b64d(c.body), unhex(c.ad));
    case 'derive_door': return C.deriveDoor(unhex(c.pw), unhex(c.salt), { ops: c.ops, mem: c.mem });
    case 'b64d': return C.b64d(c.text);
    default: throw new Error(`unknown op ${c.op}`);
  }
}

for (const c of negative.cases) {
  test(`refused (${c.error}): ${c.name}`, async () => {
    await assert.rejects(async () => runNegative(c), ERRORS[c.error]);
  });
}
