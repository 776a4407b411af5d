// notes.js under Node: limits, and sendNote against a real HTTP server on 127.0.0.1 that
// checks each note as the endpoint does (signature with the door's note_pk, the sealed
// payload opened with the clinic's key from tests/vectors/notes.json).
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

import * as C from '../../site_templates/static/js/crypto.js';
import * as N from '../../site_templates/static/js/notes.js';

const V = JSON.parse(readFileSync(new URL('../vectors/notes.json', import.meta.url), 'utf8'));
await C.init();
const na = C.sodium();

const ctx = (url) => ({
  clinic: V.clinic, notesUrl: url, notesPk: C.b64d(V.notes_pk, 32), door: V.door,
  noteSk: C.b64d(V.note_sk, 64), rid: V.payload.rid, card: V.payload.card, who: 'patient', user: '',
  crypto: C,
});

/** A fake endpoint: `answer(note, payload)` returns [status, body]; every note is verified. */
async function endpoint(answer) {
  const seen = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const note = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const sealed = C.b64d(note.sealed);
      const ok = na.crypto_sign_verify_detached(C.b64d(note.sig, 64),
        C.noteSignedBytes(note.clinic, note.door, note.ts, sealed), C.b64d(V.note_pk, 32));
      const payload = JSON.parse(new TextDecoder().decode(
        na.crypto_box_seal_open(sealed, C.b64d(V.notes_pk, 32), C.b64d(V.notes_sk, 32))));
      seen.push({ note, payload, ok, type: req.headers['content-type'] });
      const [status, body] = answer(note, payload, seen.length);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/v1/notes`, seen, close: () => server.close() };
}

test('payload and limits', () => {
  const p = N.notePayload(ctx(''), 'e\u0301', 5);
  assert.deepEqual(p, { v: 1, rid: V.payload.rid, card: 'AB12', text: '\u00e9', ts: 5, who: 'patient', user: '' });
  assert.equal(N.notePayload({ ...ctx(''), who: 'account', user: 'dr.amal' }, 'x', 1).user, 'dr.amal');
  assert.equal(N.notePayload({ ...ctx(''), user: 'sneaky' }, 'x', 1).user, '');
  assert.throws(() => N.notePayload({ ...ctx(''), who: 'admin' }, 'x', 1), TypeError);
  assert.equal(N.checkNote(C, N.notePayload(ctx(''), ' \n ', 1)), 'note.err.empty');
  assert.equal(N.checkNote(C, N.notePayload(ctx(''), 'x'.repeat(4000), 1)), null);
  assert.equal(N.checkNote(C, N.notePayload(ctx(''), 'x'.repeat(4001), 1)), 'note.err.long');
  // Arabic is two bytes a letter: the payload byte limit stops it first.
  assert.equal(N.checkNote(C, N.notePayload(ctx(''), 'س'.repeat(2500), 1)), null);
  assert.equal(N.checkNote(C, N.notePayload(ctx(''), 'س'.repeat(2600), 1)), 'note.err.long');
  assert.equal(N.charsLeft('😀ab'), 3997); // code points, as the clinic counts
});

test('a saved note is sealed, signed and posted as JSON', async () => {
  const ep = await endpoint(() => [201, { id: 'ab'.repeat(16) }]);
  try {
    const res = await N.sendNote(ctx(ep.url), 'شكراً — thank you', { now: () => 1795000000123 });
    assert.deepEqual(res, { ok: true, id: 'ab'.repeat(16) });
    const [{ note, payload, ok, type }] = ep.seen;
    assert.ok(ok, 'signature verifies with the door note_pk');
    assert.equal(type, 'application/json');
    assert.deepEqual(Object.keys(note).sort(), ['clinic', 'door', 'sealed', 'sig', 'ts', 'v']);
    assert.equal(note.ts, 1795000000);
    assert.deepEqual(payload, { ...V.payload });
    assert.ok(!JSON.stringify(note).includes('thank'), 'the text travels sealed only');
  } finally { ep.close(); }
});

test('a wrong device clock: signed again once with the endpoint time', async () => {
  const ep = await endpoint((note, _p, n) => (n === 1 ? [400, { error: 'stale', now: 1795000000 }] : [201, { id: 'cd'.repeat(16) }]));
  try {
    const res = await N.sendNote(ctx(ep.url), 'hi', { now: () => 0 });
    assert.deepEqual(res, { ok: true, id: 'cd'.repeat(16) });
    assert.deepEqual(ep.seen.map((s) => [s.note.ts, s.payload.ts, s.ok]), [[0, 0, true], [1795000000, 1795000000, true]]);
    assert.notEqual(ep.seen[0].note.sig, ep.seen[1].note.sig);
  } finally { ep.close(); }
  const always = await endpoint(() => [400, { error: 'stale', now: 5 }]);
  try {
    assert.deepEqual(await N.sendNote(ctx(always.url), 'hi'), { ok: false, key: 'note.err.clock', reason: 'stale' });
    assert.equal(always.seen.length, 2);
  } finally { always.close(); }
});

test('refusals become messages; a replay of our own note counts as saved', async () => {
  const cases = [
    [[409, { error: 'replay' }], { ok: true, id: null }],
    [[429, { error: 'too many notes' }], { ok: false, key: 'note.err.busy', reason: 'too many notes' }],
    [[404, { error: 'unknown door' }], { ok: false, key: 'note.err.old', reason: 'unknown door' }],
    [[403, { error: 'bad signature' }], { ok: false, key: 'note.err.refused', reason: 'bad signature' }],
    [[502, 'gateway'], { ok: false, key: 'note.err.busy', reason: 'HTTP 502' }],
  ];
  for (const [answer, want] of cases) {
    const ep = await endpoint(() => answer);
    try { assert.deepEqual(await N.sendNote(ctx(ep.url), 'x'), want); } finally { ep.close(); }
  }
  assert.deepEqual(await N.sendNote(ctx('http://127.0.0.1:9/v1/notes'), 'x'), { ok: false, key: 'note.err.network' });
  assert.deepEqual(await N.sendNote(ctx('http://127.0.0.1:9/v1/notes'), '   '), { ok: false, key: 'note.err.empty' });
});
