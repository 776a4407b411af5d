// The packed form of a shard's rows (packed_rows.js) and the list's orders over it
// (list_rows.js): the sort key orders exactly as compareRows (rules.js) on hostile strings,
// packing keeps every value a later check reads, and rows arriving out of order, in any
// batches, end in compareRows' order.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { F, FIELDS, field, pack, sortKey, unpack } from '../../site_templates/static/js/packed_rows.js';
import { compareRows, ListRows } from '../../site_templates/static/js/list_rows.js';

let seed = 11;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
// Code units that decide orders: U+0000 and U+0001 (the key's own separators), U+FFFF, a
// lone and a paired surrogate, letters around them.
const UNITS = ['\0', '\u0001', '\u0002', 'a', 'b', 'A', '\uFFFF', '\uD83D', '\uDE00', '\u{1F600}', 'ب', ' '];
const text = (max) => Array.from({ length: Math.floor(rnd() * (max + 1)) }, () => UNITS[Math.floor(rnd() * UNITS.length)]).join('');
const row = (s0, s1, card, rid, extra = {}) => ({
  rid, card, search: `${s0} ${s1}`, sort: [s0, s1], html: `<span>${card}</span>`, bundle: 'obj/b.bin', ck: 'key', ...extra,
});
const randomRow = () => row(text(3), text(3), text(2), text(2));
const sign = (x) => Math.sign(x);
const keyCmp = (a, b) => {
  const x = sortKey(a.sort[0], a.sort[1], a.card, a.rid);
  const y = sortKey(b.sort[0], b.sort[1], b.card, b.rid);
  return x < y ? -1 : x > y ? 1 : 0;
};
const packed = (rows, shard = 0) => pack({ v: 2, db: 'main', shard, rows });

test('the sort key orders every pair as compareRows does, U+0000 and prefixes included', () => {
  const rows = Array.from({ length: 400 }, randomRow);
  // pairs that differ only around a separator: a part ending where another goes on with U+0000 or U+0001
  rows.push(row('a', '', '', ''), row('a\0', '', '', ''), row('a\0\u0001', '', '', ''), row('a', '\0', '', ''),
    row('a', '\u0001', '', ''), row('a\u0001', '', '', ''), row('', '', '\0', ''), row('', '', '', '\0'), row('a', 'b', 'c', 'd'));
  for (const a of rows) for (const b of rows) assert.equal(sign(keyCmp(a, b)), sign(compareRows(a, b)), JSON.stringify([a.sort, a.card, a.rid, b.sort, b.card, b.rid]));
});

test('packing keeps each field, and a bundle or ck that is not text as it was', () => {
  const rows = [row('haddad', 'amal', 'A1', '0'.repeat(32)), row('x', 'y', 'c', '1'.repeat(32), { bundle: ['obj/b.bin'] }),
    row('ب', 'سامي', '\0', '2'.repeat(32), { ck: 7 }), row('', '', '', '3'.repeat(32), { bundle: undefined })];
  delete rows[3].bundle;
  const p = packed(rows, 5);
  assert.deepEqual([p.v, p.db, p.shard, p.n], [2, 'main', 5, 4]);
  assert.equal(p.ends.length, 4 * FIELDS.length);
  assert.equal(p.search[0], 'haddad amal');
  assert.equal(p.flat[0], 'haddadamal');
  assert.equal(p.keys[0], sortKey('haddad', 'amal', 'A1', '0'.repeat(32)));
  assert.equal(field(p, 2, F.html), '<span>\0</span>');
  assert.deepEqual(unpack(p, 0), rows[0]);
  assert.deepEqual(unpack(p, 1).bundle, ['obj/b.bin']); // not turned into the text it would print as
  assert.equal(unpack(p, 2).ck, 7);
  assert.ok('bundle' in unpack(p, 3) && unpack(p, 3).bundle === undefined);
  const clone = structuredClone(p, { transfer: [p.ends.buffer] }); // as the worker posts it
  assert.deepEqual(unpack(clone, 2), { ...rows[2] });
});

test('rows arriving out of order, in batches, end in compareRows order', () => {
  for (let round = 0; round < 30; round += 1) {
    const list = new ListRows();
    const all = [];
    const shards = 1 + Math.floor(rnd() * 10);
    for (let s = 0; s < shards; s += 1) {
      const batch = Array.from({ length: Math.floor(rnd() * 40) }, randomRow);
      if (rnd() < 0.5) batch.sort(compareRows).reverse(); // a writer's order is not trusted
      list.add(packed(batch, s));
      all.push(...batch);
      if (rnd() < 0.5) list.flush();
    }
    list.flush();
    const got = list.order('default').ids.map((i) => list.row(i));
    const want = all.slice().sort(compareRows);
    for (let k = 1; k < got.length; k += 1) assert.ok(compareRows(got[k - 1], got[k]) <= 0);
    assert.deepEqual(got.map((r) => [r.sort, r.card, r.rid]), want.map((r) => [r.sort, r.card, r.rid]));
    if (got.length) assert.equal(list.html(list.order('default').ids[0]), got[0].html);
  }
});

test('a row id out of range is no row', () => {
  const list = new ListRows();
  list.add(packed([randomRow()]));
  assert.equal(list.row(1), null);
  assert.equal(list.row(-1), null);
  assert.equal(list.row(Number.NaN), null);
  assert.ok(list.row(0));
});
