// crypto.js against every committed vector in tests/vectors/ (Python checks the same files;
// tests/test_crypto_browser.py runs the same checks in Chromium).
// Run: node --test tests/js/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as C from '../../site_templates/static/js/crypto.js';
import * as R from '../../site_templates/static/js/rules.js';
import { VECTOR_FILES, vectorChecks } from './vector_checks.mjs';

const VEC = new URL('../vectors/', import.meta.url);
const vectors = Object.fromEntries(VECTOR_FILES.map((f) => [f, JSON.parse(readFileSync(new URL(f, VEC), 'utf8'))]));

await C.init();

const checks = vectorChecks(C, vectors, R);

test('the vectors cover every construction and the negative cases', () => {
  const names = checks.map((c) => c.name).join('\n');
  for (const want of ['labels', 'derive door', 'door patient', 'door general', 'door entry', 'door account',
    'body bundle', 'body index', 'body diary', 'note:', 'refused (auth)', 'refused (format)', 'normalize search',
    'rule: base64', 'rule: site.json kdf', 'rule: a door has', 'rule: door payloads', 'rule: a bundle', 'rule: the diary', 'rule: an index root',
    'rule: an index shard', 'index shard keys', 'index shard refused', 'index shard opens', 'body index-shard']) {
    assert.ok(names.includes(want), want);
  }
  assert.ok(vectors['negative.json'].cases.length >= 40);
});

for (const { name, run } of checks) test(name, run);

test('init accepts the instance, the namespace, or a specifier', async () => {
  const ns = await import('libsodium-wrappers-sumo');
  assert.equal(await C.init(ns), ns.default);
  assert.equal(await C.init(ns.default), ns.default);
  assert.equal(await C.init('libsodium-wrappers-sumo'), ns.default);
  await assert.rejects(C.init({}), TypeError);
  await assert.rejects(C.init({ ready: Promise.resolve() }), /Argon2id/);
  await C.init(ns.default);
});

test('bad inputs are FormatErrors, checked before libsodium runs', () => {
  assert.throws(() => C.label('x', 1.5), C.FormatError);
  assert.throws(() => C.label('x', null), C.FormatError);
  assert.throws(() => C.label('', 'a'), C.FormatError);
  assert.throws(() => C.passwordBytes('a', 1), C.FormatError);
  assert.throws(() => C.entryId(new Uint8Array(31), 'AB12'), C.FormatError);
  assert.throws(() => C.deriveDoor('pw', new Uint8Array(16), { ops: 1, mem: 8192 }), C.FormatError);
  assert.throws(() => C.deriveDoor(new Uint8Array(2), new Uint8Array(16), { ops: 1.5, mem: 8192 }), C.FormatError);
  assert.throws(() => C.checkKdf({ alg: 'argon2id13', ops: true, mem: 8192 }), C.FormatError);
  assert.throws(() => C.b64d(null), C.FormatError);
  assert.throws(() => C.b64d('AAAA', 4), C.FormatError);
  assert.throws(() => C.canonicalJson({ a: NaN }), C.FormatError);
  assert.throws(() => C.sealNote(new Uint8Array(31), {}), C.FormatError);
  assert.throws(() => C.signNote(new Uint8Array(32), new Uint8Array(1)), C.FormatError);
  assert.throws(() => C.noteSignedBytes('1', 'd', 1.5, new Uint8Array(1)), C.FormatError);
});

test('every byte of a small door and a small body is authenticated', async () => {
  const chain = vectors['chain.json'];
  const door = chain.doors[0];
  const key = C.b64d(door.door_key);
  const text = new TextEncoder().encode(door.json);
  for (let i = 0; i < text.length; i += 1) {
    const bad = text.slice();
    bad[i] ^= 0x01;
    assert.throws(() => C.openDoor(key, chain.clinic, door.door_id, bad), (e) => e instanceof C.FormatError || e instanceof C.AuthError, `door byte ${i}`);
  }
  const body = chain.bodies.find((b) => b.kind === 'diary');
  const raw = C.b64d(body.body);
  const ad = C.diaryAd(...body.ad_parts);
  for (let i = 0; i < raw.length; i += 1) {
    const bad = raw.slice();
    bad[i] ^= 0x01;
    await assert.rejects(C.openBody(C.b64d(body.key), bad, ad), C.AuthError, `body byte ${i}`);
  }
});

test('errors are exactly the two classes', () => {
  assert.ok(new C.FormatError('x') instanceof Error);
  assert.equal(new C.AuthError('x').name, 'AuthError');
  assert.ok(!(new C.AuthError('x') instanceof C.FormatError));
});
